"""Executing a runbook with papermill into the run store, and reading back its verdict.

:func:`execute` runs a notebook on a warm kernel when given one (else a cold one) into a run
folder: ``output.ipynb`` plus ``output.html``, a standalone page whose body is sanitized
(verdict, key numbers, findings, the notebook folded; see :mod:`.html`); the notebook's cells
are marked not editable and not deletable, as the record of the run. A watchdog kills the kernel at the
run's timeout; a kernel that dies is reported as ``dead_kernel``; a failing notebook is an
:class:`Outcome`, never an exception. :func:`execute_run` does the same for a run of the store
and records the outcome in its index.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from ..config import Config
from ..errors import RunbookError
from ..findings import read_findings
from ..runstore import Run, RunStore
from .html import SUMMARY_MIME, escape, read_summary, run_body, run_page
from .kernels import WarmKernel, kernel_dir
from .registry import Registry, Runbook

__all__ = ["SUMMARY_MIME", "Status", "Outcome", "read_summary", "read_findings", "execute",
           "execute_run", "kernel_env", "read_only"]


class Status(StrEnum):
    """How a run ended; the values are the run store's final statuses."""

    DONE = "done"
    FAILED = "failed"
    TIMEOUT = "timeout"
    DEAD_KERNEL = "dead_kernel"


@dataclass(frozen=True)
class Outcome:
    """How a run ended: status (done/failed/timeout/dead_kernel), error, recorded summary."""

    status: Status
    error: str = ""
    summary: dict[str, object] = field(default_factory=dict)
    duration: float = 0.0


def execute(runbook: Runbook, params: Mapping[str, object], out_dir: Path, *,
            kernel: WarmKernel | None = None, progress: bool = False, timeout: float = 600.0,
            env: Mapping[str, str] | None = None, connection_dir: Path | None = None) -> Outcome:
    """Execute ``runbook`` with ``params`` into ``out_dir`` (output.ipynb + output.html).

    Uses ``kernel`` if given (and consumes it), else starts a cold one with ``env`` and its
    connection file in ``connection_dir``. Never raises for a failure of the notebook itself:
    the outcome says what happened and the notebook and its HTML are written either way.
    """
    # papermill, nbformat and nbclient are heavy; kernels importing this package never need them
    import nbformat
    import papermill
    from nbclient.exceptions import DeadKernelError

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / "output.ipynb"
    began = time.monotonic()
    if kernel is None:
        kernel = WarmKernel("python3", cwd=out_dir, env=env, preload="",
                            connection_dir=connection_dir)
    else:
        try:
            kernel.execute(f"import os; os.chdir({str(out_dir)!r})")
        except BaseException:  # a warm kernel that stopped answering is never left running
            kernel.shutdown()
            raise
    fired = threading.Event()

    def watchdog() -> None:
        fired.set()
        kernel.kill()
    timer = threading.Timer(timeout, watchdog)
    timer.daemon = True
    timer.start()
    status, error = Status.DONE, ""
    try:
        papermill.execute_notebook(
            str(runbook.path), str(output), parameters=dict(params), progress_bar=progress,
            km=kernel.km, kernel_name="python3", execution_timeout=timeout,
            request_save_on_cell_execute=True)
    except DeadKernelError as exc:
        status = Status.TIMEOUT if fired.is_set() else Status.DEAD_KERNEL
        error = (f"the run exceeded its timeout of {timeout:g}s and its kernel was stopped"
                 if fired.is_set() else f"the kernel died during the run: {exc}")
    except papermill.PapermillExecutionError as exc:
        status, error = Status.FAILED, f"{exc.ename}: {exc.evalue} (in cell {exc.exec_count})"
    except Exception as exc:  # kernel start, nbformat or IO failures: report, never crash a worker
        status = Status.TIMEOUT if fired.is_set() else Status.FAILED
        error = f"{type(exc).__name__}: {exc}"
    finally:
        timer.cancel()
        kernel.shutdown()
    summary: dict[str, object] = {}
    if output.exists():
        try:
            nb = nbformat.read(str(output), as_version=4)
            nbformat.write(read_only(nb), str(output))
            summary = read_summary(nb)
            title = f"{runbook.alertname} · {params.get('model_name', '')}".strip(" ·")
            (out_dir / "output.html").write_text(run_page(run_body(
                nb, error=error, runbook="alertname" in runbook.parameters), title))
        except Exception as exc:
            error = error or f"could not render the output: {exc}"
            status = Status.FAILED if status == Status.DONE else status
    else:
        (out_dir / "output.html").write_text(run_page(
            f"<div class='mlmon-run'><p>The run produced no notebook: {escape(error)}</p></div>",
            runbook.alertname))
    return Outcome(status, error, summary, time.monotonic() - began)


def read_only(nb):
    """``nb`` (an executed notebook, changed in place) marked as the record of a run: every
    cell not editable and not deletable, which JupyterLab honours, so opening a run's output
    cannot change what it recorded by a stray keystroke."""
    for cell in nb.cells:
        cell.metadata["editable"] = False
        cell.metadata["deletable"] = False
    nb.metadata.setdefault("mlmon", {})["record_of_a_run"] = True
    return nb


def execute_run(store: RunStore, registry: Registry, config: Config, run: Run, *,
                kernel: WarmKernel | None = None, progress: bool = False,
                timeout: float = 600.0) -> Outcome:
    """Execute a queued/claimed run of the store and record its outcome in the index.

    A cold kernel keeps its connection file in :func:`~mlmon_nb.runbooks.kernels.kernel_dir`
    of the config's state directory.
    """
    try:
        runbook = registry.get(run.alertname)
    except RunbookError as exc:
        if kernel is not None:
            kernel.shutdown()
        store.finish(run.run_id, Status.FAILED.value, error=str(exc))
        return Outcome(Status.FAILED, str(exc))
    outcome = execute(runbook, run.params, store.run_dir(run.run_id), kernel=kernel,
                      progress=progress, timeout=timeout, env=kernel_env(config),
                      connection_dir=kernel_dir(config.stack.state_dir))
    store.finish(run.run_id, outcome.status.value, error=outcome.error, summary=outcome.summary)
    return outcome


def kernel_env(config: Config) -> dict[str, str]:
    """Environment of runbook kernels: the same config and state dir as the caller, and
    IPython's own files (its history database) under the state dir rather than the home
    folder, so a run writes nowhere but the state dir."""
    env = {"MLMON_PROMETHEUS_URL": config.prometheus_url,
           "MLMON_STATE_DIR": str(config.stack.state_dir),
           "IPYTHONDIR": str(config.stack.state_dir / "ipython")}
    if config.path:
        env["MLMON_CONFIG"] = str(Path(config.path).resolve())
    return env
