"""notebooks/slo_report.ipynb executed by papermill against the fixture Prometheus."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "slo_report.ipynb"


def _iso(unix: float) -> str:
    return pd.Timestamp(unix, unit="s", tz="UTC").isoformat()


def _run(out: Path, **params) -> str:
    pm.execute_notebook(str(NOTEBOOK), str(out), parameters=params, kernel_name="python3",
                        progress_bar=False, cwd=str(REPO))
    nb = nbformat.read(out, as_version=4)
    return "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_committed_without_outputs_with_parameters():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") and not c.get("execution_count")
               for c in nb.cells if c.cell_type == "code")
    assert sum("parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    assert {"model_name", "prometheus_url", "start", "end", "window", "step"} <= set(
        pm.inspect_notebook(str(NOTEBOOK)))


def test_report_over_the_error_burst_shows_availability_violated(prometheus, history, tmp_path):
    a, b = history.incidents["errors"]
    text = _run(tmp_path / "out.ipynb", model_name=history.model_name, prometheus_url=prometheus,
                start=_iso(a - 3600), end=_iso(b - 60))
    assert "availability: VIOLATING" in text
    assert "burning: " in text and "availability 1h/5m" in text


def test_report_over_the_whole_history_and_an_empty_window(prometheus, history, tmp_path):
    text = _run(tmp_path / "all.ipynb", model_name=history.model_name, prometheus_url=prometheus,
                end=_iso(history.end), window="2d")
    assert "latency: " in text and "throughput: " in text
    empty = _run(tmp_path / "empty.ipynb", model_name=history.model_name,
                 prometheus_url=prometheus, end=_iso(history.start - 86400), window="1d")
    assert "availability: NO DATA" in empty and "burning: none" in empty
