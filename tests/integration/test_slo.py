"""SLO compliance, error budgets and burn rates: pure statistics, then against a real Prometheus
over the backfilled demo history (its incidents are where the SLOs must be violated)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mlmon_nb import slo
from mlmon_nb.errors import QueryArgumentError

# -- pure ---------------------------------------------------------------------------------------

def test_budget_and_burn_rate():
    assert slo.error_budget_remaining(0.0, 0.99) == 1.0
    assert slo.error_budget_remaining(0.005, 0.99) == pytest.approx(0.5)
    assert slo.error_budget_remaining(0.02, 0.99) == pytest.approx(-1.0)  # overspent
    assert slo.burn_rate(0.144, 0.99) == pytest.approx(14.4)
    assert math.isnan(slo.error_budget_remaining(float("nan"), 0.99))


def test_status():
    assert slo.status(0.995, 0.995) == slo.MEETING
    assert slo.status(0.9949, 0.995) == slo.VIOLATING
    assert slo.status(float("nan"), 0.995) == slo.NO_DATA


def test_slo_result_without_events_is_no_data():
    result = slo.slo_result("availability", 0.995, 0.0, 0.0)
    assert result.status == slo.NO_DATA and result.events == 0 and math.isnan(result.sli)
    result = slo.slo_result("availability", 0.995, 3.0, 1000.0)
    assert result.sli == pytest.approx(0.997) and result.status == slo.MEETING
    assert result.budget_remaining == pytest.approx(0.4)


def test_burn_down_is_cumulative_and_traffic_weighted():
    idx = pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC")
    total = pd.Series([1000.0, 1000.0, 10.0, 1000.0], idx)
    bad = pd.Series([0.0, 10.0, 10.0, 0.0], idx)
    left = slo.burn_down(bad, total, 0.99)
    # budget = 1% of events so far: 0/1000, 10/2000, 20/2010, 20/3010
    expected = [1.0, 1 - 0.005 / 0.01, 1 - (20 / 2010) / 0.01, 1 - (20 / 3010) / 0.01]
    assert left.to_list() == pytest.approx(expected)


def test_month_bounds_clip_to_the_range():
    start, end = pd.Timestamp("2024-01-20", tz="UTC"), pd.Timestamp("2024-03-05", tz="UTC")
    bounds = slo.month_bounds(start, end)
    assert [(a.strftime("%m-%d"), b.strftime("%m-%d")) for a, b in bounds] == [
        ("01-20", "02-01"), ("02-01", "03-01"), ("03-01", "03-05")]


# -- from Prometheus ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model(history):
    return history.config.model(history.model_name)


def ts(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(int(seconds), unit="s", tz="UTC")


def by_slo(frame: pd.DataFrame) -> dict[str, dict]:
    return {row["slo"]: row for row in frame.to_dict("records")}


def test_incidents_violate_their_slo_and_quiet_hours_meet_it(prom, model, history):
    quiet = by_slo(slo.compliance_from(prom, model, ts(history.start + 3600),
                                       ts(history.start + 4 * 3600)))
    assert quiet["availability"]["status"] == slo.MEETING
    assert quiet["latency"]["status"] == slo.MEETING
    assert quiet["throughput"]["status"] == slo.MEETING
    a, b = history.incidents["errors"]
    errors = by_slo(slo.compliance_from(prom, model, ts(a), ts(b)))
    assert errors["availability"]["status"] == slo.VIOLATING
    assert errors["availability"]["budget_remaining"] < -10  # 30% errors against a 0.5% budget
    a, b = history.incidents["latency"]
    slow = by_slo(slo.compliance_from(prom, model, ts(a), ts(b)))
    assert slow["latency"]["status"] == slo.VIOLATING
    assert slow["availability"]["status"] == slo.MEETING


def test_compliance_is_traffic_weighted(prom, model, history):
    # the SLI of a period is the event-weighted mean of its parts' SLIs, not their plain mean
    # parts: the quiet time before the error burst, the burst itself (short, SLI ~0.7), and the
    # quiet time after it, so a plain mean of the parts is far from the traffic-weighted one
    t0, t3 = history.start + 3600, history.end
    t1, t2 = history.incidents["errors"]
    whole = by_slo(slo.compliance_from(prom, model, ts(t0), ts(t3)))["availability"]
    parts = [by_slo(slo.compliance_from(prom, model, ts(x), ts(y)))["availability"]
             for x, y in ((t0, t1), (t1, t2), (t2, t3))]
    weighted = sum(p["sli"] * p["events"] for p in parts) / sum(p["events"] for p in parts)
    plain = sum(p["sli"] for p in parts) / len(parts)
    assert whole["events"] == pytest.approx(sum(p["events"] for p in parts), rel=0.01)
    assert whole["sli"] == pytest.approx(weighted, abs=5e-4)
    assert abs(whole["sli"] - plain) > 0.05


def test_compliance_matches_increase_of_the_raw_counters(prom, model, history):
    start, end = ts(history.start + 3600), ts(history.end)
    seconds = int((end - start).total_seconds())
    sel = f'{{model_name="{model.name}"}}'
    errors = prom.scalar(f"sum(increase(ml_errors_total{sel}[{seconds}s]))", end)
    requests = prom.scalar(f"sum(increase(ml_requests_total{sel}[{seconds}s]))", end)
    row = by_slo(slo.compliance_from(prom, model, start, end))["availability"]
    assert row["events"] == pytest.approx(requests, rel=1e-6)
    assert row["sli"] == pytest.approx(1 - errors / requests, rel=1e-6)


def test_burn_rates_page_during_the_error_burst_only(prom, model, history):
    a, b = history.incidents["errors"]
    during = slo.burn_rates_from(prom, model, ts(b - 60))
    page = during[(during.slo == "availability") & (during.long_window == "1h")].iloc[0]
    assert page.firing and page.burn_short > 14.4 and page.severity == "critical"
    quiet = slo.burn_rates_from(prom, model, ts(history.start + 4 * 3600))
    assert not quiet[quiet.slo == "availability"].firing.any()
    # the accuracy SLO has no 14.4x page: it could never fire with a 15% budget
    assert set(quiet[quiet.slo == "accuracy"].long_window) == {"6h", "1d", "3d"}


def test_burn_down_drops_across_the_error_burst(prom, model, history):
    start, end = ts(history.start), ts(history.end)
    down = slo.burn_down_from(prom, model, start, end, "10m")  # seconds or a duration
    assert down.equals(slo.burn_down_from(prom, model, start, end, 600))
    avail = down[down.slo == "availability"].set_index("timestamp")["value"]
    a, b = history.incidents["errors"]
    before = avail[avail.index < ts(a)].iloc[-1]
    after = avail[avail.index > ts(b + 600)].iloc[0]
    assert before - after > 0.5
    final = by_slo(slo.compliance_from(prom, model, start, end))["availability"]
    assert avail.iloc[-1] == pytest.approx(final["budget_remaining"], abs=0.1)


def test_monthly_table_covers_the_range(prom, model, history):
    start, end = ts(history.start), ts(history.end)
    table = slo.monthly_from(prom, model, start, end)
    months = sorted({m for m in table.month})
    assert months == sorted({start.strftime("%Y-%m"), end.strftime("%Y-%m")})
    assert set(table.slo) == {"latency", "availability", "accuracy", "throughput"}
    whole = by_slo(slo.compliance_from(prom, model, start, end))["availability"]
    assert table[table.slo == "availability"].events.sum() == pytest.approx(whole["events"],
                                                                           rel=0.01)


def test_a_range_that_ends_before_it_starts_is_refused_alike(prom, model, history):
    start, end = ts(history.end), ts(history.start)
    for report in (slo.compliance_from, slo.monthly_from,
                   lambda *a: slo.burn_down_from(*a, "10m")):
        with pytest.raises(QueryArgumentError, match="is before start"):
            report(prom, model, start, end)
