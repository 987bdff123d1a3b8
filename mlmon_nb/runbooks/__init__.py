"""Executable runbooks: the registry, parameter checking, kernels, papermill execution, run HTML.

A runbook is ``runbooks/<AlertName>.ipynb`` (one per alert of :mod:`mlmon_nb.rules.catalogue`), paired
with a readable ``runbooks/<AlertName>.py`` source; its ``parameters`` cell is its contract.
One module per job:

- :mod:`.parameters` — declared parameters, per-name checks, :func:`validate_parameters`;
- :mod:`.registry` — :class:`Registry` of ``.ipynb`` runbooks and their parameters;
- :mod:`.kernels` — :class:`WarmKernel` and :class:`KernelPool` (IPC, scrubbed environment);
- :mod:`.execute` — :func:`execute` with papermill, :class:`Outcome`, :func:`read_summary`;
- :mod:`.html` — the executed notebook as a run page: verdict, findings, the notebook folded;
- :mod:`.cli` — ``mlmon-nb run``.

Untrusted input (alert links, webhooks) reaches papermill only through
:func:`validate_parameters`; the notebook is always chosen from the :class:`Registry`, never
from a path in a request, and every output lands in the run store (``mlmon_nb.runstore``).
"""

from __future__ import annotations

from .cli import run_from_cli
from .execute import (
    SUMMARY_MIME,
    Outcome,
    Status,
    execute,
    execute_run,
    kernel_env,
    read_findings,
    read_summary,
)
from .html import RUN_CSS, notebook_html, run_body, run_page, sanitize_html
from .kernels import KernelPool, WarmKernel, kernel_dir
from .parameters import RESERVED_PARAMETERS, Parameter, server_defaults, validate_parameters
from .registry import NOTEBOOK_DIR, RUNBOOK_DIR, Registry, Runbook

__all__ = [
    "RUNBOOK_DIR",
    "NOTEBOOK_DIR",
    "SUMMARY_MIME",
    "RESERVED_PARAMETERS",
    "Parameter",
    "Runbook",
    "Registry",
    "Status",
    "Outcome",
    "WarmKernel",
    "KernelPool",
    "kernel_dir",
    "validate_parameters",
    "server_defaults",
    "execute",
    "execute_run",
    "kernel_env",
    "notebook_html",
    "run_body",
    "run_page",
    "RUN_CSS",
    "sanitize_html",
    "read_summary",
    "read_findings",
    "run_from_cli",
]
