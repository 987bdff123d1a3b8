"""Named queries against the fixture history, and the pure helpers."""

from __future__ import annotations

import pandas as pd
import pytest
from web_pages_support import known_web_pages, opens

from mlmon_nb import Prometheus, promql
from mlmon_nb import queries as q
from mlmon_nb.context import resolve_window
from mlmon_nb.findings import graph_link
from mlmon_nb.stack.lifecycle import free_port


def test_resolve_window_defaults_and_explicit():
    now = pd.Timestamp("2024-05-01T12:00:00.700Z")
    w = resolve_window(window="6h", now=now)
    assert (w.start, w.end) == (pd.Timestamp("2024-05-01T06:00:00Z"), pd.Timestamp("2024-05-01T12:00:00Z"))
    assert w.step == 60 and w.rate == "75s" and w.duration == "6h"
    w = resolve_window("2024-05-01T00:00:00Z", "2024-05-08T00:00:00Z", step="", now=now)
    assert w.step == 1800 and w.seconds / w.step <= 400
    assert resolve_window(end="now-1h", window="30m", step="15s", now=now).rate == "1m"
    with pytest.raises(ValueError, match="window"):
        resolve_window(window="six hours", now=now)
    with pytest.raises(ValueError, match="empty"):
        resolve_window(start="now", end="now-1h", now=now)


def test_a_notebook_reads_sparse_samples_at_their_own_interval(history, prometheus):
    """The configuration says 15 s scrapes; the history has a sample a minute. A notebook's
    rate ranges sized from the configuration hold one sample at most steps and chart gaps;
    sized from the samples (measured once, at the window's end), every step has its rate."""
    from dataclasses import replace

    from mlmon_nb.context import notebook_context
    config = replace(history.config, prometheus_url=prometheus)
    assert config.stack.scrape_interval_seconds == 15.0 and history.step == 60.0
    # an end between two samples, as "now" is
    end = pd.Timestamp(history.end - 3600 + 30, unit="s", tz="UTC").isoformat()

    def rates(ctx) -> pd.DataFrame:
        return ctx.prom.range(q.request_rate(ctx.model_name, ctx.window.rate), *ctx.window.range)

    sized = notebook_context(history.model_name, end=end, window="6h", config=config)
    assert sized.window.scrape_interval == 60.0 and sized.window.rate == "4m", sized.window
    points = len(rates(sized))
    assert points == sized.window.seconds / sized.window.step + 1, points  # not one missing

    configured = notebook_context(history.model_name, end=end, window="6h", config=config,
                                  measure_interval=False)
    assert configured.window.rate == "75s"
    assert len(rates(configured)) < points / 2  # the gaps the measurement closes

    # no answer to measure with: the configured interval stands, and nothing is raised here
    down = replace(config, prometheus_url=f"http://127.0.0.1:{free_port()}")
    assert notebook_context(history.model_name, end=end, config=down).window.scrape_interval == 15


def test_buckets_to_bins():
    frame = pd.DataFrame({"le": ["0.5", "1", "+Inf"], "value": [2.0, 6.0, 8.0]})
    bins = q.buckets_to_bins(frame)
    assert bins["count"].tolist() == [2.0, 4.0, 2.0]
    assert bins["upper"].tolist()[-1] == float("inf") and bins["share"].sum() == pytest.approx(1)


def test_selector_escapes_label_values():
    assert promql.selector("m", a='x"y\\z') == 'm{a="x\\"y\\\\z"}'


def test_incidents_show_in_the_named_queries(backend, history):
    prom, name = Prometheus(backend.url), history.model_name
    errors_start, errors_end = history.incidents["errors"]
    lat_start, lat_end = history.incidents["latency"]
    during = prom.scalar(q.error_ratio(name, "5m"), errors_end - 60)
    before = prom.scalar(q.error_ratio(name, "5m"), errors_start - 3600)
    assert during > 0.05 > before
    slow = prom.scalar(q.latency_quantile(0.95, name, "5m"), lat_end - 60)
    usual = prom.scalar(q.latency_quantile(0.95, name, "5m"), lat_start - 3600)
    assert slow > 1.5 * usual
    shares = prom.query(q.class_share(name, "1h"), history.end - 60)
    assert shares["value"].sum() == pytest.approx(1.0)
    acc = prom.query(q.accuracy(name, "6h", by=["segment"]), history.end - 60)
    assert set(acc["segment"]) == {"web", "mobile", "api", "email"}
    assert acc["value"].between(0, 1).all()


def test_increase_extrapolates_on_prometheus_only(backend, history):
    """The documented difference: Prometheus extrapolates rate()/increase() from the samples
    inside the window to its edges; VictoriaMetrics (MetricsQL) takes the exact difference from
    the last sample before the window, so an increase of a counter is a whole number of events."""
    prom = Prometheus(backend.url)
    counter = 'ml_requests_total{endpoint="/predict"}'
    t = history.end - 3600 - 30  # between two samples (history step: 60 s)
    at = {minutes: prom.scalar(counter, t - 60 * minutes) for minutes in (0, 9, 10)}
    increase = prom.scalar(f"increase({counter}[10m])", t)
    if backend.name == "victoriametrics":
        assert increase == at[0] - at[10] and float(increase).is_integer()
    else:  # nine minutes of samples, stretched over ten: more than the samples themselves show
        grown = at[0] - at[9]
        assert grown > 0
        assert increase == pytest.approx(grown * 10 / 9)
        assert increase > grown


def _model_queries(model: str) -> dict[str, str]:
    """Every query of queries.py and of the drift explorer that takes a model, for ``model``."""
    import inspect

    from mlmon_nb.drift.expressions import (
        category_counts_query,
        confidence_buckets_query,
        feature_buckets_query,
    )
    out = {}
    for name in q.__all__:
        fn = getattr(q, name)
        if not callable(fn) or "model_name" not in inspect.signature(fn).parameters:
            continue
        made = fn(0.95, model) if name == "latency_quantile" else fn(model)
        for key, text in (made.items() if isinstance(made, dict) else [(name, made)]):
            out[key] = text
    for fn in (feature_buckets_query, confidence_buckets_query, category_counts_query):
        out[fn.__name__] = fn(model)
    return out


def test_every_model_query_reads_that_model_only():
    """A fleet of a hundred models: each query of a model's metrics names the model in every
    selector, so a notebook of one model never loads the others' series."""
    import re
    queries = _model_queries("model_042")
    assert {"request_rate", "accuracy", "class_share", "p95", "feature_buckets_query"} <= set(queries)
    for name, text in queries.items():
        selectors = re.findall(r"\b(ml_\w+)(\{[^}]*\})?", text)
        assert selectors, (name, text)
        for metric, labels in selectors:
            assert 'model_name="model_042"' in labels, (name, metric, text)


def test_model_names_is_one_series_per_model():
    assert q.model_names() == "group by (model_name) (ml_model_info)"


def test_graph_links_only_where_the_graph_page_is_served(backend, history):
    """Findings link to Prometheus's graph page; a server without that page (Debian's
    VictoriaMetrics, a Prometheus built without its web UI) gets no link that would not open."""
    served = Prometheus(backend.url).serves_page("/graph")
    known = known_web_pages(backend.url)
    if known is not None:  # the builds the suite installs: pinned
        assert served == known.graph, (backend.name, known)
    link = graph_link(backend.url, "up", history.end - 3600, history.end)
    assert opens(link) == served, link
    assert not Prometheus(f"http://127.0.0.1:{free_port()}").serves_page("/graph")
