"""Detection latency of every alert: incident condition → firing, by promtool, for two rule sets.

Runs the incident scenarios of ``tests/alert_scenarios.py`` (the ones the suite checks) against
the committed rule files (``stack/rules``) and against another set — by default the rule files of
a git revision (``--against main``) — and prints a Markdown table: the seconds from the moment
each alert's condition starts holding to its first firing evaluation.

    PYTHONPATH=$PWD python benchmarks/alert_latency.py [--against REV | --against-dir DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from alert_scenarios import SCENARIOS, Scenario, first_firing  # noqa: E402 - tests/ on the path first
from promtool_support import RULES  # noqa: E402

from mlmon_nb.config import parse_duration  # noqa: E402
from mlmon_nb.rules import RULE_FILES  # noqa: E402


def rules_at(revision: str, directory: Path) -> Path:
    """The committed rule files of ``revision`` written to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in RULE_FILES:
        proc = subprocess.run(["git", "-C", str(REPO), "show", f"{revision}:stack/rules/{name}"],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            (directory / name).write_text(proc.stdout)
    return directory


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds == 0:
        return "0"
    return f"{seconds / 60:g} min" if seconds % 60 == 0 else f"{seconds:g} s"


def latency(scenario: Scenario, rules_dir: Path, work: Path) -> float | None:
    fired = first_firing(scenario, work, rules_dir)
    return None if fired is None else fired - parse_duration(scenario.start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="main", help="git revision to compare with")
    parser.add_argument("--against-dir", type=Path, help="a folder of rule files instead")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        other = args.against_dir or rules_at(args.against, work / "against")
        label = str(args.against_dir) if args.against_dir else args.against
        print(f"| alert (window) | severity | incident | for | {label} | now | change | bound |")
        print("|---|---|---|---|---|---|---|---|")
        worst = 0.0
        for i, s in enumerate(SCENARIOS):
            before = latency(s, other, work / f"{i}-before")
            now = latency(s, RULES, work / f"{i}-now")
            change = (now - before) if now is not None and before is not None else None
            if change is not None:
                worst = max(worst, change)
            window = s.labels.get("long_window")
            alert = f"`{s.alert}` ({window})" if window else f"`{s.alert}`"
            print(f"| {alert} | {s.severity} | {s.name} | {s.for_} | {_fmt(before)} | "
                  f"{_fmt(now)} | {'+' if change and change > 0 else ''}"
                  f"{_fmt(change) if change else '0'} | {_fmt(s.bound_seconds())} |", flush=True)
        print(f"\nLargest increase: {_fmt(worst) if worst else '0'} (scenarios: "
              f"tests/alert_scenarios.py; bound: for + 2 evaluation intervals).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
