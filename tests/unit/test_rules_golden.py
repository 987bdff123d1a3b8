"""Golden files, one per generation stage: tests/golden/in-*.yaml → out-*-<stage>.yaml.

Regenerate after an intended change with ``MLMON_UPDATE_GOLDEN=1 pytest tests/unit/test_rules_golden.py``
and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from mlmon_nb import rules
from mlmon_nb.config import parse_config
from mlmon_nb.errors import RulesError
from mlmon_nb.promql.rule import groups_to_dicts
from mlmon_nb.slo import rules as rule_slo

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
INPUTS = sorted(GOLDEN.glob("in-*.yaml"))
STAGES = {"recording": rules.recording_groups, "slo": rule_slo.slo_groups,
          "alerts": lambda config: rules.alert_groups(config, baselines={})}


def _config(path: Path):
    return parse_config(yaml.safe_load(path.read_text()), path)


def test_validate_accepts_the_golden_inputs_and_refuses_a_broken_one():
    for path in INPUTS:
        rules.validate(_config(path))
    broken = yaml.safe_load(INPUTS[0].read_text())
    broken["models"][0]["slos"]["latency"]["threshold_seconds"] = 0.12
    with pytest.raises(RulesError, match="model ranker: the latency SLO threshold 0.12s"):
        rules.validate(parse_config(broken, INPUTS[0]))


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("source", INPUTS, ids=lambda p: p.stem)
def test_stage_matches_golden(source, stage):
    out = GOLDEN / f"{source.stem.replace('in-', 'out-', 1)}-{stage}.yaml"
    text = yaml.safe_dump({"groups": groups_to_dicts(STAGES[stage](_config(source)))},
                          sort_keys=False, width=10_000)
    if os.environ.get("MLMON_UPDATE_GOLDEN"):
        out.write_text(text)
    assert out.exists(), f"{out} is missing; run with MLMON_UPDATE_GOLDEN=1"
    assert text == out.read_text(), f"{out.name} differs; review, then MLMON_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("source", INPUTS, ids=lambda p: p.stem)
def test_golden_outputs_pass_promtool(source, tmp_path):
    import subprocess
    files = []
    for stage in STAGES:
        path = tmp_path / f"{stage}.yml"
        path.write_text((GOLDEN / f"{source.stem.replace('in-', 'out-', 1)}-{stage}.yaml").read_text())
        files.append(str(path))
    proc = subprocess.run(["promtool", "check", "rules", "--lint=all", "--lint-fatal", *files],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
