"""The fleet cost benchmark's pipeline on a tiny fleet: 2 models × 3 features, half an hour of
history, the rules of HEAD (BEFORE, extracted with ``git archive``) and of this tree (AFTER), on
a real Prometheus and a real vmalert over VictoriaMetrics. Asserts the measurements are there and
sane, never their timing."""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_fleet  # noqa: E402
from fleet import exported_series, fleet_baseline, series_per_replica  # noqa: E402
from rule_cost import source_tree  # noqa: E402

from mlmon_nb import metrics as m  # noqa: E402
from mlmon_nb.drift.expressions import KS_RULE  # noqa: E402

pytestmark = pytest.mark.integration

MODELS, FEATURES = 2, 3


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fleet")


@pytest.fixture(scope="module")
def rows(work) -> list[bench_fleet.Measurement]:
    trees = {"before": source_tree("HEAD", REPO, work / "before-src"), "after": REPO}
    opts = bench_fleet.Options(features=FEATURES, hours=0.5, step=15.0, replicas=2, rounds=2,
                               timeout=300.0, max_samples=1e7, max_rule_bytes=64e6,
                               each_alone=work)
    return bench_fleet.run_size(MODELS, trees, list(bench_fleet.BACKENDS), opts, work,
                                log=lambda line: None)


@pytest.fixture(scope="module")
def each_alone(rows, work) -> dict[tuple[str, str], dict[str, dict]]:
    """Per backend and variant, the per-rule CSV of each rule alone, by rule name (the last
    row of a name: alerts share theirs)."""
    out = {}
    for backend in bench_fleet.BACKENDS:
        for variant in bench_fleet.VARIANTS:
            path = bench_fleet.each_alone_csv(work, MODELS, variant, backend)
            out[backend, variant] = {r["rule"]: r for r in csv.DictReader(path.open())}
    return out


def test_every_backend_and_variant_is_measured(rows):
    assert {(r.backend, r.variant) for r in rows} == {
        (b, v) for b in bench_fleet.BACKENDS for v in bench_fleet.VARIANTS}
    assert [r.skipped for r in rows] == [""] * len(rows)


def test_rules_evaluate_without_failures_and_record_drift_for_each_model(rows):
    for r in rows:
        assert r.rounds == 2, r
        assert r.failures == 0, r  # prometheus_rule_evaluation_failures_total / vmalert errors
        assert r.drift_models == MODELS, r  # a KS drift series recorded for every model
        assert 0 < r.eval_max_seconds <= r.eval_sum_seconds < math.inf, r
        # the load weighs each group by its own interval: never more than every group at 15 s
        assert 0 < r.eval_load_seconds <= r.eval_sum_seconds, r
        assert r.group_seconds.count("@") == r.rule_groups, r
        assert r.evaluator_rss_mb > 0 and r.store_rss_mb > 0, r


def test_each_rule_is_evaluated_alone_on_both_backends(rows, each_alone):
    # after the rounds the evaluator's rules are stopped and each rule runs alone as a query:
    # engine seconds and samples read, weighed by the group's interval
    for r in rows:
        assert 0 < r.alone_load_seconds < math.inf, r
        assert r.alone_samples > r.history_series, r  # the raw series are read, and more
    for (backend, variant), costs in each_alone.items():
        # the end of the drift chain answers for every feature of every model: on Prometheus
        # over what the groups recorded, on VictoriaMetrics over what each rule alone wrote
        ks = costs[KS_RULE]
        assert int(ks["series"]) == MODELS * FEATURES, (backend, variant, ks)
        assert float(ks["samples"]) > 0 and float(ks["seconds"]) > 0, (backend, variant, ks)


def test_sizes_and_series_are_counted(rows):
    per_replica = series_per_replica(FEATURES)
    for r in rows:
        assert r.history_series == MODELS * 2 * per_replica
        assert r.rule_bytes > 0 and r.rules > r.rule_groups > 0
        # Prometheus: what the rules wrote to the head (the history sits in blocks);
        # VictoriaMetrics: every series it holds, the history's among them
        if r.backend == "victoriametrics":
            assert r.active_series > r.history_series, r
        else:
            assert r.active_series > 0, r


def test_history_carries_the_static_series_of_a_real_exposition():
    baseline = fleet_baseline("model_0000", FEATURES, seed=1)
    names = {s.name for s in exported_series(baseline)}
    assert {m.FEATURE_BASELINE_RATIO.name, m.MODEL_INFO.name, m.FEATURE_VALUE.series("_bucket"),
            m.REQUESTS.sample} <= names
    ratios = [s for s in exported_series(baseline) if s.name == m.FEATURE_BASELINE_RATIO.name]
    assert len(ratios) == sum(len(f.edges) + 1 for f in baseline.numeric.values())


def test_table_ratios_and_goal_lines():
    before = bench_fleet.Measurement(1000, 20, "prometheus", "before", 400_000_000, 6000, 200_000,
                                     300.0, skipped="too big")
    after = bench_fleet.Measurement(1000, 20, "prometheus", "after", 500_000, 6, 200, 1.0,
                                    eval_sum_seconds=3.0, eval_max_seconds=2.0,
                                    eval_load_seconds=0.5, rounds=4, drift_models=1000)
    text = bench_fleet.table([before, after])
    assert "rule bytes" in text and "0.001" in text  # 0.5 MB / 400 MB
    assert "skipped" in text  # before's evaluation was not measured
    goal = bench_fleet.goal([before, after], 1000)
    assert goal[0].startswith("PASS: rule files") and goal[1].startswith("PASS: evaluation")
    slow = bench_fleet.goal([before, bench_fleet.Measurement(
        1000, 20, "prometheus", "after", 2_000_000, 6, 200, 1.0, eval_sum_seconds=2.0,
        eval_load_seconds=1.6)], 1000)
    assert slow[0].startswith("FAIL: rule files") and slow[1].startswith("FAIL: evaluation")
    # under the goal, but read before the drift group finished: not a pass
    partial = bench_fleet.goal([replace(after, drift_models=999)], 1000)
    assert partial[1].startswith("FAIL: evaluation") and "KS for 999 of 1,000 models" in partial[1]
    assert bench_fleet.goal([replace(after, drift_models=1000)], 1000)[1].startswith("PASS")
    failed = bench_fleet.Measurement(1000, 20, "prometheus", "after", 0, 0, 0, math.nan,
                                     skipped="generation failed: timed out")
    assert bench_fleet.goal([failed], 1000)[0] == (
        "FAIL: rule files of 1000 models x 20 features not measured (generation failed: timed "
        "out); goal < 1 MB")


def _measured(models: int, variant: str, load: float) -> bench_fleet.Measurement:
    return bench_fleet.Measurement(
        models, 20, "prometheus", variant, rule_bytes=200_000, rule_groups=13, rules=277,
        generate_seconds=3.0, history_series=100, history_hours=1.0, step_seconds=60.0,
        active_series=2000.0, eval_sum_seconds=load * 4, eval_max_seconds=load * 2,
        eval_load_seconds=load, group_seconds="mlmon:drift=0.1@300s", rounds=4,
        evaluator_rss_mb=70.0, store_rss_mb=70.0, failures=0.0, missed_iterations=0.0,
        lag_seconds=100.0, drift_models=models, alone_load_seconds=load / 4,
        alone_samples=2.5e6 * models)


def test_a_size_measured_alone_joins_the_csv_and_the_readme_table(tmp_path):
    # 1,000 models run on their own (AFTER alone, BEFORE cannot keep up); their rows join the
    # smaller sizes' in the CSV, the plot and the README's table, replacing a size run again
    path = tmp_path / "fleet_cost.csv"
    small = [_measured(10, "after", 0.3), _measured(100, "after", 8.0)]
    bench_fleet.write_csv(small, path)
    assert bench_fleet.read_csv(path) == small
    alone = [_measured(1000, "after", 15.2), _measured(10, "after", 0.25)]
    rows = bench_fleet.merged(bench_fleet.read_csv(path), alone)
    assert [(r.models, r.eval_load_seconds) for r in rows] == [(10, 0.25), (100, 8.0),
                                                               (1000, 15.2)]
    table = bench_fleet.markdown(rows).splitlines()
    assert table[0].startswith("| models |") and len(table) == 2 + 3
    assert table[-1] == ("| 1,000 | prometheus | 0.20 MB | 15.20 s | 3.80 s | 2,500.0 M | "
                         "30.40 s | 2,000 | 70 MB | 1 h at 60 s, 4 |")
    both = bench_fleet.markdown([replace(_measured(100, "before", 9.0), rounds=0,
                                         skipped="no complete evaluation round in time"),
                                 _measured(100, "after", 8.0)]).splitlines()[-1]
    assert "| no round → 8.00 s |" in both and "| 0.20 MB → 0.20 MB |" in both
    # a round read before the drift group finished (no KS for some models) says what it lacks
    unfinished = bench_fleet.markdown([replace(_measured(1000, "after", 45.0), drift_models=0)])
    assert "| 45.00 s, without the drift group (KS for 0 of 1,000 models) |" in unfinished


def test_a_csv_of_an_older_run_reads_without_the_alone_columns(tmp_path):
    path = tmp_path / "fleet_cost.csv"
    bench_fleet.write_csv([_measured(10, "after", 0.3)], path)
    header, row = path.read_text().splitlines()
    keep = [i for i, name in enumerate(header.split(",")) if not name.startswith("alone_")]
    path.write_text("\n".join(",".join(line.split(",")[i] for i in keep)
                              for line in (header, row)) + "\n")
    old = bench_fleet.read_csv(path)[0]
    assert old.eval_load_seconds == 0.3 and math.isnan(old.alone_load_seconds)
    assert "| 0.300 s | – | – |" in bench_fleet.markdown([old])
