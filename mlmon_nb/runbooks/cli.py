"""``mlmon-nb run``: execute a runbook or dashboard notebook into the run store from a terminal."""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..runstore import RunStore
from .execute import Status, execute_run
from .parameters import server_defaults, validate_parameters
from .registry import NOTEBOOK_DIR, Registry

__all__ = ["run_from_cli"]


def run_from_cli(config: Config, notebook: str, params: dict[str, str], progress: bool = True,
                 *, registry: Registry | None = None, timeout: float = 1800.0) -> int:
    """``mlmon-nb run``: execute a runbook into the run store and print where the result is.

    ``notebook`` is a runbook path (``runbooks/X.ipynb``), an alert name, or a dashboard
    notebook (``notebooks/X.ipynb``). Values are strings
    from the command line, coerced to the declared types; undeclared names are a ParameterError.
    Exit code 0 when the notebook ran to the end, 1 otherwise.
    """
    if registry is None:  # notebooks/X.ipynb runs the same way as a runbook
        in_notebooks = Path(notebook).suffix == ".ipynb" and Path(notebook).parent.name == "notebooks"
        registry = Registry(NOTEBOOK_DIR if in_notebooks else None)
    runbook = registry.resolve(notebook)
    checked = server_defaults(runbook, config, validate_parameters(runbook, params, untrusted=False))
    store = RunStore(config.stack.state_dir / "runs")
    run, _ = store.submit(runbook.alertname, checked, source="cli")
    store.start(run.run_id)
    print(f"run {run.run_id}: {runbook.alertname} with "
          + ", ".join(f"{k}={v}" for k, v in sorted(checked.items())))
    outcome = execute_run(store, registry, config, run, progress=progress, timeout=timeout)
    out = store.run_dir(run.run_id)
    verdict = outcome.summary.get("verdict")
    print(f"status: {outcome.status} in {outcome.duration:.1f}s"
          + (f" — {verdict}" if verdict else ""))
    if outcome.error:
        print(f"error: {outcome.error}")
    print(f"notebook: {out / 'output.ipynb'}")
    print(f"html:     {out / 'output.html'}")
    print(f"launcher: {config.launcher_url}/runs/{run.run_id}")
    return 0 if outcome.status == Status.DONE else 1
