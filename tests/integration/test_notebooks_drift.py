"""The drift notebooks, executed by papermill against the fixture Prometheus."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = ["drift", "drift_explorer"]


def _iso(unix: float) -> str:
    return pd.Timestamp(unix, unit="s", tz="UTC").isoformat()


def _run(name: str, out: Path, **params) -> nbformat.NotebookNode:
    pm.execute_notebook(str(REPO / "notebooks" / f"{name}.ipynb"), str(out), parameters=params,
                        kernel_name="python3", progress_bar=False, cwd=str(REPO))
    return nbformat.read(out, as_version=4)


def _outputs(nb, key: str) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", "") if key == "text" else o.get("data", {}).get(key, ""))
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_without_outputs_with_the_shared_parameters(name):
    path = REPO / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") and not c.get("execution_count")
               for c in nb.cells if c.cell_type == "code")
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    assert {"model_name", "prometheus_url", "start", "end", "window", "step",
            "baseline_path"} <= set(pm.inspect_notebook(str(path)))


def test_drift_notebook_over_the_drift_incident(prometheus, history, tmp_path):
    start, end = history.incidents["drift"]
    nb = _run("drift", tmp_path / "drift.ipynb", model_name=history.model_name,
              prometheus_url=prometheus, start=_iso(start - 6 * 3600), end=_iso(end),
              baseline_path=str(history.baseline_path))
    text = _outputs(nb, "text")
    # the demo's longer texts: text_length and word_count (which goes with it) drift most
    assert re.search(r"drift: (text_length|word_count) ", text) and "(critical)" in text
    assert _images(nb) >= 5  # KS grid, PSI grid, 3 distributions, sample sizes
    assert "sentiment_score" in _outputs(nb, "text/html")  # the ranked table


def test_drift_notebook_quiet_window_and_no_data(prometheus, history, tmp_path):
    start, _ = history.incidents["drift"]
    nb = _run("drift", tmp_path / "quiet.ipynb", model_name=history.model_name,
              prometheus_url=prometheus, end=_iso(start - 3600), window="6h",
              baseline_path=str(history.baseline_path))
    text = _outputs(nb, "text")
    assert "drift: " in text and "text_length ks" not in text
    empty = _run("drift", tmp_path / "empty.ipynb", model_name=history.model_name,
                 prometheus_url=prometheus, end=_iso(history.start - 86400), window="6h",
                 baseline_path=str(history.baseline_path))
    assert "no data in this window" in _outputs(empty, "text")


def test_drift_explorer_first_render(prometheus, history, tmp_path):
    start, end = history.incidents["drift"]
    nb = _run("drift_explorer", tmp_path / "explorer.ipynb", model_name=history.model_name,
              prometheus_url=prometheus, start=_iso(start), end=_iso(end),
              baseline_path=str(history.baseline_path))
    widgets = _outputs(nb, "application/vnd.jupyter.widget-view+json")
    assert "model_id" in widgets
    assert "psi against the baseline" in _outputs(nb, "text/html")  # the static snapshot
    assert "text_length" in _outputs(nb, "text/html")
