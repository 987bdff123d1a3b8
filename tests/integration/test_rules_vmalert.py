"""The generated rules on vmalert: valid for it (`vmalert -dryRun`), and on the same backfilled
history the recording rules it evaluates give Prometheus's values, within the documented
difference (VictoriaMetrics' `rate`/`increase` do not extrapolate to the window's edges).

vmalert replays the recording rules over two hours of the `history` fixture imported into
VictoriaMetrics (`-replay.timeFrom/-replay.timeTo`: one range query per rule, results written
back; a rule that reads records after they are searchable); Prometheus's value of a rule at the
same timestamps is its expression with the recording rules it reads inlined, over the same history
in the fixture Prometheus (what its rule evaluation computes, step by step). The evaluations fall
half a step after the history's samples, as live evaluations fall between scrapes, so Prometheus
extrapolates and VictoriaMetrics does not.
"""

from __future__ import annotations

import functools
import json
import re
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import yaml
from promql_inline import inline
from victoria_support import running_victoriametrics

from mlmon_nb.binaries import find_binary
from mlmon_nb.cli import main
from mlmon_nb.config import parse_duration
from mlmon_nb.errors import RulesError
from mlmon_nb.estimated.rules import (
    SLOPE_COVARIATES,
    VERSION_SCOPE,
    VERSION_WINDOWS,
    slope_distance,
)
from mlmon_nb.metrics import (
    CALIBRATION_MEAN,
    CALIBRATION_MEAN_PURITY,
    CALIBRATION_PURITY_SLOPE,
    CALIBRATION_SCALING,
    PURITY,
    SCALED_CONFIDENCE,
)
from mlmon_nb.promql.names import ESTIMATED_ACCURACY_WINDOWS
from mlmon_nb.promql.rule import names_read
from mlmon_nb.rules.files import (
    RULES_DIR,
    VM_DEFAULT_MAX_QUERY_BYTES,
    check_files,
    check_vmalert,
    long_rules,
    write_generated,
)
from mlmon_nb.stack.backends import VM_MAX_QUERY_BYTES

pytestmark = pytest.mark.integration

STEP = 60  # the history's step; the replay's evaluation interval


@pytest.fixture(scope="module")
def rules_dir(history, tmp_path_factory) -> Path:
    """The rules generated for the history's configuration (the fixture Prometheus loads these)."""
    out = tmp_path_factory.mktemp("vmalert-rules")
    write_generated(history.config, out, baselines={history.model_name: history.baseline})
    return out


def test_generated_rules_pass_vmalert_dry_run(rules_dir):
    reports = check_files(rules_dir, vmalert=True)
    assert reports[-1] == "vmalert -dryRun: 4 rule files valid", reports[-1]
    # the label-generic rules stay under VictoriaMetrics' default query length limit
    assert long_rules(rules_dir) == []
    biggest = max(len(str(r["expr"]).encode()) for r in _rules(rules_dir))
    assert biggest < VM_DEFAULT_MAX_QUERY_BYTES < VM_MAX_QUERY_BYTES


def test_rules_over_the_default_query_length_are_named(tmp_path):
    (tmp_path / RULES_DIR).mkdir()
    expr = " + ".join(["sum(rate(ml_requests_total[5m]))"] * 600)  # about 20 KiB
    (tmp_path / RULES_DIR / "long.yml").write_text(yaml.safe_dump(
        {"groups": [{"name": "g", "rules": [{"record": "a:b", "expr": expr}]}]}))
    report = check_vmalert(tmp_path)
    assert long_rules(tmp_path) == ["long.yml:g:a:b"]
    assert "1 rule(s) longer than VictoriaMetrics' default -search.maxQueryLen=16384" in report


def test_vmalert_dry_run_names_what_it_refuses(rules_dir, tmp_path):
    broken = tmp_path / RULES_DIR
    broken.mkdir()
    (broken / "x.yml").write_text(
        "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: rate(x[5m]\n")
    with pytest.raises(RulesError, match=r"vmalert -dryRun refused the rules: .*\"a:b\".*"
                                         r"unexpected token"):
        check_vmalert(tmp_path)


def test_cli_rules_check_with_vmalert(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLMON_STATE_DIR", str(tmp_path / "state"))  # the demo baseline goes here
    assert main(["rules", "generate", "--out", str(tmp_path)]) == 0
    assert main(["rules", "check", "--vmalert", "--dir", str(tmp_path)]) == 0
    assert "vmalert -dryRun: 4 rule files valid" in capsys.readouterr().out
    (tmp_path / RULES_DIR / "recording.yml").write_text(
        "groups:\n- name: g\n  rules:\n  - record: a:b\n    expr: sum(x) by (\n")
    # promtool refuses it first; vmalert's own words are checked above
    assert main(["rules", "check", "--vmalert", "--dir", str(tmp_path)]) == 2


def _rules(directory: Path) -> list[dict]:
    return [rule for path in sorted((directory / RULES_DIR).glob("*.yml"))
            for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def _records(directory: Path) -> dict[str, list[dict]]:
    records: dict[str, list[dict]] = {}
    for rule in _rules(directory):
        if "record" in rule:
            records.setdefault(rule["record"], []).append(rule)
    return records


@dataclass(frozen=True)
class Replay:
    url: str
    start: float
    end: float


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _reads(rule: dict, names: set[str]) -> set[str]:
    """The records among ``names`` that ``rule``'s expression reads."""
    return names_read(rule["expr"], names - {rule["record"]})


def replay_levels(directory: Path, out: Path) -> list[tuple[Path, list[dict]]]:
    """The recording rules split by how deep they read other records: level 0 reads only
    scraped series, level k a record of level k − 1 at most. One rule file per level, each rule
    in a group named and timed as its own (``<group>@<level>``), and the level's rules."""
    groups = [g for path in sorted((directory / RULES_DIR).glob("*.yml"))
              for g in yaml.safe_load(path.read_text())["groups"]]
    rules = [(g, r) for g in groups for r in g["rules"] if "record" in r]
    names = {r["record"] for _, r in rules}
    reads: dict[str, set[str]] = {}  # a record's rules may be several (per-model overrides)
    for _, rule in rules:
        reads.setdefault(rule["record"], set()).update(_reads(rule, names))

    @functools.cache
    def level(record: str) -> int:
        return 1 + max((level(n) for n in reads[record]), default=-1)

    files = []
    for depth in range(max(map(level, reads)) + 1):
        chosen: dict[str, dict] = {}
        for group, rule in rules:
            if level(rule["record"]) == depth:
                name = f"{group['name']}@{depth}"
                chosen.setdefault(name, {k: v for k, v in group.items() if k != "rules"}
                                  | {"name": name, "rules": []})["rules"].append(rule)
        path = out / f"level{depth}.yml"
        path.write_text(yaml.safe_dump({"groups": list(chosen.values())}, sort_keys=False))
        files.append((path, [r for g in chosen.values() for r in g["rules"]]))
    return files


def test_replay_levels_put_every_record_after_what_it_reads(rules_dir, tmp_path):
    levels = replay_levels(rules_dir, tmp_path)
    records = _records(rules_dir)
    written: set[str] = set()
    for _, rules in levels:
        for rule in rules:
            assert _reads(rule, set(records)) <= written, rule["record"]
        written |= {r["record"] for r in rules}
    assert written == set(records) and len(levels) > 2
    assert sum(len(rules) for _, rules in levels) == sum(map(len, records.values()))


@pytest.fixture(scope="module")
def replay(history, rules_dir, tmp_path_factory) -> Replay:
    """VictoriaMetrics over the history, with vmalert's replay of the recording rules from an
    hour before the end of the drift incident, for two hours.

    A rule reading a series another rule wrote a moment before may find it not yet searchable,
    or only part of it, and then writes nothing or a sum of what it found. So the rules are
    replayed level by level (``replay_levels``), one vmalert per level, and the next level starts
    once every sample vmalert says it wrote is in VictoriaMetrics; within a level no rule reads
    another."""
    start = float(int(history.incidents["drift"][1] - 3600) // STEP * STEP) + OFFSET
    end = float(int(min(history.incidents["latency"][0] + 3600, history.end - 600,
                        start + 2 * 3600)) // STEP * STEP) + OFFSET
    levels = replay_levels(rules_dir, tmp_path_factory.mktemp("vm-replay-levels"))
    with running_victoriametrics(history.chunks, tmp_path_factory.mktemp("vm-replay"),
                                 history.end) as url:
        for path, rules in levels:
            proc = subprocess.run(
                [find_binary("vmalert"), f"-rule={path}",
                 f"-datasource.url={url}", f"-remoteWrite.url={url}",
                 f"-replay.timeFrom={_rfc3339(start)}", f"-replay.timeTo={_rfc3339(end)}",
                 f"-evaluationInterval={STEP}s",
                 # the replay's resolution (5m by default): one value per evaluation step
                 f"-datasource.queryStep={STEP}s", "-replay.disableProgressBar",
                 "-remoteWrite.flushInterval=200ms", "-replay.rulesDelay=0s",
                 "-loggerLevel=INFO"], capture_output=True, text=True, timeout=900)
            output = proc.stdout + proc.stderr
            failures = [line for line in output.splitlines()
                        if "\terror\t" in line or "\tfatal\t" in line]
            assert proc.returncode == 0 and not failures, failures[:5] or proc.stderr[-2000:]
            imported = re.search(r"replay finished! Imported (\d+) samples", output)
            assert imported, output[-2000:]
            stored = _stored_when_complete(url, {r["record"] for r in rules},
                                           int(imported[1]))
            assert stored == int(imported[1]), (path.name, stored, imported[0])
        yield Replay(url, start, end)


def _stored_when_complete(url: str, records: set[str], expected: int,
                          within: float = 60.0) -> int:
    """The samples of ``records`` VictoriaMetrics holds, waiting up to ``within`` seconds for
    the ``expected`` ones just written to become searchable."""
    requests.get(f"{url}/internal/force_flush", timeout=30)
    pattern = "|".join(re.escape(r) for r in sorted(records))
    deadline = time.monotonic() + within
    while True:
        response = requests.post(f"{url}/api/v1/export", timeout=120,
                                 data={"match[]": f'{{__name__=~"{pattern}"}}'})
        response.raise_for_status()
        stored = sum(len(json.loads(line)["timestamps"])
                     for line in response.text.splitlines() if line)
        if stored >= expected or time.monotonic() > deadline:
            return stored
        time.sleep(0.5)


def _range(url: str, promql: str, start: float, end: float) -> dict[tuple, dict[float, float]]:
    response = requests.post(f"{url}/api/v1/query_range", timeout=120, data={
        "query": promql, "start": start, "end": end, "step": STEP})
    assert response.status_code == 200, (promql[:300], response.text[:500])
    return {_labels(r): {float(t): float(v) for t, v in r["values"]}
            for r in response.json()["data"]["result"]}


def _labels(result: dict) -> tuple:
    """A query result's series as its sorted labels, without the metric name."""
    return tuple(sorted((k, v) for k, v in result["metric"].items() if k != "__name__"))


def _selector(rule: dict) -> str:
    labels = ",".join(f'{k}="{v}"' for k, v in sorted((rule.get("labels") or {}).items()))
    return f"{rule['record']}{{{labels}}}"


OFFSET = STEP / 2  # evaluations half a step after the samples, as live ones fall between scrapes
_WINDOW = re.compile(r"\[(\d+[smhdw])\]")
# a rate or increase of one counter, summed: the case whose difference has a closed bound
_ONE_COUNTER = re.compile(r"^sum by \([\w, ]+\) \((rate|increase)\(\w+(\{[^}]*\})?\[\w+\]\)\)$")


FLOAT_NOISE = 1e-12  # a Wilson lower bound of a zero ratio is 0 ± a few ulp, either sign


def _rel(a: float, b: float) -> float:
    """The relative difference; values both within float noise of 0 are equal (a bound that
    is mathematically 0 comes out as 0 on one engine and 1e-19 on the other: 100% apart)."""
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale > FLOAT_NOISE else 0.0


@dataclass
class Verdict:
    """One recording rule compared: its kind, the points, their relative differences."""

    name: str
    kind: str
    points: int = 0
    median: float = 0.0
    max: float = 0.0
    bound: float | None = None
    ok: bool = True


# the records only a curve fitted with the class scores has (the slopes' distances)
_SCORED_RECORDS = ({slope_distance(w, c) for w in ESTIMATED_ACCURACY_WINDOWS
                    for c in SLOPE_COVARIATES}
                   | {VERSION_SCOPE.name(slope_distance(w, c)) for w in VERSION_WINDOWS
                      for c in SLOPE_COVARIATES})
# … and the series only its service exports (counters and curve), each read recorded once per
# group (their sums, their maxima across replicas)
_SCORED_SERIES = (PURITY.name, SCALED_CONFIDENCE.name, CALIBRATION_SCALING.name,
                  CALIBRATION_PURITY_SLOPE.name, CALIBRATION_MEAN.name, CALIBRATION_MEAN_PURITY.name)


def _judge(rule: dict, inlined: str, vm: dict, prom: dict, history_start: float) -> Verdict:
    """Compare one rule's values; the bound depends on its kind (README, VictoriaMetrics):

    - one counter's rate/increase over a window the history covers: VictoriaMetrics takes the
      exact difference from the sample before the window, Prometheus extrapolates the samples
      inside it by up to half a step at each edge: median |Δ| ≤ step / window (a steady counter
      stays under it at every point; a sparse one, a bucket with a few values an hour, differs
      by its whole count where one increment falls between the window's edge and its first
      sample);
    - the same over a window reaching before the history's first sample (3d, 30d here): Prometheus
      divides by the window, VictoriaMetrics by the time its samples cover: ratio window / covered;
    - anything built on those (ratios, quantiles, drift): median |Δ| ≤ 2 · step / window;
    - a window of one step (1m): Prometheus has one sample in it and no value; VictoriaMetrics
      reaches back to the sample before, so only it has values.
    """
    windows = [parse_duration(w) for w in _WINDOW.findall(inlined)]
    name = rule["record"]
    if not vm and not prom:  # nothing to compare: a per-version rule on one version's history,
        # or a record of curves fitted with the class scores (the history's curve has none)
        return Verdict(name, "empty on both", ok=name.startswith("model_name_model_version")
                       or name in _SCORED_RECORDS or name.split(":")[1] in _SCORED_SERIES)
    diffs = {(labels, t): _rel(vm[labels][t], prom[labels][t])
             for labels in set(vm) & set(prom) for t in set(vm[labels]) & set(prom[labels])}
    if windows and min(windows) <= STEP:
        return Verdict(name, "one-step window", len(diffs), ok=not diffs and bool(vm))
    if not diffs:
        return Verdict(name, "missing", ok=False)
    values = list(diffs.values())
    verdict = Verdict(name, "derived", len(values), statistics.median(values), max(values))
    if not windows:  # constants (objectives): the same numbers
        verdict.kind, verdict.bound = "no window", 1e-9
        verdict.ok = verdict.max <= verdict.bound
        return verdict
    widest = max(windows)
    if _ONE_COUNTER.match(rule["expr"]):
        covered = {k: d for k, d in diffs.items() if k[1] - widest >= history_start + STEP}
        if covered:
            verdict.kind, verdict.bound = "one counter", STEP / widest
            verdict.ok = statistics.median(covered.values()) <= verdict.bound
            return verdict
        if "rate(" in rule["expr"]:
            verdict.kind = "rate beyond the history"
            verdict.ok = all(abs(vm[labels][t] / prom[labels][t] / (widest / (t - history_start))
                                 - 1) < 0.05 for labels, t in diffs)
            return verdict
    if name.endswith(":ml_slo_error_budget_remaining:ratio"):
        # 1 − ratio / (1 − objective): near zero its relative difference is not the input's
        verdict.kind = "error budget (checked through its ratio)"
        return verdict
    covered = min(t for _, t in diffs) - history_start  # the history a window can reach
    verdict.bound = 2 * STEP / min(min(windows), covered)
    verdict.ok = verdict.median <= verdict.bound
    return verdict


def _as_prometheus_evaluates(rule: dict, rules: list[dict]) -> str:
    """The rule's expression with the recording rules it reads inlined, and its static labels
    set (seed names such as ``ml_data_drift_score`` have no colon for the inliner to find)."""
    expr = f"({inline(rule['expr'], rules)})"
    for label, value in (rule.get("labels") or {}).items():
        expr = f'label_replace({expr}, "{label}", "{value}", "", "")'
    return expr


CHAIN_STEP = 300  # the chained counts' resolution: one 5m increase each
_CHAIN_RANGE = re.compile(r"\[\d+s:5m\]")
# each chained 5m count's own range, a millisecond wider: it then holds the sample at its start on
# Prometheus 3 too (whose ranges exclude their start; 2.x's include it), so on the history's
# minute-aligned samples each count is its slot's exact increase, as VictoriaMetrics' is
_SLOT_RANGE, _SLOT_WITH_START = re.compile(r"\[5m\]"), f"[{CHAIN_STEP * 1000 + 1}ms]"


def _chained(rules: list[dict]) -> set[str]:
    """The records that sum the 5m counts recorded every 5m (``…_chain``), or read one that
    does."""
    out = {r["record"] for r in rules if "record" in r and re.search(r"_chain[\[{]", r["expr"])}
    while True:
        more = {r["record"] for r in rules if "record" in r and r["record"] not in out
                and _reads(r, out)}
        if not more:
            return out
        out |= more


def _judge_chained(rule: dict, inlined: str, vm: dict, prometheus: str, replay: Replay) -> Verdict:
    """A chained window sums 5m counts recorded since the rules run: in the replay, since its
    start. Prometheus's value over the same span: the inlined expression with each chained sum's
    range cut to the replayed span, at the replay's last evaluation. The sum's edges fall on 5m
    counts, not on the history's steps, so each edge may be one count apart: a sparse counter
    (three slow requests in two hours) differs by a whole event there. So VictoriaMetrics' value
    must lie among Prometheus's with each edge moved by up to one count, and the relative
    difference beyond them stay within 2 · 5m / span. Each 5m count's range holds its slot's
    first sample (``_SLOT_WITH_START``), as on Prometheus 2: on Prometheus 3 each count would
    otherwise extrapolate four of its five minutes, and a sparse counter's sum (a few errors in
    two hours) would differ from the exact count by a whole event per slot, not per edge."""
    last = max((t for values in vm.values() for t in values), default=None)
    if last is None:
        return Verdict(rule["record"], "chained (replayed span)", ok=False)
    span = int(last - replay.start)
    around: dict[tuple, list[float]] = {}
    for end in (last - CHAIN_STEP, last):
        for begin in (replay.start - CHAIN_STEP, replay.start, replay.start + CHAIN_STEP):
            cut = _SLOT_RANGE.sub(_SLOT_WITH_START,
                                  _CHAIN_RANGE.sub(f"[{int(end - begin)}s:5m]", inlined))
            body = requests.get(f"{prometheus}/api/v1/query", params={"query": cut, "time": end},
                                timeout=120).json()
            for r in body["data"]["result"]:
                around.setdefault(_labels(r), []).append(float(r["value"][1]))
    diffs = [_outside(vm[labels][last], around[labels]) for labels in set(vm) & set(around)
             if last in vm[labels]]
    verdict = Verdict(rule["record"], "chained (replayed span)", len(diffs),
                      statistics.median(diffs) if diffs else 0.0, max(diffs, default=0.0),
                      2 * CHAIN_STEP / span)
    verdict.ok = bool(diffs) and verdict.median <= verdict.bound
    return verdict


def _outside(value: float, values: list[float]) -> float:
    """How far ``value`` lies outside the range of ``values``, relatively (0 inside)."""
    low, high = min(values), max(values)
    if low <= value <= high:
        return 0.0
    return _rel(value, low if value < low else high)


@pytest.mark.timeout(1200)  # the replay: one range query per rule, a level at a time
def test_recording_rules_on_vmalert_match_prometheus(replay, rules_dir, prometheus, history):
    records = _records(rules_dir)
    every = _rules(rules_dir)
    chained = _chained(every)
    verdicts = []
    for rules in records.values():
        for rule in rules:
            inlined = _as_prometheus_evaluates(rule, every)
            vm = _range(replay.url, _selector(rule), replay.start, replay.end)
            if rule["record"] in chained and not rule["record"].endswith(
                    ":ml_slo_error_budget_remaining:ratio"):  # checked through its ratio
                verdicts.append(_judge_chained(rule, inlined, vm, prometheus, replay))
                continue
            prom = _range(prometheus, inlined, replay.start, replay.end)
            verdicts.append(_judge(rule, inlined, vm, prom, history.start))
    print(f"\n{len(verdicts)} recording rules")
    for v in sorted(verdicts, key=lambda v: (v.kind, -v.median)):
        bound = f"{v.bound:.4f}" if v.bound is not None else "-"
        print(f"  {v.kind:<42}{v.name:<72}n={v.points:<5} median {v.median:.4f} "
              f"max {v.max:.4f} bound {bound} {'ok' if v.ok else 'FAILS'}")
    assert all(v.ok for v in verdicts), [v for v in verdicts if not v.ok]
    kinds = {v.kind for v in verdicts}
    # the windows that reach before the history (3d, 30d) are chained: no raw rate beyond it
    assert {"one counter", "derived", "one-step window", "chained (replayed span)"} <= kinds
