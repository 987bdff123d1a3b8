"""The dashboard notebooks, executed by papermill against the fixture Prometheus."""

from __future__ import annotations

from pathlib import Path

import nbformat
import papermill as pm
import pandas as pd
import pytest

from mlmon_nb.plots import export_html

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
DASHBOARDS = ["system_health"]


def _iso(unix: float) -> str:
    return pd.Timestamp(unix, unit="s", tz="UTC").isoformat()


def _run(name: str, out: Path, **params) -> nbformat.NotebookNode:
    pm.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=params,
                        kernel_name="python3", progress_bar=False, cwd=str(REPO))
    return nbformat.read(out, as_version=4)


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts.append(data.get("text/plain", "") + data.get("text/markdown", ""))
    return "\n".join(parts)


def _images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("name", DASHBOARDS)
def test_committed_without_outputs_and_parameters_tagged(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") and not c.get("execution_count")
               for c in nb.cells if c.cell_type == "code")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = pm.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    assert {"model_name", "prometheus_url", "start", "end", "window", "step"} <= set(params)


def test_system_health_during_error_incident(prometheus, history, tmp_path):
    start, end = history.incidents["errors"]
    nb = _run("system_health", tmp_path / "out.ipynb", prometheus_url=prometheus,
              model_name=history.model_name, end=_iso(end - 60), window="6h")
    text = _text(nb)
    assert "Error ratio: critical" in text
    assert "Request rate: ok" in text
    assert _images(nb) >= 2  # tiles and the series grid
    html = export_html(tmp_path / "out.ipynb", tmp_path / "out.html")
    body = html.read_text()
    assert "<img" in body and "notebook_context" not in body
    with_code = export_html(tmp_path / "out.ipynb", tmp_path / "code.html", code=True)
    assert "notebook_context" in with_code.read_text()


def test_system_health_quiet_period_is_healthy(prometheus, history, tmp_path):
    start, _ = history.incidents["errors"]
    nb = _run("system_health", tmp_path / "out.ipynb", prometheus_url=prometheus,
              model_name=history.model_name, end=_iso(start - 3 * 3600), window="3h")
    assert "Error ratio: ok" in _text(nb)
    assert "Latency P95: ok" in _text(nb)


@pytest.mark.parametrize("name", DASHBOARDS)
def test_no_data_ends_cleanly(name, prometheus, history, tmp_path):
    nb = _run(name, tmp_path / "out.ipynb", prometheus_url=prometheus,
              model_name=history.model_name, start=_iso(history.start - 30 * 86400),
              end=_iso(history.start - 29 * 86400))
    assert "no data" in _text(nb).lower()
