"""The I/O edge of rule generation: baselines read from disk, generated files written and
checked (promtool, amtool, and ``vmalert -dryRun`` for the VictoriaMetrics backend), and
staleness against a fresh generation.

Layout of a generated folder (the repository's ``stack/``, the stack's state dir, or
``mlmon-nb rules generate -o DIR``): ``rules/{recording,slo,alerts,drift}.yml`` and
``alertmanager.yml``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Mapping

import yaml

from ..baseline import Baseline
from ..binaries import find_binary
from ..config import Config
from ..errors import RulesError, StackError
from .alertmanager import render_alertmanager
from .render import RULE_FILES, render_rule_files

__all__ = ["ALERTMANAGER_FILE", "RULES_DIR", "load_baselines", "write_generated", "check_files",
           "check_vmalert", "long_rules", "stale_files", "VM_DEFAULT_MAX_QUERY_BYTES"]

ALERTMANAGER_FILE = "alertmanager.yml"
RULES_DIR = "rules"
# VictoriaMetrics' default -search.maxQueryLen: longer rule expressions fail at evaluation there
VM_DEFAULT_MAX_QUERY_BYTES = 16 * 1024


def load_baselines(config: Config) -> dict[str, Baseline]:
    """Each model's baseline, loaded from its file; models without a baseline file are left out."""
    return {model.name: Baseline.load(config.baseline_path(model.name))
            for model in config.models if Path(config.baseline_path(model.name)).exists()}


def write_generated(config: Config, directory: str | Path, *, webhook_url: str | None = None,
                    baselines: Mapping[str, Baseline] | None = None, remove_other: bool = False,
                    **receivers: str) -> list[Path]:
    """Write the rule files to ``directory/rules/`` and ``alertmanager.yml`` to ``directory``.

    ``baselines`` default to the models' baseline files. Rule files of earlier generations that
    no longer apply (e.g. ``drift.yml``) are removed; with ``remove_other`` every other ``*.yml``
    under ``rules/`` too (the stack's state dir, whose ``rules/*.yml`` Prometheus loads whole).
    ``receivers`` are :func:`render_alertmanager`'s (see ``receivers_from_env``).
    """
    directory = Path(directory)
    rules_dir = directory / RULES_DIR
    rules_dir.mkdir(parents=True, exist_ok=True)
    baselines = load_baselines(config) if baselines is None else baselines
    files = render_rule_files(config, baselines=baselines)
    written = []
    for name, text in files.items():
        path = rules_dir / name
        path.write_text(text)
        written.append(path)
    leftovers = rules_dir.glob("*.yml") if remove_other else (rules_dir / n for n in RULE_FILES)
    for path in leftovers:
        if path.name not in files and path.exists():
            path.unlink()
    am = directory / ALERTMANAGER_FILE
    am.write_text(render_alertmanager(config, webhook_url=webhook_url, **receivers))
    written.append(am)
    return written


def _tool(name: str) -> str:
    try:
        return find_binary(name)
    except StackError as exc:
        raise RulesError(str(exc)) from None


def _rule_files(directory: Path) -> list[str]:
    rule_files = sorted(str(p) for p in (directory / RULES_DIR).glob("*.yml"))
    if not rule_files:
        raise RulesError(f"no rule files under {directory / RULES_DIR}; run "
                         f"`mlmon-nb rules generate`")
    return rule_files


def _run_check(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    report = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise RulesError(f"{Path(cmd[0]).name} failed:\n{report}")
    return report


def check_files(directory: str | Path, *, vmalert: bool = False) -> list[str]:
    """Check ``directory/rules/*.yml`` with promtool (lint fatal), ``alertmanager.yml`` with amtool,
    and with ``vmalert`` also the rules as vmalert reads them (:func:`check_vmalert`).

    Returns the tools' reports; raises :class:`RulesError` with their output when one fails.
    """
    directory = Path(directory)
    rule_files = _rule_files(directory)
    reports = [_run_check([_tool("promtool"), "check", "rules", "--lint=all", "--lint-fatal",
                           *rule_files]),
               _run_check([_tool("amtool"), "check-config", str(directory / ALERTMANAGER_FILE)])]
    if vmalert:
        reports.append(check_vmalert(directory))
    return reports


def check_vmalert(directory: str | Path) -> str:
    """``vmalert -dryRun`` over ``directory/rules/*.yml``: the groups, MetricsQL expressions and
    templates as vmalert parses them; a :class:`RulesError` with vmalert's words when it refuses.

    vmalert's dry run does not know which functions VictoriaMetrics implements, nor its query
    length limit: the report names the rules longer than VictoriaMetrics' default limit (they
    need ``-search.maxQueryLen``, which the stack's VictoriaMetrics sets)."""
    directory = Path(directory)
    files = _rule_files(directory)
    try:
        _run_check([_tool("vmalert"), "-dryRun", "-loggerLevel=ERROR",
                    *(f"-rule={f}" for f in files)])
    except RulesError as exc:  # vmalert logs one fatal line: keep what it says, not the log frame
        lines = [line.split("\t")[-1] for line in str(exc).splitlines() if "fatal" in line]
        raise RulesError("vmalert -dryRun refused the rules: " + ("; ".join(lines) or str(exc))
                         ) from None
    long = long_rules(directory)
    note = (f"; {len(long)} rule(s) longer than VictoriaMetrics' default -search.maxQueryLen="
            f"{VM_DEFAULT_MAX_QUERY_BYTES} (run it with a higher limit): {', '.join(long)}"
            if long else "")
    return f"vmalert -dryRun: {len(files)} rule files valid{note}"


def long_rules(directory: str | Path, limit: int = VM_DEFAULT_MAX_QUERY_BYTES) -> list[str]:
    """``file:group:rule`` of every rule whose expression is longer than ``limit`` bytes."""
    out = []
    for path in sorted((Path(directory) / RULES_DIR).glob("*.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                if len(str(rule.get("expr", "")).encode()) > limit:
                    name = rule.get("record") or rule.get("alert")
                    out.append(f"{path.name}:{group.get('name')}:{name}")
    return out


def stale_files(config: Config, directory: str | Path, *,
                baselines: Mapping[str, Baseline] | None = None) -> list[str]:
    """Generated files under ``directory`` that differ from a fresh generation (names only).

    ``baselines`` default to the models' baseline files.
    """
    directory = Path(directory)
    baselines = load_baselines(config) if baselines is None else baselines
    fresh = {f"{RULES_DIR}/{name}": text
             for name, text in render_rule_files(config, baselines=baselines).items()}
    fresh[ALERTMANAGER_FILE] = render_alertmanager(config)
    stale = [name for name, text in fresh.items()
             if not (directory / name).exists() or (directory / name).read_text() != text]
    stale += [f"{RULES_DIR}/{name}" for name in RULE_FILES
              if f"{RULES_DIR}/{name}" not in fresh and (directory / RULES_DIR / name).exists()]
    return sorted(stale)
