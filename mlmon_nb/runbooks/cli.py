"""``mlmon-nb run``: execute a runbook or dashboard notebook into the run store from a terminal."""

from __future__ import annotations

import ast
import datetime as _dt
import json
import re
from collections.abc import Mapping
from pathlib import Path

from ..config import Config
from ..errors import ParameterError, PrometheusError, start_hint
from ..runstore import RunStore
from .execute import Status, execute_run
from .parameters import (
    CHECKED_PARAMETERS,
    check_against_config,
    check_value,
    declared_default,
    server_defaults,
    validate_parameters,
)
from .registry import NOTEBOOK_DIR, Registry

__all__ = ["run_from_cli", "check_early", "check_prometheus"]


def _literal_default(code: str, name: str) -> str:
    """The string literal assigned to ``name`` in a parameters cell's code ("" if none)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    for node in tree.body:
        target: ast.expr
        value: ast.expr | None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == name and \
                isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value
    return ""


def _notebook_default(registry: Registry, notebook: str, name: str) -> str:
    """``name``'s default in the parameters cell of the registry's notebook ``notebook`` names,
    read from its JSON ("" when not found): no papermill, so it costs milliseconds. Only a file
    inside the registry's folder, named like an alert, is read; :meth:`Registry.resolve` still
    decides which notebook runs."""
    stem = Path(notebook).stem if notebook.endswith(".ipynb") else notebook
    path = registry.directory / f"{stem}.ipynb"
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", stem) or not path.is_file():
        return ""
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            return _literal_default("".join(source) if isinstance(source, list) else source, name)
    return ""


def check_early(config: Config, registry: Registry, notebook: str,
                params: Mapping[str, str]) -> None:
    """Refuse what the values, the configuration and the baseline file tell apart — a malformed
    model name, time or duration, a model that is not configured, a feature the baseline does
    not have — before papermill is imported to read the runbook's declared parameters (seconds).
    A ParameterError names what to write or what exists."""
    now = _dt.datetime.now(_dt.UTC)
    for name, value in params.items():
        if name in CHECKED_PARAMETERS and isinstance(value, str):
            try:
                check_value(name, value, now)
            except ValueError as exc:
                raise ParameterError(f"parameter {name!r} must be {exc}; got "
                                     f"{value[:80]!r}") from None
    default = "" if params.get("model_name") else _notebook_default(registry, notebook,
                                                                     "model_name")
    check_against_config(config, params, declared_model=default)


PROMETHEUS_CHECK_SECONDS = 1.0


def check_prometheus(url: str, timeout: float = PROMETHEUS_CHECK_SECONDS, *,
                     outcome: str = "nothing was run",
                     elsewhere: str = "pass a running one with -p prometheus_url URL") -> None:
    """Ask the Prometheus a run would query for one instant value, within ``timeout`` seconds,
    before any run is created or kernel started; PrometheusError in one line when nothing
    answers like a Prometheus there, naming ``url`` (the one the run would use), the
    ``outcome``, how to start it and ``elsewhere`` (how to point at another)."""
    import http.client
    import urllib.error
    import urllib.request

    fix = f"{outcome}. {start_hint(url).capitalize()}, or {elsewhere}"
    probe = f"{url.rstrip('/')}/api/v1/query?query=1"
    try:
        with urllib.request.urlopen(probe, timeout=timeout) as resp:
            answer = json.loads(resp.read(1 << 16))
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise ValueError("its answer is not a Prometheus API answer")
    except urllib.error.HTTPError as exc:
        raise PrometheusError(f"Prometheus at {url} answered HTTP {exc.code} to a query; {fix}",
                              url) from None
    except (OSError, http.client.HTTPException) as exc:
        reason = " ".join(str(getattr(exc, "reason", None) or exc).split())  # one line
        raise PrometheusError(f"Prometheus is unreachable at {url} ({reason}); {fix}",
                              url) from None
    except ValueError as exc:
        raise PrometheusError(f"what answers at {url} is not Prometheus ({exc}); {fix}",
                              url) from None


def run_from_cli(config: Config, notebook: str, params: dict[str, str], progress: bool = True,
                 *, registry: Registry | None = None, timeout: float = 1800.0) -> int:
    """``mlmon-nb run``: execute a runbook into the run store and print where the result is.

    ``notebook`` is a runbook path (``runbooks/X.ipynb``), an alert name, or a dashboard
    notebook (``notebooks/X.ipynb``). Values are strings
    from the command line, coerced to the declared types; undeclared names are a ParameterError,
    and so are a model the configuration does not have and a feature its baseline does not have —
    refused before any run is created, and so is a Prometheus that does not answer at the URL
    the run would use (within a second, before a kernel starts). Relative times (``now-2h``)
    are resolved to ISO-8601.
    Exit code 0 when the notebook ran to the end, 1 otherwise.
    """
    if registry is None:  # notebooks/X.ipynb runs the same way as a runbook
        in_notebooks = Path(notebook).suffix == ".ipynb" and Path(notebook).parent.name == "notebooks"
        registry = Registry(NOTEBOOK_DIR) if in_notebooks else Registry.for_config(config)
    check_early(config, registry, notebook, params)
    check_prometheus(str(params.get("prometheus_url") or config.prometheus_url))
    runbook = registry.resolve(notebook)
    validated = validate_parameters(runbook, params, untrusted=False)
    check_against_config(config, validated,
                         declared_model=declared_default(runbook, "model_name"))
    checked = server_defaults(runbook, config, validated)
    store = RunStore(config.stack.state_dir / "runs")
    # inserted already leased to this process: no launcher on the same state dir can take it
    run, _ = store.submit(runbook.alertname, checked, source="cli", claim=True)
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
