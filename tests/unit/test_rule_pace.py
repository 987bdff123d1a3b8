"""Which group a rule is evaluated in: records over 30m or more that no rule reads are written
every minute, not every 15 s, and nothing any rule computes changes."""

from __future__ import annotations

import re

import yaml
from promtool_support import RULES, counter, run_promtool, series

from mlmon_nb.config import parse_duration
from mlmon_nb.promql.names import LONG_INTERVAL, UNREAD_WINDOW_SECONDS, record_window
from mlmon_nb.promql.rule import AlertingRule, RecordingRule, RuleGroup, unhurried

NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def _rec(record: str, expr: str) -> RecordingRule:
    return RecordingRule(record, expr)


def test_an_unread_long_window_moves_with_what_only_it_reads():
    fast = RuleGroup("mlmon:s", (
        _rec("m:buckets:rate30m", "sum(rate(x_bucket[30m]))"),
        _rec("m:p95:rate30m", "histogram_quantile(0.95, m:buckets:rate30m)"),
        _rec("m:errors:ratio_rate5m", "sum(rate(e[5m]))"),
        _rec("m:errors:ratio_rate30m", "sum(rate(e[30m]))"),          # an alert reads it
        _rec("m:spread:ratio_rate30m", "m:errors:ratio_rate5m * 2"),  # reads a 15 s record
        _rec("m:other:rate30m", "sum(rate(o[30m]))"),                 # a kept rule reads it
        _rec("m:reader:rate5m", "m:other:rate30m + 1"),
        AlertingRule("A", "m:errors:ratio_rate30m > 0.1", None, {}, {})))
    long = RuleGroup("mlmon:s-long", (_rec("m:errors:ratio_rate1h", "sum(rate(e[1h]))"),), "1m")
    (moved,) = unhurried([[fast, long]])
    assert [g.name for g in moved] == ["mlmon:s", "mlmon:s-long"]
    kept = [getattr(r, "record", None) or r.alert for r in moved[0].rules]
    assert kept == ["m:errors:ratio_rate5m", "m:errors:ratio_rate30m", "m:spread:ratio_rate30m",
                    "m:other:rate30m", "m:reader:rate5m", "A"]
    assert [r.record for r in moved[1].rules] == [
        "m:buckets:rate30m", "m:p95:rate30m", "m:errors:ratio_rate1h"]
    assert moved[1].interval == "1m"


def test_a_stage_without_a_long_group_gets_one_and_other_stages_keep_theirs():
    fast = RuleGroup("mlmon:t", (_rec("m:a:rate30m", "sum(rate(a[30m]))"),
                                 _rec("m:b:rate5m", "sum(rate(b[5m]))")))
    other = RuleGroup("mlmon:u", (AlertingRule("B", "m:b:rate5m > 1", None, {}, {}),))
    first, second = unhurried([[fast], [other]])
    assert [(g.name, g.interval, len(g.rules)) for g in first] == [
        ("mlmon:t", None, 1), ("mlmon:t-long", LONG_INTERVAL, 1)]
    assert second == [other]
    # a record the other stage reads stays at the global interval
    reader = RuleGroup("mlmon:u", (AlertingRule("C", "m:a:rate30m > 1", None, {}, {}),))
    assert unhurried([[fast], [reader]]) == [[fast], [reader]]


def _generated() -> list[tuple[dict, dict]]:
    return [(group, rule) for path in sorted(RULES.glob("*.yml"))
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def test_the_generated_rules_write_an_unread_window_every_minute_and_a_read_one_every_15s():
    rules = _generated()
    read = {name for _, rule in rules for name in NAME.findall(rule["expr"])}
    fast_unread = [rule["record"] for group, rule in rules
                   if "interval" not in group and "record" in rule
                   and rule["record"] not in read
                   and (w := record_window(rule["record"])) is not None
                   and parse_duration(w) >= UNREAD_WINDOW_SECONDS]
    assert fast_unread == []
    moved = {rule["record"] for group, rule in rules
             if group.get("interval") == LONG_INTERVAL and "record" in rule
             and parse_duration(record_window(rule["record"]) or "30d") < 3600}
    # the 30m latency buckets and their quantiles: what dashboards read, no alert
    assert "model_name_le:ml_request_duration_seconds_bucket:rate30m" in moved
    assert "model_name:ml_request_duration_seconds:p95_rate30m" in moved
    # the 30m error ratio the alerts read stays every 15 s
    assert not {"model_name:ml_errors_per_ml_requests:ratio_rate30m",
                "model_name:ml_low_confidence_predictions_per_ml_predictions:ratio_rate30m"} & moved


def test_a_moved_quantile_is_the_quantile_of_its_window_at_each_evaluation(tmp_path):
    # 60 requests a minute at up to 0.1 s for 20 minutes, then at 0.25-0.5 s: 45 minutes in,
    # the 30m window holds 300 fast and 1,500 slow ones, so its p95 (the 1,710th) is 94% into
    # the slow bucket, 0.485 s; at every evaluation it is what the same PromQL says inline
    buckets = {"0.1": (1.0, 0.0), "0.25": (1.0, 0.0), "0.5": (1.0, 1.0), "+Inf": (1.0, 1.0)}
    inputs = [series("ml_request_duration_seconds_bucket",
                     counter((20, 60 * fast), (40, 60 * slow)),
                     model_name="m", le=le, instance="a", job="j")
              for le, (fast, slow) in buckets.items()]
    inline = ("histogram_quantile(0.95, sum by (le, model_name) "
              "(rate(ml_request_duration_seconds_bucket[30m])))")
    tests = [{"expr": f"model_name:ml_request_duration_seconds:p95_rate30m - {inline}",
              "eval_time": t, "exp_samples": [{"labels": '{model_name="m"}', "value": 0}]}
             for t in ("35m", "45m")]
    p95 = "model_name:ml_request_duration_seconds:p95_rate30m"
    tests.append({"expr": f"{p95} > 0.25", "eval_time": "45m",
                  "exp_samples": [{"labels": f'{p95}{{model_name="m"}}', "value": 0.485}]})
    run_promtool(tmp_path, inputs, [], promql_tests=tests)
