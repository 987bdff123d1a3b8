"""Findings, numbers for people and the run page, on notebooks built here (no kernel)."""

from __future__ import annotations

import re

import nbformat
import pandas as pd
import pytest

from mlmon_nb.findings import FINDING_MIME, Finding, Stat, graph_link, read_findings, verdict_card
from mlmon_nb.humanize import fmt, fmt_count, fmt_duration, fmt_ratio
from mlmon_nb.runbooks import RUN_CSS, SUMMARY_MIME, run_body, run_page

PNG = bytes.fromhex("89504e470d0a1a0a") + b"chart-bytes"


@pytest.mark.parametrize("value,kind,text", [
    (431577.0, "count", "431,577"), (0.0219, "ratio", "2.19%"), (0.27, "ratio", "27%"),
    (0.9, "ratio", "90%"), (372, "seconds", "6m 12s"), (0.2512, "seconds", "251 ms"),
    (3600, "seconds", "1h"), (float("nan"), "number", "—"), (None, "ratio", "—"),
    (0.903124, "number", "0.903"), (4.93, "rate", "4.93/s"),
    (0.0034, "rate", "0.204/min"), (0.000105, "rate", "0.378/h"), (0.0, "rate", "0/s"),
    (0.000105, "number", "1.05e-4"), (-0.0004, "number", "-4e-4"), (True, "number", "yes"),
    (0.00103, "number", "0.00103"), (0.0079, "number", "0.0079"),
])
def test_numbers_read_like_people_write_them(value, kind, text):
    assert fmt(value, kind) == text


def test_durations_and_counts_have_no_float_noise():
    assert fmt_duration(15) == "15s" and fmt_duration(86400 * 2 + 3600 * 5) == "2d 5h"
    assert fmt_count(12.0) == "12" and fmt_ratio(0) == "0%"


def finding(name: str, interesting: bool, **kw) -> Finding:
    return Finding(name, interesting, f"{name} message", [Stat("error ratio", 0.274, "ratio",
                                                               19086, "requests")], **kw)


def notebook(summary: dict | None, findings: list[Finding]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("inv.find_onset(signal);")
    code.outputs = [nbformat.v4.new_output("display_data", data=f.bundle()) for f in findings]
    cells = [code]
    if summary is not None:
        verdict = nbformat.v4.new_code_cell("inv.conclude(signal);")
        verdict.outputs = [nbformat.v4.new_output("display_data", data={
            SUMMARY_MIME: summary, "text/plain": summary["verdict"]})]
        cells.append(verdict)
    nb.cells = cells
    return nb


def roundtrip(nb, tmp_path):
    nbformat.write(nb, tmp_path / "nb.ipynb")
    return nbformat.read(tmp_path / "nb.ipynb", as_version=4)


def test_a_finding_survives_the_notebook_with_its_table_in_order(tmp_path):
    rows = [{"measure": "error ratio", "since onset": "25.6%", "change": "×112"}]
    f = finding("Against the days before", True, chart=PNG, promql="sum(rate(x[5m]))",
                link="http://p/graph?g0.expr=x", rows=rows)
    back = read_findings(roundtrip(notebook(None, [f]), tmp_path))
    assert back == [f]
    assert list(back[0].rows[0]) == ["measure", "since onset", "change"]
    assert back[0].stats[0].sample == "n = 19,086 requests"


def test_the_run_page_puts_the_verdict_first_and_interesting_findings_before_quiet_ones(tmp_path):
    summary = {"verdict": "Error ratio is 27.4% <script>alert(1)</script>", "status": "firing",
               "severity": "critical", "alertname": "HighErrorRate", "model": "m",
               "tiles": [{"label": "error ratio now", "value": "27.4%", "detail": "threshold 5%"}],
               "onset": {"time": "2026-11-28T13:36:54+00:00", "uncertainty": 30.0},
               "next": "read the logs", "numbers": {"x": None}}
    nb = roundtrip(notebook(summary, [finding("Deploys and baselines", False),
                                      finding("When it started", True, chart=PNG)]), tmp_path)
    body = run_body(nb)
    assert body.startswith('<div class="mlmon-run">')
    assert "<script" not in body and "&lt;script&gt;" in body  # text escaped, never run
    verdict, found, quiet, code = (body.index("mlmon-verdict"), body.index("When it started"),
                                   body.index("Deploys and baselines"),
                                   body.index("mlmon-notebook"))
    assert verdict < found < quiet < code
    assert 'class="mlmon-verdict critical firing"' in body
    assert body.count("data:image/png;base64,") == 1  # the chart once, not again in the notebook
    assert "find_onset" in body[code:]  # the code, folded
    assert "since 2026-11-28 13:36:54 UTC ±30s" in body and "Next:" in body
    text = re.sub(r"<[^>]+>", " ", body)
    assert "nan" not in text.split() and "{'" not in text


@pytest.mark.parametrize("status,severity,tone", [
    ("firing", "critical", "critical"), ("firing", "warning", "warning"),
    ("firing", "", "critical"), ("resolved", "critical", "ok"), ("no_data", "critical", "unknown"),
])
def test_the_verdict_is_coloured_by_state_and_severity_never_green_while_firing(status, severity,
                                                                                tone):
    card = verdict_card({"verdict": "v", "status": status, "severity": severity})
    assert f"mlmon-verdict {tone} {status}" in card
    if status == "firing":
        assert " ok " not in card


def test_a_run_without_verdict_says_so_and_opens_the_notebook(tmp_path):
    body = run_body(roundtrip(notebook(None, []), tmp_path))
    assert "recorded no verdict." in body and "<details class=\"mlmon-notebook\" open" in body


def test_the_standalone_page_is_complete_and_styled():
    page = run_page('<div class="mlmon-run"><p>x</p></div>', "HighErrorRate · m")
    assert page.startswith("<!doctype html>") and "</html>" in page
    assert f"<style>{RUN_CSS}" in page and "max-width:100%" in RUN_CSS
    assert "<title>HighErrorRate · m</title>" in page


def test_graph_links_open_prometheus_on_the_window():
    link = graph_link("http://127.0.0.1:9090/", 'sum(rate(x{a="b"}[5m]))',
                      "2026-01-01T10:00:00Z", "2026-01-01T11:30:00Z")
    assert link.startswith("http://127.0.0.1:9090/graph?g0.expr=sum%28rate%28x%7Ba%3D%22b%22")
    assert "g0.tab=0" in link and "g0.range_input=90m" in link
    assert "g0.end_input=2026-01-01+11%3A30%3A00" in link


def test_finding_outputs_carry_json_and_a_card_for_jupyterlab():
    bundle = finding("When it started", True, chart=PNG).bundle()
    assert set(bundle) == {FINDING_MIME, "text/html", "text/plain"}
    assert bundle[FINDING_MIME]["interesting"] is True
    assert "mlmon-finding interesting" in bundle["text/html"]


def test_ratios_and_bands_read_inside_the_signals_domain():
    from mlmon_nb.findings.record import _factor_text
    from mlmon_nb.investigate.onset_search import band_range, domain
    from mlmon_nb.onset import Band
    assert [_factor_text(n, 1.0) for n in (40.0, 3.24, 0.5, 0.004, 0.0)] == \
        ["×40", "×3.2", "×0.5", "×0.004", "none now"]  # never ×0.0, never negative
    band = Band(median=0.0, scale=0.015, n=300)  # an error ratio mostly at 0
    assert band.low < 0 and band_range(band, "ratio") == "0%–6% (median 0%)"
    assert domain("ratio") == (0.0, 1.0) and domain("rate") == (0.0, None)
    assert domain("number") == (None, None)
    # a drift statistic (KS, PSI) is never negative: its band reads from 0, not "-0.94–0.975"
    ks = Band(median=0.0177, scale=0.32, n=2889)
    assert domain("score") == (0.0, None) and band_range(ks, "score").startswith("0–")


def test_the_incident_chart_keeps_a_ratio_axis_at_or_above_zero_and_names_its_bars():
    import matplotlib.colors

    from mlmon_nb import plots
    idx = pd.date_range("2026-01-01", periods=60, freq="15s", tz="UTC")
    ratio = pd.Series([0.0] * 40 + [0.3] * 20, index=idx)
    requests = pd.Series([300.0] * 60, index=idx)
    fig = plots.incident(ratio, "error ratio", percent=True, threshold=0.05,
                         band=(-0.06, 0.06), sample=requests, sample_label="requests per minute")
    ax, bars = fig.axes[0], fig.axes[1]
    assert ax.get_ylim()[0] >= 0  # the error-ratio axis never below 0%
    assert bars.get_ylabel() == "requests per minute"
    colour = matplotlib.colors.to_hex(bars.patches[0].get_facecolor(), keep_alpha=False)
    assert colour == plots.SAMPLE_COLOR and colour != "#8a8f98"  # not the band's grey
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"normal band", "threshold", "requests per minute"} <= set(legend), legend


def test_a_column_of_rates_reads_in_one_unit():
    from mlmon_nb.humanize import fmt_rate, rate_unit
    column = [1.43, 0.013, 0.0]  # 1.43/s next to 0.782/min read alone
    assert fmt_rate(0.013) == "0.78/min" and fmt_rate(1.43) == "1.43/s"
    unit = rate_unit(*column)
    assert unit == "s" and [fmt(v, "rate", unit) for v in column] == ["1.43/s", "0.013/s", "0/s"]
    assert rate_unit(0.002, 0.0001) == "min" and rate_unit(1e-5) == "h"
    assert fmt_rate(float("nan")) == "—" and rate_unit() == "s"


def test_a_value_and_its_threshold_read_in_one_unit():
    from mlmon_nb.humanize import fmt_pair
    assert fmt_pair(0.05, 0.5, "rate") == ("0.05/s", "0.5/s")  # not "3/min" beside "0.5/s"
    assert fmt_pair(0.001, 0.002, "rate") == ("0.06/min", "0.12/min")
    assert fmt_pair(0.07, 0.05, "ratio") == ("7%", "5%")


def test_a_failed_run_page_is_one_line_with_the_traceback_folded(tmp_path):
    nb = notebook(None, [])
    nb.cells.append(nbformat.v4.new_code_cell("raise", outputs=[nbformat.v4.new_output(
        "error", ename="PrometheusUnreachable", evalue="Prometheus is unreachable at "
        "http://127.0.0.1:1", traceback=["line"] * 400)]))
    body = run_body(roundtrip(nb, tmp_path), error="PrometheusUnreachable: unreachable")
    assert "The runbook recorded no verdict: PrometheusUnreachable: unreachable" in body
    assert "folded: open it for the traceback" in body
    assert re.search(r'<details class="mlmon-notebook">', body)  # folded, not open
    assert 'class="mlmon-notebook" open' not in body


def test_a_range_with_no_points_is_an_empty_series_of_utc_times():
    # a fresh service's first minutes: the onset search cuts the series at a time, and an
    # untyped empty index raised "'<' not supported between 'numpy.ndarray' and 'Timestamp'"
    import pandas as pd

    from mlmon_nb.findings.record import _one
    from mlmon_nb.prom import empty_frame
    series = _one(empty_frame(["model_name"]))
    cut = pd.Timestamp("2026-12-04T12:00:00Z")
    assert series[series.index < cut].empty and str(series.index.tz) == "UTC"
