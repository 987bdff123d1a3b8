"""What generated rules cost a rule evaluator: rule files generated at a git ref, then loaded
into a real Prometheus (over backfilled blocks) or a real vmalert (over VictoriaMetrics) and
measured over several evaluation rounds. Used by ``bench_fleet.py`` and its test.

The evaluators load a copy of the rule files with every group's own ``interval`` removed, so
every group runs every 15 s and its cost per evaluation is measured in a minute, not once per
5 minutes; each group's own interval is kept (:attr:`RuleFiles.intervals`) to weigh it back.
A round is complete when every rule group has been evaluated once more since the last round;
the per-group durations of that round are summed (the time all rules take per evaluation), their
max taken (the slowest group), and their *load* computed: each group's duration × 15 s / its
own interval, summed — the evaluation time per 15 s the rules cost when each group runs at its
interval (a group every 1m counts a quarter). The first round is a warm-up and is left out.

Every group at 15 s on two cores makes the groups wait for each other: at 100 models and more
they ask for more CPU than there is, and each group's duration includes its waiting.
:func:`alone_costs` measures the work itself: the evaluator's rules stopped, each rule's
expression is evaluated as an instant query, one at a time, over the files several times, and
the engine's own timing (each rule's median) and sample count are kept. On Prometheus the query
runs at the last round's time (:func:`stop_rules`), over what the groups recorded, and reports
``stats=all``; on VictoriaMetrics it runs just after the history's end, each recording rule's
result written there first (:func:`vm_recorder`, since vmalert's groups may not have reached
the end of their chain), and reports its trace (``trace=1``).
Every wait has a deadline, and every process started here is stopped by its pid.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mlmon_nb.binaries import find_binary
from mlmon_nb.config import parse_duration
from mlmon_nb.promql import quote  # a label value's escaping is the exposition format's too
from mlmon_nb.stack import _terminate, free_port

__all__ = ["RuleFiles", "Rounds", "RuleCost", "source_tree", "generate_rules",
           "running_prometheus", "running_vmalert", "prometheus_rounds", "vmalert_rounds",
           "scrape", "query", "rule_times", "write_rule_times", "stop_rules", "alone_costs",
           "prometheus_read", "victoriametrics_read", "vm_recorder", "write_alone_costs",
           "ALONE_PASSES"]

EVAL_INTERVAL = 15.0
ALONE_PASSES = 3  # reads of each rule alone (:func:`alone_costs`), the median kept
_RULE = re.compile(rb"^\s*- (?:record|alert): ", re.M)
_GROUP = re.compile(rb"^- name: ", re.M)


@dataclass(frozen=True)
class RuleFiles:
    """Generated rule files: where, how big, how many groups and rules, how long it took."""

    directory: Path
    bytes: int
    groups: int
    rules: int
    seconds: float
    intervals: dict[str, float] = field(default_factory=dict)  # group -> its own interval (s)

    @property
    def files(self) -> list[Path]:
        """The files the evaluators load: the generated ones with every group at 15 s."""
        return sorted((self.directory.parent / "loaded").glob("*.yml"))


@dataclass
class Rounds:
    """Evaluation rounds of one evaluator: per round the summed and the max group duration."""

    sums: list[float] = field(default_factory=list)
    maxes: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    per_group: dict[str, list[float]] = field(default_factory=dict)
    groups: int = 0
    failures: float = 0.0
    missed: float = 0.0

    @property
    def median_sum(self) -> float:
        return statistics.median(self.sums) if self.sums else float("nan")

    @property
    def median_max(self) -> float:
        return statistics.median(self.maxes) if self.maxes else float("nan")

    @property
    def median_load(self) -> float:
        return statistics.median(self.loads) if self.loads else float("nan")

    def group_medians(self) -> dict[str, float]:
        """Each group's median duration per evaluation."""
        return {g: statistics.median(d) for g, d in sorted(self.per_group.items()) if d}


@dataclass(frozen=True)
class RuleCost:
    """One rule's expression evaluated alone: the engine's seconds and the samples it read, per
    evaluation, and its group's interval to weigh them per 15 s."""

    group: str
    rule: str
    interval: float
    samples: float
    reads: tuple[float, ...]  # the seconds of each read
    series: int = 0  # how many series it answered: 0 where what it reads was not there

    @property
    def seconds(self) -> float:
        """Seconds per evaluation: the median of the reads."""
        return statistics.median(self.reads)

    @property
    def weight(self) -> float:
        """Evaluations per 15 s at the group's own interval (a group every 1m: a quarter)."""
        return EVAL_INTERVAL / self.interval

    @property
    def per_interval(self) -> float:
        """Seconds per 15 s at the group's own interval."""
        return self.seconds * self.weight


def source_tree(ref_or_path: str, repo: Path, dest: Path) -> Path:
    """A checkout to generate rules with: ``ref_or_path`` itself when it is a directory (a work
    tree), else the files of that git ref extracted with ``git archive`` under ``dest`` (no
    worktree is registered, the repository is left as it is)."""
    if Path(ref_or_path).is_dir():
        return Path(ref_or_path).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest.with_suffix(".tar")
    with open(archive, "wb") as out:
        proc = subprocess.run(["git", "-C", str(repo), "archive", ref_or_path, "mlmon_nb"],
                              stdout=out, stderr=subprocess.PIPE, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"git archive {ref_or_path} failed: {proc.stderr.decode().strip()}")
    with tarfile.open(archive) as tar:  # the safe extraction filter where Python has it
        tar.extractall(dest, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    archive.unlink()
    return dest


def generate_rules(tree: Path, config: Path, out: Path, timeout: float) -> RuleFiles:
    """``mlmon-nb rules generate`` of the code in ``tree`` (a subprocess with ``PYTHONPATH`` on
    it) for ``config``, into ``out``; counts the result."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mlmon_nb.cli", "--config", str(config),
                           "rules", "generate", "-o", str(out)], env=env, cwd=config.parent,
                          capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"rule generation in {tree} failed: {proc.stderr.strip()[-800:]}")
    rules_dir = out / "rules"
    loaded = out / "loaded"
    loaded.mkdir(exist_ok=True)
    size = groups = rules = 0
    intervals: dict[str, float] = {}
    for path in sorted(rules_dir.glob("*.yml")):
        data = path.read_bytes()
        size += len(data)
        groups += len(_GROUP.findall(data))
        rules += len(_RULE.findall(data))
        doc = yaml.safe_load(data)
        for group in doc["groups"]:
            intervals[group["name"]] = parse_duration(group.pop("interval", EVAL_INTERVAL))
        (loaded / path.name).write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000))
    return RuleFiles(rules_dir, size, groups, rules, seconds, intervals)


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A ``/metrics`` page: sample name → [(labels, value)]."""
    text = requests.get(f"{url}/metrics", timeout=30).text
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    return out


def _one(samples: dict, name: str) -> float:
    values = samples.get(name) or []
    return float(sum(v for _, v in values)) if values else float("nan")


def query(url: str, promql: str, at: float | None = None, timeout: float = 60.0) -> list[dict]:
    """An instant query's result vector (now, or at ``at``)."""
    return _answer(requests, url, promql, at, timeout)["data"]["result"]


def _answer(http, url: str, promql: str, at: float | None, timeout: float,
            **extra: str) -> dict:
    """The whole answer to an instant query (now, or at ``at``), through ``http`` (``requests``
    or a session), with ``extra`` parameters (``stats``, ``trace``…); an error raises."""
    params = {"query": promql, **extra} | ({} if at is None else {"time": f"{at:.3f}"})
    body = http.get(f"{url}/api/v1/query", params=params, timeout=timeout).json()
    if body.get("status") != "success":
        raise RuntimeError(f"{url}: {promql[:200]!r}: {body}")
    return body


def rule_times(url: str, samples: int = 3, wait: float = EVAL_INTERVAL + 1.0
               ) -> list[tuple[str, str, float]]:
    """Each rule's evaluation time as Prometheus's ``/api/v1/rules`` reports it (its last
    evaluation), the median of ``samples`` reads ``wait`` seconds apart: (group, record or
    alert name, seconds), slowest first. Rules sharing a name (one per ``slo`` or variant) are
    listed once each, in their order in the group."""
    reads = []
    for i in range(samples):
        if i:
            time.sleep(wait)
        body = requests.get(f"{url}/api/v1/rules", timeout=60).json()
        reads.append([(group["name"], rule["name"], float(rule.get("evaluationTime", 0.0)))
                      for group in body["data"]["groups"] for rule in group["rules"]])
    out = [(g, n, statistics.median(r[i][2] for r in reads if len(r) == len(reads[0])))
           for i, (g, n, _) in enumerate(reads[0])]
    return sorted(out, key=lambda r: -r[2])


def write_rule_times(times: list[tuple[str, str, float]], path: Path) -> None:
    """``rule_times`` as a CSV (group, rule, seconds)."""
    _write_lines(path, "group,rule,seconds", (f"{g},{n},{t:.4f}" for g, n, t in times))


def _write_lines(path: Path, header: str, rows: Iterable[str]) -> None:
    path.write_text("\n".join([header, *rows]) + "\n")


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited; see {log}:\n{log.read_text()[-1500:]}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready within {timeout:.0f}s; see {log}")


@contextmanager
def _process(command: list[str], log: Path, ready_url: str, timeout: float) -> Iterator[None]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_http(ready_url, proc, log, timeout)
        yield
    finally:
        _terminate(proc.pid)
        proc.wait(timeout=30)


@contextmanager
def running_prometheus(blocks: Path, rules: RuleFiles, work: Path, timeout: float
                       ) -> Iterator[str]:
    """A real Prometheus over a copy of the backfilled ``blocks`` (hard links: blocks are
    immutable) evaluating ``rules`` every 15 s, scraping nothing; yields its URL."""
    tsdb = work / "tsdb"
    shutil.copytree(blocks, tsdb, copy_function=os.link)
    config = work / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"evaluation_interval": f"{EVAL_INTERVAL:g}s"},
        "rule_files": [str(p) for p in rules.files]}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [find_binary("prometheus"), f"--config.file={config}",
               f"--storage.tsdb.path={tsdb}", f"--web.listen-address=127.0.0.1:{port}",
               "--storage.tsdb.retention.time=100y", "--web.enable-lifecycle"]
    with _process(command, work / "prometheus.log", f"{url}/-/ready", timeout):
        yield url


@contextmanager
def running_vmalert(vm_url: str, rules: RuleFiles, work: Path, timeout: float) -> Iterator[str]:
    """A real vmalert evaluating ``rules`` every 15 s against VictoriaMetrics, writing recorded
    series back to it; yields its URL. Notifications go to a loopback port nothing listens on:
    delivering alerts is not what is measured."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = ["vmalert", *[f"-rule={p}" for p in rules.files], f"-datasource.url={vm_url}",
               f"-remoteWrite.url={vm_url}", f"-notifier.url=http://127.0.0.1:{free_port()}",
               f"-evaluationInterval={EVAL_INTERVAL:g}s", f"-httpListenAddr=127.0.0.1:{port}",
               "-loggerLevel=ERROR"]
    with _process(command, work / "vmalert.log", f"{url}/metrics", timeout):
        yield url


def stop_rules(url: str, config: Path, timeout: float) -> float:
    """Reload the Prometheus at ``url`` (started by :func:`running_prometheus` with ``config``)
    with no rule files, once it has run its rounds; returns the time to evaluate the rules at
    alone: one second after the groups' oldest last evaluation, when every recorded series the
    rules read still has a point."""
    last = scrape(url).get("prometheus_rule_group_last_evaluation_timestamp_seconds", [])
    at = min((v for _, v in last if v > 0), default=time.time()) + 1.0
    doc = yaml.safe_load(config.read_text())
    doc.pop("rule_files", None)
    config.write_text(yaml.safe_dump(doc))
    requests.post(f"{url}/-/reload", timeout=timeout).raise_for_status()
    deadline = time.monotonic() + timeout
    while requests.get(f"{url}/api/v1/rules", timeout=60).json()["data"]["groups"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} still evaluates rules {timeout:.0f}s after a reload")
        time.sleep(0.5)
    return at


Read = Callable[[requests.Session, str, str, float, float], tuple[float, float, float]]


def prometheus_read(session: requests.Session, url: str, expr: str, at: float,
                    timeout: float) -> tuple[float, float, float]:
    """``count(expr)`` at ``at`` on Prometheus: the engine's ``evalTotalTime``, its
    ``totalQueryableSamples`` and the count (``stats=all``)."""
    data = _answer(session, url, f"count(({expr}))", at, timeout, stats="all")["data"]
    stats = data["stats"]
    return (float(stats["timings"]["evalTotalTime"]),
            float(stats["samples"]["totalQueryableSamples"]), _count_of(data))


_FETCHED = re.compile(r"fetch unique series=\d+, blocks=\d+, samples=(\d+)")


def victoriametrics_read(session: requests.Session, url: str, expr: str, at: float,
                         timeout: float) -> tuple[float, float, float]:
    """``count(expr)`` at ``at`` on VictoriaMetrics, uncached, traced (``trace=1``): the
    query's own duration, the samples of the blocks it fetched (every fetch in the trace; a
    block holds more samples than a window may need, so this is not Prometheus's count) and the
    count."""
    body = _answer(session, url, f"count(({expr}))", at, timeout, trace="1", nocache="1")
    trace = body["trace"]
    samples, stack = 0.0, [trace]
    while stack:
        node = stack.pop()
        found = _FETCHED.search(node.get("message", ""))
        samples += float(found.group(1)) if found else 0.0
        stack += node.get("children") or []
    return float(trace["duration_msec"]) / 1000, samples, _count_of(body["data"])


def _count_of(data: dict) -> float:
    result = data["result"]
    return float(result[0]["value"][1]) if result else 0.0


def _rules_of(rules: RuleFiles) -> list[tuple[str, dict, float]]:
    """Every rule of the files in order: its group, the rule, the group's own interval."""
    return [(group["name"], rule, rules.intervals.get(group["name"], EVAL_INTERVAL))
            for path in rules.files for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"]]


def alone_costs(url: str, rules: RuleFiles, at: float, timeout: float,
                passes: int = ALONE_PASSES, read: Read = prometheus_read,
                record: Callable[[dict], None] | None = None) -> list[RuleCost]:
    """Each rule of ``rules`` evaluated alone at ``at`` (see :func:`stop_rules`): its
    expression as an instant query (``count(...)``, so the answer is one number), one query at
    a time, in the files' order, ``passes`` times over the whole files. Seconds are the median of
    the engine's timing over the passes (in one pass at 1,000 models, two rules doing the same
    work read 0.045 s and 0.187 s), samples what ``read`` reports; writing the result, which a
    group also does, is not counted. ``record``, where given, is called with each recording
    rule after its first read: it writes the rule's result at ``at`` where no group did, so the
    rules after it read it, as in a group."""
    queries = _rules_of(rules)
    seconds: list[list[float]] = [[] for _ in queries]
    samples = [0.0] * len(queries)
    answered = [0.0] * len(queries)
    with requests.Session() as session:
        for done in range(passes):
            for i, (_, rule, _) in enumerate(queries):
                took, samples[i], answered[i] = read(session, url, rule["expr"], at, timeout)
                seconds[i].append(took)
                if not done and record is not None and "record" in rule:
                    record(rule)
    return [RuleCost(group, rule.get("record") or rule["alert"], interval, n, tuple(s), int(c))
            for (group, rule, interval), s, n, c in zip(queries, seconds, samples, answered)]


def vm_recorder(url: str, at: float, timeout: float) -> Callable[[dict], None]:
    """A ``record`` for :func:`alone_costs` on VictoriaMetrics: the rule's result at ``at``
    (its name and ``labels`` set, as vmalert writes it) imported at ``at`` and flushed, so the
    next query reads it."""
    def record(rule: dict) -> None:
        result = query(url, rule["expr"], at, timeout)
        lines = []
        for item in result:
            labels = {**item["metric"], **(rule.get("labels") or {}), "__name__": rule["record"]}
            name = labels.pop("__name__")
            inner = ",".join(f"{k}={quote(v)}" for k, v in sorted(labels.items()))
            lines.append(f"{name}{{{inner}}} {item['value'][1]} {round(at * 1000)}")
        if lines:
            requests.post(f"{url}/api/v1/import/prometheus", data="\n".join(lines) + "\n",
                          timeout=timeout).raise_for_status()
            requests.get(f"{url}/internal/force_flush", timeout=timeout).raise_for_status()
    return record


def write_alone_costs(costs: list[RuleCost], path: Path) -> None:
    """``alone_costs`` as a CSV, costliest per 15 s first, with the fastest and slowest read."""
    _write_lines(path, "group,rule,interval,seconds,samples,seconds_per_15s,fastest,slowest,"
                       "series", (
        f"{c.group},{c.rule},{c.interval:g},{c.seconds:.5f},{c.samples:.0f},{c.per_interval:.5f},"
        f"{min(c.reads):.5f},{max(c.reads):.5f},{c.series}"
        for c in sorted(costs, key=lambda c: -c.per_interval)))


def group_of(label: str) -> str:
    """A group's name from an evaluator's label (Prometheus: ``file;name``)."""
    return label.rsplit(";", 1)[-1]


def _collect(url: str, per_group: Callable[[dict], dict[str, tuple[float, float]]],
             rounds: int, timeout: float, intervals: dict[str, float]) -> Rounds:
    """Poll ``url``'s metrics until ``rounds`` complete rounds after a warm-up one.

    ``per_group`` maps a scrape to group → (iterations so far, a duration measure); a round is
    taken when every group's iterations grew, with the durations the scrape shows then.
    """
    out = Rounds()
    deadline = time.monotonic() + timeout
    last: dict[str, float] | None = None
    warm = False
    while time.monotonic() < deadline and len(out.sums) < rounds:
        groups = per_group(scrape(url))
        if groups:
            counts = {g: n for g, (n, _) in groups.items()}
            if last is None:
                last = counts
            elif all(counts[g] > last.get(g, 0) for g in counts):
                if warm:
                    durations = {group_of(g): d for g, (_, d) in groups.items()}
                    out.sums.append(sum(durations.values()))
                    out.maxes.append(max(durations.values()))
                    out.loads.append(sum(d * EVAL_INTERVAL / intervals.get(g, EVAL_INTERVAL)
                                         for g, d in durations.items()))
                    for g, d in durations.items():
                        out.per_group.setdefault(g, []).append(d)
                warm, last = True, counts
            out.groups = len(groups)
        time.sleep(1.0)
    return out


def prometheus_rounds(url: str, rounds: int, timeout: float,
                      intervals: dict[str, float]) -> tuple[Rounds, dict]:
    """Rounds of Prometheus's rule groups (``prometheus_rule_group_last_duration_seconds``),
    with evaluation failures and missed iterations, and its last scrape."""
    def per_group(samples: dict) -> dict[str, tuple[float, float]]:
        its = {lab["rule_group"]: v for lab, v in samples.get(
            "prometheus_rule_group_iterations_total", [])}
        last = {lab["rule_group"]: v for lab, v in samples.get(
            "prometheus_rule_group_last_duration_seconds", [])}
        return {g: (its[g], last.get(g, float("nan"))) for g in its}

    out = _collect(url, per_group, rounds, timeout, intervals)
    final = scrape(url)
    out.failures = _one(final, "prometheus_rule_evaluation_failures_total")
    out.missed = _one(final, "prometheus_rule_group_iterations_missed_total")
    return out, final


def vmalert_rounds(url: str, rounds: int, timeout: float,
                   intervals: dict[str, float]) -> tuple[Rounds, dict]:
    """Rounds of vmalert's groups: each group's duration in a round is the growth of
    ``vmalert_iteration_duration_seconds_sum`` over that of its ``_count`` since the last round."""
    previous: dict[str, tuple[float, float]] = {}

    def per_group(samples: dict) -> dict[str, tuple[float, float]]:
        counts = {lab["group"]: v for lab, v in samples.get(
            "vmalert_iteration_duration_seconds_count", [])}
        sums = {lab["group"]: v for lab, v in samples.get(
            "vmalert_iteration_duration_seconds_sum", [])}
        out = {}
        for g, n in counts.items():
            n0, s0 = previous.get(g, (0.0, 0.0))
            out[g] = (n, (sums[g] - s0) / (n - n0) if n > n0 else float("nan"))
        if counts and all(counts[g] > previous.get(g, (-1.0, 0.0))[0] for g in counts):
            previous.update({g: (counts[g], sums[g]) for g in counts})
        return out

    out = _collect(url, per_group, rounds, timeout, intervals)
    final = scrape(url)
    out.failures = sum(v for name, values in final.items() if name.startswith("vmalert_")
                       and name.endswith("rules_errors_total") for _, v in values)
    return out, final
