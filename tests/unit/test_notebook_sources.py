"""Every notebook has a readable percent-format source next to it, in sync with it.

``notebooks/*.ipynb`` and ``runbooks/*.ipynb`` are paired with ``<name>.py`` (jupytext, pairing in
pyproject.toml); the .py is what linters and diffs read, the .ipynb what papermill runs. Re-sync
after editing either side: ``jupytext --sync notebooks/*.py runbooks/*.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

from mlmon_nb.errors import RunbookError
from mlmon_nb.rules import catalogue
from mlmon_nb.runbooks import Registry

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted([*(REPO / "notebooks").glob("*.ipynb"), *(REPO / "runbooks").glob("*.ipynb")])
SYNC = "jupytext --sync notebooks/*.py runbooks/*.py"


def cells(nb) -> list[tuple[str, str, list[str]]]:
    """What the pair must agree on: each cell's type, source and tags."""
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def test_every_notebook_and_runbook_is_covered():
    names = {p.relative_to(REPO).as_posix() for p in NOTEBOOKS}
    assert {f"runbooks/{name}.ipynb" for name in catalogue.ALERT_NAMES} <= names
    assert {f"notebooks/{n}.ipynb" for n in ("system_health", "model_quality", "resources",
                                             "drift", "drift_explorer", "slo_report")} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_paired_source_has_the_same_cells(path):
    source = path.with_suffix(".py")
    assert source.is_file(), f"{source.name} is missing; run `{SYNC}`"
    notebook = nbformat.read(path, as_version=4)
    text = jupytext.read(source, fmt="py:percent")
    assert cells(text) == cells(notebook), f"{path.name} and {source.name} differ; run `{SYNC}`"
    assert source.read_text().startswith("# %%")  # cells only: the .ipynb keeps the metadata
    assert any("parameters" in tags for _, _, tags in cells(text)), "no cell tagged parameters"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_notebooks_are_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, path.name


@pytest.mark.parametrize("spec", catalogue.CATALOGUE, ids=lambda s: s.name)
def test_each_runbook_is_headed_by_its_alerts_title_meaning_and_firing_rows(spec):
    """The header is generated from the catalogue (`mlmon-nb rules generate` rewrites it)."""
    first = jupytext.read(REPO / "runbooks" / f"{spec.name}.py", fmt="py:percent").cells[0]
    assert first.cell_type == "markdown"
    title, meaning, fires, *_ = first.source.split("\n\n")
    assert title == f"# Runbook: {spec.title} (`{spec.name}`)"
    assert meaning == spec.meaning
    assert fires == f"**Fires when** {catalogue.fires_when(spec)}."


def test_sources_are_not_runbooks():
    registry = Registry()
    assert registry.names() == sorted(catalogue.ALERT_NAMES)
    assert "HighErrorRate.py" not in registry
    for spec in ("runbooks/HighErrorRate.py", "HighErrorRate.py"):
        with pytest.raises(RunbookError, match="runbook"):
            registry.resolve(spec)


def test_sources_pass_ruff_for_real_errors():
    """Undefined names, syntax errors, unused imports: parameters come from the parameters
    cell, never from papermill injecting into the source."""
    sources = [str(p.with_suffix(".py")) for p in NOTEBOOKS]
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select",
                          "F,E9", *sources], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr
