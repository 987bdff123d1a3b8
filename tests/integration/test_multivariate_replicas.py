"""The multivariate check end to end on a user's own models, as a user would set it up.

Four models share one baseline shape (income ~1e5 and spend ~1e-3 correlated 0.9, age and tenure
correlated 0.7, clicks, a feature constant in training, two categoricals), each served by two
replicas whose real ``ModelMonitor`` registries are read every minute for five hours and
backfilled into a real Prometheus, with a few bad values in requests (NaN, None, text,
infinity, an omitted feature). In the last 150 minutes: ``mv_quiet`` stays as trained,
``mv_break`` gets spend from another request (every marginal kept), ``mv_segment`` a new
segment inside the usual ranges, ``mv_shift`` age shifted (a pure marginal shift).

Checked: every prediction is observed and every bad value counted; the generated rules (inlined,
as recording rules do not run over backfilled history) equal the Python rerun, and their KS and
mean equal numpy's on the very errors the window holds; the generated alert conditions hold
where they should and nowhere else; and the runbook, run with ``mlmon-nb run`` against that
Prometheus, comes to the right verdict and names the features.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
import yaml
from prometheus_client import CollectorRegistry
from promql_inline import inline

from mlmon_nb import drift
from mlmon_nb.baseline import Baseline
from mlmon_nb.config import load_config
from mlmon_nb.instrument import ModelMonitor, content_id, load_baseline
from mlmon_nb.prom import Prometheus
from mlmon_nb.rules import write_generated
from mlmon_nb.runbooks import read_summary
from mlmon_nb.stack import Stack, backfill, free_port

pytestmark = pytest.mark.integration

MODELS = ("mv_quiet", "mv_break", "mv_segment", "mv_shift")
OLD = "mv_old"  # a baseline built before the multivariate check, on the break's traffic
MINUTES, DRIFT_MINUTES, PER_REPLICA = 300, 150, 30  # 60 predictions a minute per model
REPLICAS = ("10.0.0.1:8000", "10.0.0.2:8000")
JOB = "mv-api"
NUMERIC = ("income", "spend", "age", "tenure", "clicks", "version")
BAD = (float("nan"), None, "n/a", math.inf)  # one in 50 requests has one of them


def frame(n: int, rng: np.random.Generator, case: str = "quiet") -> pd.DataFrame:
    income = rng.lognormal(11, 0.3, n)
    spend = 1e-3 * (0.9 * (np.log(income) - 11) / 0.3 + math.sqrt(0.19) * rng.normal(size=n)) + 5e-3
    age = rng.uniform(18, 90, n)
    tenure = 0.7 * (age - 54) / 20.8 + math.sqrt(0.51) * rng.normal(size=n) + 5
    if case == "break":
        spend = rng.permutation(spend)
    elif case == "segment":
        seg = rng.random(n) < 0.3  # high income, low spend: each inside its usual range
        spend[seg] = 1e-3 * (-0.9 * (np.log(income[seg]) - 11) / 0.3) + 5e-3
    elif case == "shift":
        age = age + 15
    return pd.DataFrame({"income": income, "spend": spend, "age": age, "tenure": tenure,
                         "clicks": rng.poisson(4, n).astype(float), "version": np.full(n, 3.0),
                         "channel": rng.choice(["web", "app"], n),
                         "tier": rng.choice(["a", "b", "c"], n)})


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Scrapes:
    """Registries read at each minute, as Prometheus scrapes them: series and their values."""

    def __init__(self):
        self.families: dict[str, str] = {}  # family -> type
        self.series: dict[tuple[str, str], dict[float, float]] = defaultdict(dict)

    def scrape(self, registry: CollectorRegistry, at: float, instance: str) -> None:
        for family in registry.collect():
            kind = family.type if family.type in ("counter", "histogram") else "gauge"
            for s in family.samples:
                if s.name.endswith("_created"):
                    continue
                name = family.name if kind != "gauge" else s.name
                self.families[name] = kind
                labels = {**s.labels, "job": JOB, "instance": instance}
                text = ",".join(f'{k}="{_quote(str(v))}"' for k, v in sorted(labels.items()))
                self.series[(name, f"{s.name}{{{text}}}")][at] = s.value

    def chunks(self, block: int = 7200):
        """OpenMetrics documents, one per 2h-aligned block (as ``backfill`` takes them)."""
        times = sorted({t for values in self.series.values() for t in values})
        for start in sorted({int(t // block) * block for t in times}):
            lines = []
            for family, kind in self.families.items():
                lines.append(f"# TYPE {family} {kind}")
                for (fam, series), values in self.series.items():
                    if fam == family:
                        lines.extend(f"{series} {v!r} {t:.3f}" for t, v in values.items()
                                     if start <= t < start + block)
            yield float(start), "\n".join(lines + ["# EOF"]) + "\n"


@dataclass
class World:
    config_path: Path
    prom: Prometheus
    baselines: dict[str, Baseline]
    end: float
    onset: float
    errors: dict[str, list[tuple[float, np.ndarray]]]  # per model: (minute, numpy errors)
    predictions: dict[str, int]
    bad: dict[str, dict[str, int]]  # per model: reason -> values counted
    rules: list[dict]
    alerts: dict[str, str]


def numpy_errors(base: Baseline, rows: pd.DataFrame) -> np.ndarray:
    """The reconstruction error of each row by the baseline's stored standardization and
    components, in numpy (NaN as the mean)."""
    joint = base.multivariate
    z = np.nan_to_num((rows[list(joint.features)].to_numpy(float) - joint.mean) / joint.scale)
    return np.linalg.norm(z - (z @ joint.components.T) @ joint.components, axis=1)


def _reason(value) -> str:
    return {"NoneType": "missing", "str": "wrong_type"}.get(
        type(value).__name__, "nan" if value != value else "inf")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    home = tmp_path_factory.mktemp("own-models")
    rng = np.random.default_rng(2026)
    baselines = {}
    (home / "baselines").mkdir()
    for name in MODELS:
        baselines[name] = Baseline.from_frame(frame(5000, np.random.default_rng(1)), name,
                                              categorical=["channel", "tier"])
        baselines[name].save(home / "baselines" / f"{name}.json")
    # a baseline from before the multivariate check: its file has no "multivariate" entry
    old = baselines["mv_break"].to_dict()
    del old["multivariate"]
    old["model_name"] = OLD
    old["baseline_id"] = content_id(old)
    (home / "baselines" / f"{OLD}.json").write_text(json.dumps(old))
    port = free_port()
    args = [sys.executable, "-m", "mlmon_nb.cli", "init", "--prometheus-url",
            f"http://127.0.0.1:{port}", "--alertmanager-url", "http://127.0.0.1:9",
            "--state-dir", "state", "-o", "mlmon.yaml"]
    for name in (*MODELS, OLD):
        args += ["--model", name, "--job", JOB, "--baseline", f"baselines/{name}.json"]
    done = subprocess.run(args, cwd=home, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    config = load_config(home / "mlmon.yaml")

    end = float(int(dt.datetime.now(dt.UTC).timestamp()) // 60 * 60)
    start, onset = end - (MINUTES - 1) * 60, end - (DRIFT_MINUTES - 1) * 60
    scrapes = Scrapes()
    monitors = {(name, r): ModelMonitor(name, model_version="2", registry=CollectorRegistry(),
                                        baseline=load_baseline(home / "baselines" / f"{name}.json"))
                for name in (*MODELS, OLD) for r in REPLICAS}
    errors: dict[str, list] = defaultdict(list)
    predictions = dict.fromkeys((*MODELS, OLD), 0)
    bad: dict[str, dict[str, int]] = {name: defaultdict(int) for name in (*MODELS, OLD)}
    case = {"mv_quiet": "quiet", "mv_break": "break", "mv_segment": "segment", "mv_shift": "shift",
            OLD: "break"}
    for minute in range(MINUTES):
        at = start + minute * 60
        for name in (*MODELS, OLD):
            rows = frame(2 * PER_REPLICA, rng, case[name] if at >= onset else "quiet")
            records = rows.to_dict("records")
            for i, row in enumerate(records):
                if rng.random() < 0.02:
                    value = BAD[rng.integers(len(BAD))]
                    row["clicks"] = value
                    rows.loc[i, "clicks"] = np.nan
                    bad[name][_reason(value)] += 1
                elif rng.random() < 0.01:
                    del row["tenure"]
                    rows.loc[i, "tenure"] = np.nan
                    bad[name]["missing_tenure"] += 1
                replica = REPLICAS[i % 2]
                monitors[(name, replica)].record_prediction("yes" if row["age"] > 40 else "no",
                                                            float(rng.uniform(0.5, 1)),
                                                            features=row)
            predictions[name] += len(records)
            if name in baselines:
                errors[name].append((at, numpy_errors(baselines[name], rows)))
        for (_, replica), monitor in monitors.items():
            scrapes.scrape(monitor.registry, at, replica)

    stack = Stack(config.with_ports({"prometheus": port}, state_dir=home / "state"))
    backfill(scrapes.chunks(), stack.tsdb)
    stack.up(["prometheus"], timeout=60)
    out = home / "generated"
    write_generated(config, out, baselines={})
    docs = [yaml.safe_load(p.read_text()) for p in sorted(out.rglob("*.yml"))]
    rules = [r for d in docs if d and "groups" in d for g in d["groups"] for r in g["rules"]]
    # each alert's warning condition (the multivariate alert has no other)
    alerts = {r["alert"]: r["expr"] for r in rules
              if "alert" in r and r.get("labels", {}).get("severity") == "warning"}
    try:
        with Prometheus(f"http://127.0.0.1:{port}", timeout=60) as prom:
            yield World(home / "mlmon.yaml", prom, baselines, end, onset, errors, predictions,
                        bad, [r for r in rules if "record" in r], alerts)
    finally:
        stack.down()


def _one(prom: Prometheus, expr: str, at: float) -> float:
    frame_ = prom.query(expr, time=at)
    assert len(frame_) == 1, (expr[:200], frame_)
    return float(frame_["value"].iloc[0])


def test_every_prediction_is_observed_and_every_bad_value_counted(world):
    for name in MODELS:
        observed = _one(world.prom, f'sum(ml_reconstruction_error_count{{model_name="{name}"}})',
                        world.end)
        assert observed == world.predictions[name]  # both replicas, no prediction lost
        counted = world.prom.query(f'sum by (feature, reason) (ml_feature_invalid_total'
                                   f'{{model_name="{name}"}})', time=world.end)
        got = {(r.feature, r.reason): r.value for r in counted.itertuples()}
        for reason in ("nan", "missing", "wrong_type", "inf"):
            assert got.get(("clicks", reason), 0) == world.bad[name][reason], (name, got)
        assert got.get(("tenure", "missing"), 0) == world.bad[name]["missing_tenure"]
        assert not [k for k in got if k[1] == "internal_error"], got


def _window(world: World, name: str, at: float) -> tuple[np.ndarray, float]:
    """The errors Prometheus' 1h increase at ``at`` counts (the minutes after the window's first
    sample: whether a sample on its left edge is in depends on the Prometheus version) and the
    span those samples cover."""
    samples = _one(world.prom, f'max(count_over_time(ml_reconstruction_error_count'
                               f'{{model_name="{name}"}}[1h]))', at)
    span = (samples - 1) * 60
    return np.concatenate([e for t, e in world.errors[name] if at - span < t <= at]), span


@pytest.mark.parametrize("name", MODELS)
def test_the_rules_equal_the_rerun_and_numpy_on_the_windows_errors(world, name):
    base = world.baselines[name]
    joint = base.multivariate
    by_record = {r["record"]: r for r in world.rules}
    mv = drift.multivariate_rules
    for at in (world.onset - 1800, world.end - 600):
        rerun = drift.window_reconstruction(world.prom, base, time=at, window="1h",
                                            model_name=name, alpha=0.01)
        for record, ours in ((mv.MV_KS_RULE, rerun.ks), (mv.MV_N_RULE, rerun.n),
                             (mv.MV_MEAN_RULE, rerun.mean),
                             (mv.MV_KS_CRITICAL_RULE, rerun.critical),
                             (mv.MV_MEAN_CRITICAL_RULE, rerun.mean_critical)):
            expr = inline(by_record[record]["expr"], world.rules)
            frame_ = world.prom.query(expr, time=at)
            value = float(frame_.loc[frame_["model_name"] == name, "value"].iloc[0])
            assert value == pytest.approx(ours, rel=1e-9, abs=1e-12), (record, at)
        # Prometheus extrapolates every bucket's increase by the same factor: the KS and the mean
        # are those of the errors the window holds, computed here from the stored numbers alone
        errors, span = _window(world, name, at)
        ks = np.max(np.abs(np.array([np.mean(errors <= e) for e in joint.edges])
                           - joint.cumulative))
        assert rerun.ks == pytest.approx(ks, abs=1e-9) and rerun.mean == pytest.approx(
            errors.mean(), rel=1e-9)
        assert rerun.n == pytest.approx(errors.size * 3600 / span, rel=1e-9)
        assert rerun.m == joint.n == 5000


def _holds(world: World, alert: str, name: str, at: float) -> bool:
    frame_ = world.prom.query(inline(world.alerts[alert], world.rules), time=at)
    return bool(len(frame_)) and name in set(frame_.get("model_name", []))


@pytest.mark.parametrize("name,multivariate,univariate", [
    ("mv_quiet", False, False), ("mv_break", True, False), ("mv_segment", True, False),
    ("mv_shift", None, True)])
def test_the_alerts_hold_where_the_data_drifted_and_nowhere_else(world, name, multivariate,
                                                                 univariate):
    # the alert's `for: 1h`: its condition at every 10 minutes of the last hour (and never
    # before the onset)
    last_hour = [world.end - 60 * m for m in range(0, 61, 10)]
    before = [world.onset - 60 * m for m in (10, 40, 70)]
    for at in before:
        assert not _holds(world, "MultivariateDriftDetected", name, at), at
        assert not _holds(world, "DataDriftDetected", name, at), at
    if multivariate is not None:
        assert all(_holds(world, "MultivariateDriftDetected", name, at) == multivariate
                   for at in last_hour)
    assert all(_holds(world, "DataDriftDetected", name, at) == univariate for at in last_hour)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_runbook(world: World, name: str) -> tuple[dict, nbformat.NotebookNode]:
    """``mlmon-nb run MultivariateDriftDetected`` for the model, as the alert that went pending
    10 minutes after the onset would have it fire an hour later."""
    cli = Path(sys.executable).parent / "mlmon-nb"
    done = subprocess.run(
        [str(cli), "--config", str(world.config_path), "run", "MultivariateDriftDetected",
         "--no-progress", "-p", "model_name", name, "-p", "starts_at",
         _iso(world.onset + 70 * 60), "-p", "end", _iso(world.end), "-p", "severity", "warning"],
        cwd=world.config_path.parent, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    notebook = Path(out.split("notebook: ")[1].split()[0])
    nb = nbformat.read(notebook, as_version=4)
    return read_summary(nb), nb


@pytest.mark.parametrize("name", ["mv_break", "mv_segment"])
def test_the_runbook_names_the_features_and_fires(world, name):
    summary, _ = run_runbook(world, name)
    assert summary["status"] == "firing", summary
    numbers = summary["numbers"]
    assert numbers["reconstruction KS"] > numbers["reconstruction KS critical"]
    assert numbers["reconstruction drifted (incident window)"] is True
    assert numbers["top residual feature"] in ("income", "spend"), numbers
    assert numbers["broken pair"] == "income–spend", numbers
    assert "income" in summary["verdict"] or "spend" in summary["verdict"], summary["verdict"]


def test_the_runbook_on_undrifted_traffic_does_not_say_firing(world):
    summary, _ = run_runbook(world, "mv_quiet")
    assert summary["status"] == "resolved", summary


def test_an_older_baseline_has_no_check_and_its_runbook_says_what_to_rebuild(world):
    # the service loads it and serves: no error histogram, the features still counted
    assert world.prom.query(f'ml_reconstruction_error_count{{model_name="{OLD}"}}',
                            time=world.end).empty
    counted = world.prom.query(f'sum(ml_feature_value_count{{model_name="{OLD}"}})',
                               time=world.end)
    assert float(counted["value"].iloc[0]) > 0
    summary, _ = run_runbook(world, OLD)
    assert summary["status"] == "no_data", summary
    assert "no joint structure" in summary["verdict"] and "mlmon-nb baseline build" in \
        summary["verdict"], summary["verdict"]
