"""Which window's evidence a verdict states, and the bounds of a count (pure statistics)."""

from __future__ import annotations

import math

import pytest

from mlmon_nb.investigate.chance import WindowEvidence, evidence_window
from mlmon_nb.promql.evidence import poisson_interval, wilson_interval, z_of

Z = z_of(0.05)


def window(name: str, ratio: float, n: float) -> WindowEvidence:
    return WindowEvidence(name, ratio, n, *wilson_interval(ratio, n, Z))


def test_the_look_back_that_passed_is_the_evidence_when_the_own_window_is_thin():
    # 3% errors at 0.5 requests/s against 2%: 150 requests over 5m give at least 1.4%, 900
    # over 30m at least 2.2%
    own, back = window("5m", 0.03, 150), window("30m", 0.03, 900)
    assert own.low < 0.02 < back.low
    assert evidence_window([own, back], 0.02, True, 10) is back
    # below the floor of events, a passing bound is no evidence: the own window is stated
    assert evidence_window([own, back], 0.02, True, 1000) is own


def test_an_own_window_healthy_beyond_chance_stops_the_look_back():
    # the own window's upper bound under the threshold: the alert stops whatever 30m says
    own, back = window("5m", 0.0, 1434), window("30m", 0.2, 900)
    assert own.high < 0.05 < back.low
    assert evidence_window([own, back], 0.05, True, 10) is own


def test_an_empty_own_window_gives_way_to_the_first_with_events():
    empty = WindowEvidence("1h", math.nan, 0.0, math.nan, math.nan)
    back = window("6h", 0.5, 120)  # accuracy: fires below 70%, on the upper bound
    assert not empty.has_events and back.high < 0.7
    assert evidence_window([empty, back], 0.7, False, 10) is back
    thin = window("6h", 0.6, 12)  # past nothing: still the window that has events
    assert evidence_window([empty, thin], 0.7, False, 10) is thin
    assert evidence_window([empty], 0.7, False, 10) is None


def test_a_counts_interval_is_the_score_interval_the_throughput_rule_records():
    # no events are consistent with up to z² (2.7 at 95%); 15 requests with up to 22.9
    low, high = poisson_interval(0, Z)
    assert low == 0 and high == pytest.approx(Z * Z)
    low, high = poisson_interval(15, Z)
    assert high == pytest.approx(15 + Z * Z / 2 + Z * math.sqrt(15 + Z * Z / 4))
    assert 0 < low < 15 < high and high == pytest.approx(22.87, abs=0.01)
    assert all(v != v for v in poisson_interval(math.nan, Z))
