"""The I/O edge of rule generation: baselines read from disk, generated files written and
checked (promtool, amtool), and staleness against a fresh generation.

Layout of a generated folder (the repository's ``stack/``, the stack's state dir, or
``mlmon-nb rules generate -o DIR``): ``rules/{recording,slo,alerts,drift}.yml`` and
``alertmanager.yml``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Mapping

from ..baseline import Baseline
from ..binaries import find_binary
from ..config import Config
from ..errors import RulesError, StackError
from .alertmanager import render_alertmanager
from .render import RULE_FILES, render_rule_files

__all__ = ["ALERTMANAGER_FILE", "RULES_DIR", "load_baselines", "write_generated", "check_files",
           "stale_files"]

ALERTMANAGER_FILE = "alertmanager.yml"
RULES_DIR = "rules"


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


def check_files(directory: str | Path) -> list[str]:
    """Check ``directory/rules/*.yml`` with promtool (lint fatal), ``alertmanager.yml`` with amtool.

    Returns the tools' reports; raises :class:`RulesError` with their output when one fails.
    """
    directory = Path(directory)
    rule_files = sorted(str(p) for p in (directory / RULES_DIR).glob("*.yml"))
    if not rule_files:
        raise RulesError(f"no rule files under {directory / RULES_DIR}; run "
                         f"`mlmon-nb rules generate`")
    commands = [[_tool("promtool"), "check", "rules", "--lint=all", "--lint-fatal", *rule_files],
                [_tool("amtool"), "check-config", str(directory / ALERTMANAGER_FILE)]]
    reports = []
    for cmd in commands:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        report = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            raise RulesError(f"{Path(cmd[0]).name} failed:\n{report}")
        reports.append(report)
    return reports


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
