"""The code's own checks, run by `make test` as by `make lint`: ruff, mypy, and the layer contracts
(`.importlinter`: no import cycle, the instrumentation light, the statistics pure, rule generation
free of I/O). Each reports what to fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [
    ["ruff", "check", "mlmon_nb", "tests", "benchmarks"],
    ["mypy"],
    ["lint-imports"],
], ids=["ruff", "mypy", "import-contracts"])
def test_the_code_passes_its_checks(command):
    proc = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
