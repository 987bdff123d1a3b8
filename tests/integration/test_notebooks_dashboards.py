"""The dashboard notebooks, executed by papermill against the fixture Prometheus and the same
history in VictoriaMetrics (the `backend` fixture), and resources against a live node exporter."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import pytest

from mlmon_nb.plots import export_html

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
DASHBOARDS = ["system_health", "model_quality", "resources"]


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


def test_system_health_during_error_incident(backend, history, tmp_path):
    start, end = history.incidents["errors"]
    nb = _run("system_health", tmp_path / "out.ipynb", prometheus_url=backend.url,
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


def test_system_health_quiet_period_is_healthy(backend, history, tmp_path):
    start, _ = history.incidents["errors"]
    nb = _run("system_health", tmp_path / "out.ipynb", prometheus_url=backend.url,
              model_name=history.model_name, end=_iso(start - 3 * 3600), window="3h")
    assert "Error ratio: ok" in _text(nb)
    assert "Latency P95: ok" in _text(nb)


@pytest.mark.parametrize("name", DASHBOARDS)
def test_no_data_ends_cleanly(name, backend, history, tmp_path):
    nb = _run(name, tmp_path / "out.ipynb", prometheus_url=backend.url,
              model_name=history.model_name, start=_iso(history.start - 30 * 86400),
              end=_iso(history.start - 29 * 86400))
    assert "no data" in _text(nb).lower()


def test_resources_on_live_node_exporter_and_service(live_stack, tmp_path):
    nb = _run("resources", tmp_path / "out.ipynb", prometheus_url=live_stack.url("prometheus"),
              model_name="sentiment_classifier", window="2m", step="2s", service_job="prometheus")
    text = _text(nb)
    for key in ("process_cpu", "process_memory", "node_cpu", "node_memory", "node_disk"):
        points = int(text.split(f"{key}: ")[1].split(" points")[0])
        assert points > 0, key
    assert _images(nb) == 1


def test_model_quality_over_history(backend, history, tmp_path):
    start, end = history.incidents["low_confidence"]
    # the history has a point a minute, the configuration says 15 s scrapes: at the automatic
    # 30 s step a rate's range (60 s) holds one point where it excludes its left end
    # (Prometheus 3), so the chart takes the history's own resolution
    nb = _run("model_quality", tmp_path / "out.ipynb", prometheus_url=backend.url,
              model_name=history.model_name, start=_iso(start - 3600), end=_iso(end),
              step=f"{history.step:g}s", baseline_path=str(history.baseline_path))
    text = _text(nb)
    labelled = int(text.split("labelled predictions: ")[1].split()[0])
    assert labelled > 0
    for channel in ("web", "mobile", "api", "email"):
        assert channel in text  # the per-segment accuracy table
    # estimated and realized accuracy, and their gap: the hedged texts lower the confidences
    # without lowering the accuracy, so the estimate falls away from the labels (a calibration
    # change), and the notebook says what a widening gap means
    points = int(text.split("estimated accuracy points: ")[1].split(";")[0])
    with_labels = int(text.split("with labels: ")[1].split(";")[0])
    gap = float(text.split("largest gap: ")[1].split()[0])
    assert points >= 10 and with_labels >= 10 and gap > 0.1
    assert "widens means concept shift" in text
    assert _images(nb) == 7


def test_model_quality_without_a_calibration_says_so(prometheus, history, tmp_path):
    plain = history.baseline.with_calibration(None).save(tmp_path / "plain.json")
    start, end = history.incidents["covariate_shift"]
    nb = _run("model_quality", tmp_path / "out.ipynb", prometheus_url=prometheus,
              model_name=history.model_name, end=_iso(end), window="3h",
              baseline_path=str(plain))
    text = _text(nb)
    assert "has no calibration" in text and "--label" in text
    assert _images(nb) == 5
