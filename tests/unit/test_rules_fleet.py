"""One rule set for a fleet: the rules' size does not grow with models, features or buckets;
what differs between models (thresholds, baselines) reaches the rules as series, and each model
is judged by its own, checked with promtool on the generated files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from promtool_support import (
    alert,
    baseline_inputs,
    counter,
    demo_baseline,
    firing,
    gauge,
    run_promtool,
    series,
)

from mlmon_nb import rules
from mlmon_nb.baseline import Baseline, bin_fractions
from mlmon_nb.config import Config, ModelConfig, load_config
from mlmon_nb.drift.stats import binned_ks
from mlmon_nb.metrics import le_label
from mlmon_nb.rules.files import write_generated

DEMO = load_config()


def _fleet(n: int, **overrides: ModelConfig) -> Config:
    models = tuple(overrides.get(f"m{i:04d}", ModelConfig(f"m{i:04d}")) for i in range(n))
    return dataclasses.replace(DEMO, models=models)


def test_rule_files_do_not_grow_with_models_beyond_their_names():
    one, hundred, thousand = (rules.render_rule_files(_fleet(n)) for n in (1, 100, 1000))
    for name in ("alerts.yml", "slo.yml", "drift.yml"):
        assert one[name] == hundred[name] == thousand[name], name
    # the configured models' list: one short literal per model
    per_model = (len(thousand["recording.yml"]) - len(hundred["recording.yml"])) / 900
    assert per_model < 80, per_model
    assert sum(len(t) for t in thousand.values()) < 1_000_000


def test_a_model_that_differs_is_one_override_per_setting_it_changes():
    strict = ModelConfig("m0003", alerts=dataclasses.replace(ModelConfig("x").alerts,
                                                             error_ratio_critical=0.01))
    files = rules.render_rule_files(_fleet(100, m0003=strict))
    plain = rules.render_rule_files(_fleet(100))
    assert files["alerts.yml"] == plain["alerts.yml"]
    extra = len(files["recording.yml"]) - len(plain["recording.yml"])
    assert 0 < extra < 200 and files["recording.yml"].count('"m0003"') == 2  # listed, overridden


def test_every_configured_model_gets_its_own_setting_from_the_or_tree(tmp_path):
    # 7 models, 3 overridden: the literals nest as a balanced tree of `or`s; each model is
    # listed once and keeps its own value, the others the default
    defaults = ModelConfig("x").alerts
    own = {"m0001": 0.01, "m0003": 0.02, "m0006": 0.03}
    config = _fleet(7, **{name: ModelConfig(name, alerts=dataclasses.replace(
        defaults, error_ratio_critical=value)) for name, value in own.items()})
    write_generated(config, tmp_path / "gen", baselines={})
    inputs = [series("ml_requests_total", counter((10, 1)), model_name="m0000",
                     model_version="1", endpoint="/predict")]
    names = [f"m{i:04d}" for i in range(7)]
    run_promtool(tmp_path, inputs, [], rules_dir=tmp_path / "gen" / "rules", promql_tests=[
        {"expr": "sum by (model_name) (model_name:mlmon_model:configured)", "eval_time": "5m",
         "exp_samples": [{"labels": f'{{model_name="{n}"}}', "value": 1} for n in names]},
        {"expr": 'sum by (model_name) (model_name:mlmon_setting:value'
                 '{setting="error_ratio_critical"})', "eval_time": "5m",
         "exp_samples": [{"labels": f'{{model_name="{n}"}}',
                          "value": own.get(n, defaults.error_ratio_critical)} for n in names]}])


def _two_models(tmp_path, a: ModelConfig, b: ModelConfig):
    config = dataclasses.replace(DEMO, models=(a, b))
    write_generated(config, tmp_path / "gen", baselines={})
    return tmp_path / "gen" / "rules"


def test_each_model_is_judged_by_its_own_threshold(tmp_path):
    # 4% errors at 100 requests a minute on both: beyond a's 2% critical threshold (lower bound
    # 2.7% over 5m), under b's default 5%
    a = ModelConfig("a", alerts=dataclasses.replace(ModelConfig("a").alerts,
                                                    error_ratio_critical=0.02))
    b = ModelConfig("b")
    rules_dir = _two_models(tmp_path, a, b)
    inputs = []
    for model in ("a", "b"):
        inputs += [series("ml_requests_total", counter((40, 100)), model_name=model,
                          model_version="1", endpoint="/predict"),
                   series("ml_errors_total", counter((10, 0), (30, 4)), model_name=model,
                          model_version="1", endpoint="/predict", error_type="E")]
    run_promtool(tmp_path, inputs, [alert("HighErrorRate", "9m")], rules_dir=rules_dir,
                 promql_tests=[firing("HighErrorRate", "30m",
                                      {"model_name": "a", "severity": "critical"})])


def _baseline(name: str, loc: float, seed: int = 3) -> Baseline:
    rng = np.random.default_rng(seed)
    return Baseline.from_frame(pd.DataFrame({"x": rng.normal(loc, 1.0, 5000)}), name)


def _buckets(values: np.ndarray, baseline: Baseline, notation, **labels: str) -> list[dict]:
    """The feature ``x`` buckets of a replica serving ``values``, at its baseline's edges, as
    the service exports them; ``notation``: promtool's values of a bucket counting n of them."""
    edges = baseline.numeric["x"].edges
    cumulative = [int((values <= e).sum()) for e in edges] + [values.size]
    return [series("ml_feature_value_bucket", notation(count), feature="x", le=le, **labels)
            for le, count in zip([le_label(e) for e in edges] + ["+Inf"], cumulative)]


def _own_ks(values: np.ndarray, baseline: Baseline) -> float:
    """The binned KS of ``values`` against ``baseline`` at its own edges."""
    spec = baseline.numeric["x"]
    return binned_ks(spec.fractions, bin_fractions(values, spec.edges))


def test_each_model_drifts_against_its_own_baseline(tmp_path):
    # both models receive the same values, around 10: a's baseline is centred on 10, b's on 0,
    # so b drifted and a did not; the rules know each baseline only from its service's series
    base = {"a": _baseline("a", 10.0), "b": _baseline("b", 0.0)}
    rules_dir = _two_models(tmp_path, ModelConfig("a"), ModelConfig("b"))
    values = np.random.default_rng(4).normal(10.0, 1.0, 6000)
    inputs = []
    for name, baseline in base.items():
        inputs += baseline_inputs(80, baseline, model_name=name, model_version="1")
        inputs += _buckets(values, baseline, lambda n: counter((80, n / 75)), model_name=name,
                           model_version="1")
        inputs.append(series("ml_model_info", gauge(1, 80), model_name=name,
                             model_version="1", baseline_id=baseline.baseline_id))
    # one version each: no version-level statistic (their bucket counts, which the models' sum,
    # exist for every model)
    one_version = ("model_name_model_version_feature:ml_feature_drift_n:1h or "
                   "model_name_model_version_feature:ml_feature_drift_ks:1h")
    run_promtool(tmp_path, inputs, [alert("DataDriftDetected", "59m")], rules_dir=rules_dir,
                 promql_tests=[firing("DataDriftDetected", "75m",
                                      *({"model_name": "b", "feature": "x", "severity": s}
                                        for s in ("warning", "critical"))),
                               {"expr": one_version, "eval_time": "75m", "exp_samples": []},
                               {"expr": "count(model_name_model_version_feature_le:"
                                        "ml_feature_value_bucket:increase1h)", "eval_time": "75m",
                                "exp_samples": [{"labels": "{}", "value": 2 * 20}]}])


def test_a_canary_drifts_on_its_own_traffic(tmp_path):
    # version 2 takes 10% of the traffic and every one of its values is beyond the training
    # data; version 1's follow the baseline. Summed over the model the KS stays under 0.1, so
    # the model-wide alert stays quiet; judged on its own traffic the canary's KS is 0.95 and
    # DataDriftDetected fires for version 2 only. A model that runs one version gets no
    # version-level series at all.
    baseline = demo_baseline()
    inputs = []
    for version, per_minute, off in (("1", 90, False), ("2", 10, True)):
        inputs += baseline_inputs(80, baseline, model_version=version,
                                  instance=f"replica-{version}")
        inputs.append(series("ml_model_info", gauge(1, 80), model_version=version,
                             baseline_id=baseline.baseline_id, instance=f"replica-{version}"))
        for feature, spec in baseline.numeric.items():
            cumulative = [0.0 if off else float(c) for c in spec.cumulative] + [1.0]
            for le, share in zip([le_label(e) for e in spec.edges] + ["+Inf"], cumulative):
                inputs.append(series("ml_feature_value_bucket",
                                     counter((80, per_minute * share)), model_version=version,
                                     feature=feature, le=le, instance=f"replica-{version}"))
    firing_versions = [{"model_version": "2", "feature": f, "severity": s}
                       for f in baseline.numeric for s in ("warning", "critical")]
    run_promtool(tmp_path, inputs, [alert("DataDriftDetected", "59m")],
                 promql_tests=[firing("DataDriftDetected", "75m", *firing_versions),
                               {"expr": "count(model_name_feature:ml_feature_drift_ks:1h < 0.1)",
                                "eval_time": "75m",
                                "exp_samples": [{"labels": "{}",
                                                 "value": len(baseline.numeric)}]}])


def _retrained_canary(tmp_path, canary_loc: float) -> None:
    """Model a runs version 1 (80% of its traffic) and version 2 (20%) retrained on other data:
    each replica exports its own baseline, whose quantile edges differ. Both versions receive
    values around 0; version 1's baseline is centred on 0, version 2's on ``canary_loc``. Model
    b, one version, receives values around 10 against a baseline centred on 0."""
    rng = np.random.default_rng(4)
    rules_dir = _two_models(tmp_path, ModelConfig("a"), ModelConfig("b"))
    own = {"1": _baseline("a", 0.0), "2": _baseline("a", canary_loc, seed=5)}
    assert own["1"].numeric["x"].edges.tolist() != own["2"].numeric["x"].edges.tolist()
    inputs, ks = [], {}

    def per_minute(n: int) -> str:  # n values spread over the first 75 minutes
        return counter((80, n / 75))
    for version, size in (("1", 4800), ("2", 1200)):
        labels = {"model_name": "a", "model_version": version, "instance": f"a-{version}"}
        values = rng.normal(0.0, 1.0, size)
        ks[version] = _own_ks(values, own[version])
        inputs += [*baseline_inputs(80, own[version], **labels),
                   *_buckets(values, own[version], per_minute, **labels),
                   series("ml_model_info", gauge(1, 80), baseline_id=own[version].baseline_id,
                          **labels)]
    b = _baseline("b", 0.0)
    labels = {"model_name": "b", "model_version": "1", "instance": "b-1"}
    inputs += [*baseline_inputs(80, b, **labels),
               *_buckets(rng.normal(10.0, 1.0, 6000), b, per_minute, **labels),
               series("ml_model_info", gauge(1, 80), baseline_id=b.baseline_id, **labels)]
    a = 'model_name="a"'
    fired = [{"model_name": "b", "feature": "x", "severity": s} for s in ("warning", "critical")]
    fired += [{"model_name": "a", "model_version": "2", "feature": "x", "severity": s}
              for s in ("warning", "critical") if canary_loc]
    per_version = [{"labels": f'{{model_name="a",model_version="{v}",feature="x"}}', "value": k}
                   for v, k in ks.items()]
    run_promtool(tmp_path, inputs, [], rules_dir=rules_dir, promql_tests=[
        firing("DataDriftDetected", "75m", *fired),
        # each version serves one baseline: no conflict
        firing("BaselineConflict", "75m"),
        # b's statistics are whole: a's two baselines fail no rule of the fleet
        {"expr": 'count(model_name_feature:ml_feature_drift_psi:1h{model_name="b"} > 1)',
         "eval_time": "75m", "exp_samples": [{"labels": "{}", "value": 1}]},
        # a has no model-wide statistic (no one baseline to compare its blend with) ...
        {"expr": f"model_name_feature:ml_feature_drift_ks:1h{{{a}}} or "
                 f"model_name_feature:ml_feature_drift_psi:1h{{{a}}} or "
                 f"model_name:ml_concept_drift_psi:1h{{{a}}}",
         "eval_time": "75m", "exp_samples": []},
        # ... and each version's KS is against its own baseline, at its own edges
        {"expr": f"round(model_name_model_version_feature:ml_feature_drift_ks:1h{{{a}}}, 1e-6)",
         "eval_time": "75m",
         "exp_samples": [{**x, "value": round(x["value"], 6)} for x in per_version]}])
    return ks


def test_a_canary_retrained_on_other_data_is_judged_against_its_own_baseline(tmp_path):
    # both of a's versions serve what their baselines saw: no alert for a, each version's KS
    # against its own baseline under 0.1; joining the two baselines' edges into one model's
    # failed the drift rules of every model ("vector cannot contain metrics with the same
    # labelset"), b's too
    ks = _retrained_canary(tmp_path, 0.0)
    assert max(ks.values()) < 0.1


def test_a_retrained_canary_that_drifted_from_its_own_baseline_fires_alone(tmp_path):
    # version 2 was trained on values around 2 and now receives values around 0
    ks = _retrained_canary(tmp_path, 2.0)
    assert ks["2"] > 0.5 > 0.1 > ks["1"]


def test_replicas_of_one_version_serving_two_baselines_page_baseline_conflict(tmp_path):
    # a's version 1 runs on two replicas, one serving its baseline and one another (a file left
    # from before, other edges); its version 2 serves the first. Nothing of a's version 1 or of
    # a as a whole is judged (there is no one baseline), so BaselineConflict pages after 15m
    # instead; version 2 is still judged against its own. b's second replica serves another
    # baseline for 6 minutes only (a rolling restart onto a new file): no page for b
    rng = np.random.default_rng(7)
    rules_dir = _two_models(tmp_path, ModelConfig("a"), ModelConfig("b"))
    first, other = _baseline("a", 0.0), _baseline("a", 0.0, seed=5)
    inputs = []
    for version, instance, baseline in (("1", "a-1", first), ("1", "a-1b", other),
                                        ("2", "a-2", first)):
        labels = {"model_name": "a", "model_version": version, "instance": instance}
        inputs += [*baseline_inputs(80, baseline, **labels),
                   *_buckets(rng.normal(0.0, 1.0, 1500), baseline, lambda n: counter((80, n / 75)),
                             **labels),
                   series("ml_model_info", gauge(1, 80), baseline_id=baseline.baseline_id,
                          **labels)]
    b, restarted = _baseline("b", 0.0), _baseline("b", 0.0, seed=6)
    inputs += [series("ml_model_info", gauge(1, 80), model_name="b", model_version="1",
                      instance="b-1", baseline_id=b.baseline_id),
               series("ml_model_info", "_x20 1x6", model_name="b", model_version="1",
                      instance="b-2", baseline_id=restarted.baseline_id)]
    conflict = {"model_name": "a", "model_version": "1", "severity": "warning"}
    version_ks = "model_name_model_version_feature:ml_feature_drift_ks:1h"
    run_promtool(tmp_path, inputs, [], rules_dir=rules_dir, promql_tests=[
        firing("BaselineConflict", "14m"), firing("BaselineConflict", "16m", conflict),
        firing("BaselineConflict", "75m", conflict),
        {"expr": "ALERTS{model_name=\"b\"}", "eval_time": "35m", "exp_samples": []},
        # version 2 against its own baseline; version 1 and the model not at all
        {"expr": f"count by (model_version) ({version_ks})", "eval_time": "75m",
         "exp_samples": [{"labels": '{model_version="2"}', "value": 1}]},
        {"expr": 'model_name_feature:ml_feature_drift_ks:1h{model_name="a"}',
         "eval_time": "75m", "exp_samples": []}])


def test_a_rollout_of_a_retrained_model_pages_nothing(tmp_path):
    # version 1 serves alone for an hour, then version 2, retrained on other data (its own
    # edges), replaces it; both receive what their baselines saw. The model's hour window sums
    # the versions serving a baseline now: a quarter hour after, version 2's 1,500 values alone,
    # KS 0.04 (with version 1's buckets, at edges version 2's baseline does not have, it read
    # 0.71 then, 0.32 at 40 minutes, above the warning threshold for 50 minutes)
    rng = np.random.default_rng(6)
    rules_dir = _two_models(tmp_path, ModelConfig("a"), ModelConfig("b"))
    own = {"1": _baseline("a", 0.0), "2": _baseline("a", 0.0, seed=5)}
    inputs = []
    for version, start in (("1", 0), ("2", 60)):
        labels = {"model_name": "a", "model_version": version, "instance": f"a-{version}"}
        values = rng.normal(0.0, 1.0, 100 * 60)  # 100 a minute
        live = (lambda v, start=start: f"_x60 {v}x140" if start else f"{v}x60")
        inputs += [*_buckets(values, own[version], lambda n, live=live: live(f"0+{n / 60:g}"),
                             **labels),
                   *baseline_inputs(0, own[version], notation=live, **labels),
                   series("ml_model_info", live("1+0"), baseline_id=own[version].baseline_id,
                          **labels)]
    run_promtool(tmp_path, inputs, [alert("DataDriftDetected", f"{t}m") for t in
                                    range(60, 200, 10)], rules_dir=rules_dir,
                 promql_tests=[{"expr": f"round({record})", "eval_time": f"{t}m",
                                "exp_samples": [{"labels": '{model_name="a",feature="x"}',
                                                 "value": value}]}
                               for t, ks, n in ((58, 2, 5800), (75, 4, 1500), (100, 4, 4000),
                                                (125, 4, 6000))
                               for record, value in (
                                   ("model_name_feature:ml_feature_drift_ks:1h * 100", ks),
                                   ("model_name_feature:ml_feature_drift_n:1h", n))])


def test_a_canary_fails_on_its_own_requests(tmp_path):
    # version 2 takes 10% of 600 requests a minute and fails 20% of them; version 1 fails 1%.
    # Over the model the error ratio is 2.9%, under the 5% critical threshold (a warning above
    # 2%); judged alone the canary pages, its alert labelled with its version
    inputs = []
    for version, per_minute, failing in (("1", 540, 0.01), ("2", 60, 0.2)):
        inputs += [series("ml_model_info", gauge(1, 30), model_version=version,
                          baseline_id="b", instance=f"replica-{version}"),
                   series("ml_requests_total", counter((30, per_minute)), model_version=version,
                          endpoint="/predict", instance=f"replica-{version}"),
                   series("ml_errors_total", counter((30, per_minute * failing)),
                          model_version=version, endpoint="/predict", error_type="E",
                          instance=f"replica-{version}")]
    run_promtool(tmp_path, inputs, [alert("HighErrorRate", "5m")], promql_tests=[
        firing("HighErrorRate", "20m", {"model_version": "2", "severity": "critical"}),
        firing("ElevatedErrorRate", "20m", {"severity": "warning"},
               {"model_version": "2", "severity": "warning"})])


def test_a_canary_is_wrong_and_unsure_on_its_own_predictions(tmp_path):
    # version 2 takes 10% of 600 predictions a minute: a quarter of its labels are right and
    # half its predictions are low-confidence; version 1 is 90% right and 10% unsure. Over the
    # model the accuracy (83.5%) and the low-confidence share (14%) are on the healthy side of
    # 70% and 20%; judged alone the canary fires both, each alert labelled with its version
    inputs = []
    for version, per_minute, right, unsure in (("1", 540, 0.9, 0.1), ("2", 60, 0.25, 0.5)):
        labels = {"model_version": version, "instance": f"replica-{version}"}
        inputs += [series("ml_model_info", gauge(1, 90), baseline_id="b", **labels),
                   series("ml_predictions_total", counter((90, per_minute)),
                          predicted_class="positive", **labels),
                   series("ml_low_confidence_predictions_total",
                          counter((90, per_minute * unsure)), **labels),
                   series("ml_ground_truth_total", counter((90, per_minute * right)),
                          segment="web", outcome="correct", **labels),
                   series("ml_ground_truth_total", counter((90, per_minute * (1 - right))),
                          segment="web", outcome="incorrect", **labels)]
    run_promtool(tmp_path, inputs, [alert("LowModelAccuracy", "30m"),
                                    alert("HighLowConfidencePredictions", "1h")],
                 promql_tests=[
                     firing("LowModelAccuracy", "45m",
                            {"model_version": "2", "severity": "critical"}),
                     firing("HighLowConfidencePredictions", "85m",
                            {"model_version": "2", "severity": "info"})])


def test_one_version_gets_no_version_quality_series(tmp_path):
    inputs = [series("ml_model_info", gauge(1, 40), model_version="1", baseline_id="b"),
              series("ml_predictions_total", counter((40, 60)), model_version="1",
                     predicted_class="positive"),
              series("ml_ground_truth_total", counter((40, 30)), model_version="1",
                     segment="web", outcome="correct")]
    run_promtool(tmp_path, inputs, [], promql_tests=[
        {"expr": name, "eval_time": "35m", "exp_samples": []}
        for name in ("model_name_model_version:ml_accuracy:ratio_rate1h",
                     "model_name_model_version:ml_predictions:increase30m",
                     "model_name_model_version:ml_low_confidence_predictions_per_ml_predictions"
                     ":ratio_rate30m")])


def test_the_runbooks_wilson_bound_is_the_one_the_rules_record(tmp_path):
    # 18 of 180 requests failing over the last 5m (the slow, steady case): the recorded
    # lower bound of the 5m error ratio equals what a runbook computes in Python for its words
    from mlmon_nb.promql.evidence import wilson_interval, z_of
    inputs = [series("ml_model_info", gauge(1, 12), model_version="1", baseline_id="b"),
              series("ml_requests_total", counter((12, 36)), model_version="1",
                     endpoint="/predict"),
              series("ml_errors_total", counter((12, 3.6)), model_version="1",
                     endpoint="/predict", error_type="E")]
    lower, upper = wilson_interval(0.1, 180, z_of(0.05))
    assert 0.05 < lower < 0.1 < upper
    run_promtool(tmp_path, inputs, [], promql_tests=[
        {"expr": "round(model_name:ml_errors_per_ml_requests:ratio_rate5m_lower, 1e-9)",
         "eval_time": "10m",
         "exp_samples": [{"labels": '{model_name="sentiment_classifier"}',
                          "value": round(lower / 1e-9) * 1e-9}]}])


def test_each_evidence_bound_is_recorded_once_whatever_the_scrape_interval():
    from mlmon_nb.promql.evidence import bound_rules
    # at 75 s scrapes the spike window (4 scrapes) is the error alerts' own 5m window, whose
    # upper bound is also what stops them: one rule for it, not two
    for scrape, spike in ((15, "1m"), (75, "5m")):
        records = [r.record for r in bound_rules(scrape, slo=False)]
        assert len(records) == len(set(records)), records
        assert f"model_name:ml_errors_per_ml_requests:ratio_rate{spike}_upper" in records
        assert "model_name:ml_errors_per_ml_requests:ratio_rate5m_upper" in records
        assert "model_name:ml_accuracy:ratio_rate1h_lower" in records
