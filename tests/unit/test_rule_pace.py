"""Which group a rule is evaluated in: records over 30m or more that no rule reads are written
every minute, not every 15 s, and nothing any rule computes changes."""

from __future__ import annotations

from collections import Counter

import yaml
from promtool_support import (
    CONFIG,
    RULES,
    baseline_inputs,
    counter,
    demo_baseline,
    gauge,
    run_promtool,
    series,
)

from mlmon_nb.config import parse_duration
from mlmon_nb.estimated.calibration import EDGES
from mlmon_nb.metrics import SLOPE_COVARIANCE_TERMS, le_label
from mlmon_nb.promql.names import LONG_INTERVAL, UNREAD_WINDOW_SECONDS, record_window
from mlmon_nb.promql.rule import (
    AlertingRule,
    RecordingRule,
    RuleGroup,
    names_read,
    shared_reads,
    unhurried,
)
from mlmon_nb.rules.files import load_baselines, write_generated
from mlmon_nb.rules.render import stages


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


def _groups() -> list[dict]:
    """The committed rule files' groups."""
    return [group for path in sorted(RULES.glob("*.yml"))
            for group in yaml.safe_load(path.read_text())["groups"]]


def _generated() -> list[tuple[dict, dict]]:
    return [(group, rule) for group in _groups() for rule in group["rules"]]


def test_the_generated_rules_write_an_unread_window_every_minute_and_a_read_one_every_15s():
    rules = _generated()
    records = {rule["record"] for _, rule in rules if "record" in rule}
    read = set().union(*(names_read(rule["expr"], records) for _, rule in rules))
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


def test_a_raw_sum_read_twice_in_a_group_is_recorded_once_at_its_head():
    twice = "sum by (model_name) (rate(m_total[5m]))"
    kept = RuleGroup("mlmon:g", (
        _rec("model_name:m:ratio_rate5m", f"(sum by (model_name) (rate(e_total[5m])) or 0 * "
                                          f"{twice}) / {twice}"),
        _rec("model_name:m:rate5m", twice),  # recorded already, after a use: moves to the head
        _rec("model_name:k:ratio_rate5m", 'sum by (model_name) (rate(k_total{a="b"}[5m])) / '
                                          'sum by (model_name) (rate(k_total{a="b"}[5m]))'),
        _rec("model_name:o:ratio_rate5m", "sum by (model_name) (rate(o_total[5m])) / "
                                          "sum by (model_name) (rate(o_total[5m]))")))
    elsewhere = RuleGroup("mlmon:h", (_rec("model_name:o:rate5m", "sum(o_total)"),), "1m")
    (shared, other), = shared_reads([[kept, elsewhere]])
    assert other == elsewhere
    assert [(r.record, r.expr) for r in shared.rules] == [
        ("model_name:m:rate5m", twice),
        ("model_name:m:ratio_rate5m", "(sum by (model_name) (rate(e_total[5m])) or 0 * "
                                      "model_name:m:rate5m) / model_name:m:rate5m"),
        # a sum with matchers, and one whose name another group records, stay inline
        *((r.record, r.expr) for r in kept.rules[2:])]
    # a name two groups would add is added by the first only
    one, two = (RuleGroup(n, (_rec(f"model_name:x:{n[-1]}", f"{twice} / {twice}"),))
                for n in ("mlmon:a", "mlmon:b"))
    (first, second), = shared_reads([[one, two]])
    assert len(first.rules) == 2 and second == two
    # two sums that would share a name (m and m_total): the first only
    other = "sum by (model_name) (rate(m[5m]))"
    both = RuleGroup("mlmon:c", (_rec("model_name:y:r", f"{twice} / {twice}"),
                                 _rec("model_name:z:r", f"{other} / {other}")))
    ((named,),) = shared_reads([[both]])
    assert [r.record for r in named.rules] == ["model_name:m:rate5m", "model_name:y:r",
                                               "model_name:z:r"]
    assert named.rules[2].expr == f"{other} / {other}"


def test_a_static_series_deduplicated_twice_in_a_group_is_recorded_once_at_its_head():
    # a curve's or baseline's series, one per replica, deduplicated by ``max by`` in several
    # rules: one record at the head; with matchers or a condition, or of a record, it stays inline
    twice = "max by (model_name, le) (c_offset)"
    group = RuleGroup("mlmon:g", (
        _rec("model_name:a:x", f"sum by (model_name) (b * on (model_name, le) {twice})"),
        _rec("model_name:a:y", f"sum by (model_name) (d * on (model_name, le) {twice})"),
        _rec("model_name:a:z", 'max by (model_name) (c_cov{term="x"}) / '
                               'max by (model_name) (c_cov{term="x"})'),
        _rec("model_name:a:w", "max by (model_name) (c_rows < 30) / "
                               "max by (model_name) (c_rows < 30)"),
        _rec("model_name:a:v", "max by (model_name) (model_name:r:x) / "
                               "max by (model_name) (model_name:r:x)")))
    ((shared,),) = shared_reads([[group]])
    assert [(r.record, r.expr) for r in shared.rules] == [
        ("model_name_le:c_offset:max", twice),
        ("model_name:a:x", "sum by (model_name) (b * on (model_name, le) "
                           "model_name_le:c_offset:max)"),
        ("model_name:a:y", "sum by (model_name) (d * on (model_name, le) "
                           "model_name_le:c_offset:max)"),
        *((r.record, r.expr) for r in group.rules[2:])]


def _keyed(group: RuleGroup) -> dict[tuple, str]:
    """A group's expressions by rule (name, labels, and which of the same)."""
    seen: Counter[tuple] = Counter()
    out = {}
    for rule in group.rules:
        key = (getattr(rule, "record", None) or rule.alert, *sorted(rule.labels.items()))
        out[(key, seen[key])] = rule.expr
        seen[key] += 1
    return out


def test_every_rule_that_reads_a_shared_record_computes_exactly_what_it_did(tmp_path):
    # the demo's rules with each group's repeated sums and maxima shared, against the same rules
    # with every one inline: a rule reading a record of its group comes after it, and on a history with
    # every signal, two versions and two replicas each rewritten expression equals its inline
    # original bit for bit (``!=``, not a tolerance), and neither is empty
    baselines = load_baselines(CONFIG)
    inline = unhurried([stage(CONFIG) for _, stage, _ in stages(baselines)])
    changed = []
    for before, after in zip((g for s in inline for g in s),
                             (g for s in shared_reads(inline) for g in s)):
        records = {r.record for r in after.rules if isinstance(r, RecordingRule)}
        for i, rule in enumerate(after.rules):
            earlier = {getattr(r, "record", None) for r in after.rules[:i]}
            assert names_read(rule.expr, records - {getattr(rule, "record", None)}) <= earlier, \
                (after.name, rule)
        was, now = _keyed(before), _keyed(after)
        changed += [(now[k], was[k]) for k in was.keys() & now.keys() if now[k] != was[k]]
    assert len(changed) >= 20
    minutes = 100
    inputs = []
    for version, instance, scale in (("1.0.0", "a", 1.0), ("2.0.0", "b", 0.3)):
        labels = {"model_version": version, "instance": instance}
        inputs += [series("ml_model_info", gauge(1, minutes), baseline_id="b1", **labels),
                   series("ml_requests_total", counter((minutes, 120 * scale)),
                          endpoint="/predict", **labels),
                   series("ml_errors_total", counter((minutes, 6 * scale)), endpoint="/predict",
                          error_type="ValueError", **labels),
                   series("ml_request_duration_seconds_count", counter((minutes, 120 * scale)),
                          endpoint="/predict", **labels),
                   series("ml_predictions_total", counter((minutes, 100 * scale)),
                          predicted_class="positive", **labels),
                   series("ml_low_confidence_predictions_total", counter((minutes, 9 * scale)),
                          **labels),
                   series("ml_prediction_confidence_sum", counter((minutes, 80 * scale)),
                          **labels),
                   series("ml_prediction_scaled_confidence_total", counter((minutes, 78 * scale)),
                          **labels),
                   series("ml_prediction_purity_total", counter((minutes, 70 * scale)), **labels)]
        inputs += [series("ml_request_duration_seconds_bucket", counter((minutes, n * scale)),
                          endpoint="/predict", le=le, **labels)
                   for le, n in (("0.1", 90), ("0.25", 110), ("0.5", 118), ("+Inf", 120))]
        inputs += [series("ml_prediction_confidence_bucket",
                          counter((minutes, round(100 * scale * min(1.0, e), 6))),
                          le=le_label(e), **labels) for e in EDGES]
        inputs += [series("ml_feature_value_bucket", counter((minutes, 5 * (i + 1) * scale)),
                          feature=feature, le=le, **labels)
                   for feature, spec in demo_baseline().numeric.items()
                   for i, le in enumerate([le_label(e) for e in spec.edges] + ["+Inf"])]
        inputs += [series("ml_ground_truth_total", counter((minutes, n * scale)),
                          segment=segment, outcome=outcome, **labels)
                   for segment, outcome, n in (("web", "correct", 30), ("web", "incorrect", 4),
                                               ("app", "correct", 20), ("app", "incorrect", 6))]
        inputs += [series("ml_reconstruction_error_bucket", counter((minutes, n * scale)), le=le,
                          **labels) for le, n in (("0.5", 60), ("1", 90), ("+Inf", 100))]
        inputs.append(series("ml_reconstruction_error_sum", counter((minutes, 55 * scale)),
                             **labels))
    # the demo's curve is fitted without class scores: a curve with them (its scaling, purity
    # slope and reference means), so the estimate's distances are computed too
    inputs += baseline_inputs(minutes) + [
        series("ml_confidence_calibration_scaling", gauge(1.1, minutes)),
        series("ml_confidence_calibration_purity_slope", gauge(0.2, minutes))]
    inputs += [series("ml_confidence_calibration_slope_covariance", gauge(1e-4, minutes),
                      term=term) for term in SLOPE_COVARIANCE_TERMS]
    inputs += [series(name, gauge(round(0.5 * min(1.0, e), 6), minutes), le=le_label(e))
               for e in EDGES for name in ("ml_confidence_calibration_mean",
                                           "ml_confidence_calibration_mean_purity")]
    # and a multivariate baseline, which the demo's has not
    inputs += [series("ml_reconstruction_error_baseline_ratio", gauge(r, minutes), le=le)
               for le, r in (("0.5", 0.7), ("1", 0.95), ("+Inf", 1.0))]
    inputs += [series(f"ml_reconstruction_error_baseline_{name}", gauge(v, minutes))
               for name, v in (("values", 500), ("mean", 0.45), ("stddev", 0.2))]
    tests = [t for at in ("60m", "95m") for shared_expr, inline in changed
             for t in ({"expr": f"({shared_expr}) != ({inline})", "eval_time": at,
                        "exp_samples": []},
                       {"expr": f"absent({inline})", "eval_time": at, "exp_samples": []})]
    # the files as generated now (the committed ones are checked against them elsewhere)
    rules_dir = write_generated(CONFIG, tmp_path / "generated", baselines=baselines)[0].parent
    run_promtool(tmp_path, inputs, [], promql_tests=tests, rules_dir=rules_dir)
