"""Executable runbooks: the registry, parameter checking, papermill execution and run HTML.

A runbook is ``runbooks/<AlertName>.ipynb``; its ``parameters`` cell (read with papermill's
``inspect_notebook`` before anything runs) is its contract. Untrusted input (alert links,
webhooks) reaches papermill only through :func:`validate_parameters`: names must be declared,
values are coerced to the declared type and checked per name (a model name looks like one, a
window is a duration, …). The notebook is always chosen from the :class:`Registry`, never from a
path in a request, and every output lands in the run store (``mlmon_nb.runstore``).

Execution uses a kernel that is already running when possible (:class:`KernelPool`, pandas and
``mlmon_nb.investigate`` pre-imported), which is what makes an alert's runbook ready in about a
second; each kernel serves one run and is then discarded, so runs never share state. A watchdog
kills the kernel at the run's timeout; a kernel that dies is reported as ``dead_kernel``.
"""

from __future__ import annotations

import ast
import datetime as _dt
import math
import os
import queue
import re
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .config import REPO_ROOT, Config, parse_duration
from .errors import ConfigError, ParameterError, RunbookError
from .runstore import Run, RunStore

__all__ = [
    "ALERT_CATALOGUE",
    "RUNBOOK_DIR",
    "SUMMARY_MIME",
    "RESERVED_PARAMETERS",
    "Parameter",
    "Runbook",
    "Registry",
    "Outcome",
    "WarmKernel",
    "KernelPool",
    "validate_parameters",
    "server_defaults",
    "execute",
    "execute_run",
    "notebook_html",
    "sanitize_html",
    "read_summary",
    "run_from_cli",
]

ALERT_CATALOGUE: tuple[str, ...] = (
    "HighErrorRate", "ElevatedErrorRate", "HighLatencyP95", "MLServiceDown", "DataDriftDetected",
    "ConceptDriftDetected", "LowModelAccuracy", "HighLowConfidencePredictions",
    "ModelMetricsAbsent", "SLOErrorBudgetBurn", "LowThroughput",
)
RUNBOOK_DIR = REPO_ROOT / "runbooks"
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
# A runbook records its verdict and key numbers as a display output of this type
# (see mlmon_nb.investigate.record_summary); the run index reads it back from the notebook.
SUMMARY_MIME = "application/vnd.mlmon.summary+json"
_RUNBOOK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # an alert name, never a path
# Set by the launcher or CLI from the config; a request can never point a kernel elsewhere.
RESERVED_PARAMETERS = frozenset({"prometheus_url", "baseline_path"})
MAX_VALUE_LENGTH = 1024
PRELOAD = "import pandas, numpy, matplotlib.pyplot, mlmon_nb.investigate"

# -- parameters ---------------------------------------------------------------------------------

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def _iso(value: str) -> str:
    what = "an ISO-8601 time such as 2024-05-01T12:00:00Z"
    if value and not _ISO.match(value):
        raise ValueError(what)
    if value:  # also catches 2024-13-45
        try:
            _dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{what} ({exc})") from None
    return value


def _duration(value: str) -> str:
    if value:
        try:
            parse_duration(value)
        except ConfigError:
            raise ValueError("a duration such as 30s, 5m, 6h or 7d") from None
    return value


def _pattern(regex: str, what: str):
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(what)
        return value
    return check


def _url(value: str) -> str:
    if value and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~/\-]*)?", value):
        raise ValueError("an http(s) URL such as http://127.0.0.1:9090")
    return value


# Per-name checks on top of the declared type: what each shared parameter may look like.
_CHECKS = {
    "model_name": _pattern(r"[A-Za-z_][A-Za-z0-9_\-]{0,127}", "a model name: letters, digits, _ or -"),
    "start": _iso, "end": _iso, "starts_at": _iso,
    "window": _duration, "step": _duration, "long_window": _duration, "short_window": _duration,
    "severity": _pattern(r"|critical|warning|info|page|ticket",
                         "one of critical, warning, info, page, ticket"),
    "feature": _pattern(r"[A-Za-z0-9_.:\-]{0,128}", "a feature name: letters, digits, _ . : or -"),
    "slo": _pattern(r"|latency|availability|accuracy|throughput",
                    "one of latency, availability, accuracy, throughput"),
    "alertname": _pattern(r"[A-Za-z][A-Za-z0-9_]{0,127}", "an alert name"),
    "prometheus_url": _url,
    "baseline_path": _pattern(r"[^\x00-\x1f]{0,1024}", "a file path"),
}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of a runbook: name, type, default (as written) and help."""

    name: str
    type: str
    default: str
    help: str = ""

    def coerce(self, value: object) -> object:
        """``value`` converted to this parameter's type, or ValueError saying what is expected."""
        if isinstance(value, str) and (len(value) > MAX_VALUE_LENGTH or "\x00" in value):
            raise ValueError(f"a value of at most {MAX_VALUE_LENGTH} characters")
        kind = self.type
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError("true or false")
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("an integer")
            try:
                return int(str(value).strip())
            except ValueError:
                raise ValueError("an integer") from None
        if kind == "float":
            try:
                number = float(str(value).strip())
            except ValueError:
                raise ValueError("a number") from None
            if not math.isfinite(number):
                raise ValueError("a finite number")
            return number
        if not isinstance(value, str):
            raise ValueError("a string")
        if any(ord(c) < 32 and c not in "\t" for c in value):
            raise ValueError("text without control characters")
        check = _CHECKS.get(self.name)
        return check(value) if check else value


def _infer_type(declared: str, default: str) -> str:
    """The declared annotation, else the type of the default literal; str when unsure."""
    for name in ("str", "int", "float", "bool"):
        if declared == name or declared.startswith(name + " "):
            return name
    try:
        literal = ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return "str"
    return {bool: "bool", int: "int", float: "float"}.get(type(literal), "str")


@dataclass(frozen=True)
class Runbook:
    """A registered runbook: its alert name, notebook and declared parameters."""

    alertname: str
    path: Path
    parameters: dict[str, Parameter] = field(default_factory=dict)

    @property
    def declared(self) -> str:
        """The declared parameter names, for error messages."""
        return ", ".join(sorted(self.parameters)) or "none"


def validate_parameters(runbook: Runbook, raw: Mapping[str, object], *,
                        untrusted: bool = True, ignore_undeclared: bool = False) -> dict[str, object]:
    """Declared, type-checked parameters from ``raw``; ParameterError on the first bad one.

    ``untrusted`` (links, forms, webhooks) also refuses the parameters the launcher sets from the
    config (``prometheus_url``, ``baseline_path``). ``ignore_undeclared`` drops unknown names
    instead of refusing them (alert labels such as ``job`` or ``instance``).
    """
    out: dict[str, object] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or name not in runbook.parameters:
            if ignore_undeclared and isinstance(name, str):
                continue
            raise ParameterError(
                f"runbook {runbook.alertname} declares no parameter {str(name)[:80]!r}; its "
                f"parameters are: {runbook.declared}")
        if untrusted and name in RESERVED_PARAMETERS:
            if ignore_undeclared:
                continue
            raise ParameterError(f"parameter {name!r} is set by the launcher from the config and "
                                 f"cannot come from a request")
        try:
            out[name] = runbook.parameters[name].coerce(value)
        except ValueError as exc:
            raise ParameterError(
                f"parameter {name!r} of runbook {runbook.alertname} must be {exc}; got "
                f"{str(value)[:80]!r}") from None
    if "alertname" in out and out["alertname"] != runbook.alertname:
        raise ParameterError(f"parameter 'alertname' is {out['alertname']!r} but this is the "
                             f"runbook of {runbook.alertname}")
    return out


def server_defaults(runbook: Runbook, config: Config, params: Mapping[str, object]) -> dict[str, object]:
    """``params`` plus what the launcher and CLI fill in from the config when left empty:
    ``prometheus_url``, ``baseline_path`` and ``alertname``."""
    out = dict(params)
    declared = runbook.parameters
    if "prometheus_url" in declared and not out.get("prometheus_url"):
        out["prometheus_url"] = config.prometheus_url
    if "alertname" in declared and not out.get("alertname"):
        out["alertname"] = runbook.alertname
    if "baseline_path" in declared and not out.get("baseline_path") and out.get("model_name"):
        try:
            out["baseline_path"] = str(config.baseline_path(str(out["model_name"])))
        except ConfigError:
            pass  # an unconfigured model: the runbook says so itself
    return out


# -- the registry -------------------------------------------------------------------------------


class Registry:
    """Runbooks by alert name: exactly the ``<AlertName>.ipynb`` files in one folder
    (default ``$MLMON_RUNBOOK_DIR``, else the repository's ``runbooks/``)."""

    def __init__(self, directory: Path | None = None):
        directory = directory or os.environ.get("MLMON_RUNBOOK_DIR") or RUNBOOK_DIR
        self.directory = Path(directory).resolve()
        self._cache: dict[str, tuple[float, Runbook]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Alert names that have a runbook."""
        if not self.directory.is_dir():
            return []
        return sorted(p.stem for p in self.directory.glob("*.ipynb")
                      if _RUNBOOK_NAME.fullmatch(p.stem))

    def __contains__(self, alertname: object) -> bool:
        return (isinstance(alertname, str) and _RUNBOOK_NAME.fullmatch(alertname) is not None
                and (self.directory / f"{alertname}.ipynb").is_file())

    def get(self, alertname: str) -> Runbook:
        """The runbook of an alert; RunbookError naming the known ones otherwise."""
        if alertname not in self:
            raise RunbookError(f"no runbook for alert {str(alertname)[:80]!r}; runbooks exist for: "
                               f"{', '.join(self.names()) or 'none'} (in {self.directory})")
        path = self.directory / f"{alertname}.ipynb"
        mtime = path.stat().st_mtime
        with self._lock:
            cached = self._cache.get(alertname)
            if cached and cached[0] == mtime:
                return cached[1]
        runbook = Runbook(alertname, path, _declared_parameters(path))
        with self._lock:
            self._cache[alertname] = (mtime, runbook)
        return runbook

    def resolve(self, spec: str) -> Runbook:
        """A runbook from the CLI: an alert name or a path to a notebook in the registry folder."""
        if spec in self:
            return self.get(spec)
        path = Path(spec)
        if path.suffix == ".ipynb":
            resolved = path.resolve()
            if resolved.parent == self.directory and resolved.exists():
                return self.get(resolved.stem)
            if not path.is_absolute() and (self.directory / path.name).exists() \
                    and path.parent.name == self.directory.name:
                return self.get(path.stem)
            raise RunbookError(f"{spec} is not a registered runbook; runbooks live in "
                               f"{self.directory} and are named after their alert: "
                               f"{', '.join(self.names()) or 'none'}")
        return self.get(spec)


def _declared_parameters(path: Path) -> dict[str, Parameter]:
    import papermill
    try:
        inspected = papermill.inspect_notebook(str(path))
    except Exception as exc:  # papermill raises bare ValueError/JSON errors for broken notebooks
        raise RunbookError(f"cannot read the parameters of {path}: {exc}; the notebook needs a "
                           f"kernelspec and a cell tagged `parameters`") from exc
    return {name: Parameter(name, _infer_type(str(p.get("inferred_type_name") or ""),
                                              str(p.get("default") or "")),
                            str(p.get("default") or ""), str(p.get("help") or ""))
            for name, p in inspected.items()}


# -- kernels ------------------------------------------------------------------------------------


def _run_sync(coro_fn, *args, **kwargs):
    from jupyter_core.utils import run_sync
    return run_sync(coro_fn)(*args, **kwargs)


class WarmKernel:
    """A started kernel (with ``preload`` already imported) waiting to serve exactly one run."""

    def __init__(self, kernel_name: str = "python3", *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, preload: str = PRELOAD):
        from jupyter_client.manager import AsyncKernelManager
        self.km = AsyncKernelManager(kernel_name=kernel_name)
        kernel_env = {**os.environ, **(env or {})}
        kernel_env.pop("JPY_PARENT_PID", None)
        _run_sync(self.km.start_kernel, cwd=str(cwd or Path.cwd()), env=kernel_env)
        if preload:
            self.execute(preload, timeout=120)

    @property
    def pid(self) -> int | None:
        """The kernel's process id."""
        provisioner = getattr(self.km, "provisioner", None)
        return getattr(provisioner, "pid", None)

    def execute(self, code: str, timeout: float = 60) -> None:
        """Run ``code`` silently in the kernel (setup, never part of the notebook)."""
        from jupyter_client.blocking import BlockingKernelClient
        kc = BlockingKernelClient(connection_file=self.km.connection_file)
        kc.load_connection_file()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=timeout)
            reply = kc.execute_interactive(code, silent=True, timeout=timeout, store_history=False)
            if reply["content"]["status"] != "ok":
                raise RunbookError(f"kernel setup failed: {reply['content'].get('evalue', '')}; "
                                   f"check that the kernel's environment has mlmon_nb installed")
        finally:
            kc.stop_channels()

    def alive(self) -> bool:
        """Whether the kernel process still runs."""
        try:
            return bool(_run_sync(self.km.is_alive))
        except Exception:
            return False

    def kill(self) -> None:
        """Kill the kernel process now (watchdog and cleanup)."""
        pid = self.pid
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def shutdown(self) -> None:
        """Stop the kernel and remove its connection file."""
        try:
            _run_sync(self.km.shutdown_kernel, now=True)
        except Exception:
            self.kill()
            try:
                self.km.cleanup_resources()
            except Exception:
                pass


class KernelPool:
    """Up to ``size`` warm kernels started in the background; ``acquire`` never waits for one.

    With the pool empty the caller starts a cold kernel instead, so a burst of alerts is never
    slower than papermill on its own.
    """

    def __init__(self, size: int = 2, *, kernel_name: str = "python3", cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, preload: str = PRELOAD):
        self.size, self.kernel_name, self.cwd, self.env, self.preload = (
            size, kernel_name, cwd, dict(env or {}), preload)
        self._ready: queue.Queue[WarmKernel] = queue.Queue()
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    def start(self) -> "KernelPool":
        """Begin filling the pool in a background thread."""
        if self.size > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._fill, name="mlmon-kernel-pool", daemon=True)
            self._wanted.set()
            self._thread.start()
        return self

    def _fill(self) -> None:
        while not self._stop.is_set():
            self._wanted.wait(timeout=1.0)
            if self._stop.is_set():
                break
            if self._ready.qsize() >= self.size:
                self._wanted.clear()
                continue
            try:
                kernel = WarmKernel(self.kernel_name, cwd=self.cwd, env=self.env,
                                    preload=self.preload)
            except Exception:
                self.errors += 1
                self._stop.wait(min(30.0, 2.0 ** min(self.errors, 5)))
                continue
            if self._stop.is_set():
                kernel.shutdown()
                break
            self._ready.put(kernel)

    def acquire(self) -> WarmKernel | None:
        """A live warm kernel, or None when none is ready; the pool refills behind it."""
        while True:
            try:
                kernel = self._ready.get_nowait()
            except queue.Empty:
                self._wanted.set()
                return None
            self._wanted.set()
            if kernel.alive():
                return kernel
            kernel.shutdown()

    def ready(self) -> int:
        """Kernels waiting right now."""
        return self._ready.qsize()

    def shutdown(self) -> None:
        """Stop filling and shut every waiting kernel down."""
        self._stop.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        while True:
            try:
                self._ready.get_nowait().shutdown()
            except queue.Empty:
                break


# -- execution ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a run ended: status (done/failed/timeout/dead_kernel), error, recorded summary."""

    status: str
    error: str = ""
    summary: dict[str, object] = field(default_factory=dict)
    duration: float = 0.0


def read_summary(nb) -> dict[str, object]:
    """The summary a runbook recorded (the last ``SUMMARY_MIME`` output), or {}."""
    found: dict[str, object] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            if SUMMARY_MIME in data and isinstance(data[SUMMARY_MIME], dict):
                found = dict(data[SUMMARY_MIME])
    return found


def execute(runbook: Runbook, params: Mapping[str, object], out_dir: Path, *,
            kernel: WarmKernel | None = None, progress: bool = False, timeout: float = 600.0,
            env: Mapping[str, str] | None = None) -> Outcome:
    """Execute ``runbook`` with ``params`` into ``out_dir`` (output.ipynb + output.html).

    Uses ``kernel`` if given (and consumes it), else starts a cold one. Never raises for a
    failure of the notebook itself: the outcome says what happened and the notebook and its
    HTML are written either way.
    """
    import nbformat
    import papermill
    from nbclient.exceptions import DeadKernelError

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / "output.ipynb"
    began = time.monotonic()
    if kernel is None:
        kernel = WarmKernel("python3", cwd=out_dir, env=env, preload="")
    else:
        kernel.execute(f"import os; os.chdir({str(out_dir)!r})")
    fired = threading.Event()

    def watchdog() -> None:
        fired.set()
        kernel.kill()
    timer = threading.Timer(timeout, watchdog)
    timer.daemon = True
    timer.start()
    status, error = "done", ""
    try:
        papermill.execute_notebook(
            str(runbook.path), str(output), parameters=dict(params), progress_bar=progress,
            km=kernel.km, kernel_name="python3", execution_timeout=timeout,
            request_save_on_cell_execute=True)
    except DeadKernelError as exc:
        status = "timeout" if fired.is_set() else "dead_kernel"
        error = (f"the run exceeded its timeout of {timeout:g}s and its kernel was stopped"
                 if fired.is_set() else f"the kernel died during the run: {exc}")
    except papermill.PapermillExecutionError as exc:
        status, error = "failed", f"{exc.ename}: {exc.evalue} (in cell {exc.exec_count})"
    except Exception as exc:  # kernel start, nbformat or IO failures: report, never crash a worker
        status = "timeout" if fired.is_set() else "failed"
        error = f"{type(exc).__name__}: {exc}"
    finally:
        timer.cancel()
        kernel.shutdown()
    summary: dict[str, object] = {}
    if output.exists():
        try:
            nb = nbformat.read(str(output), as_version=4)
            summary = read_summary(nb)
            (out_dir / "output.html").write_text(notebook_html(nb))
        except Exception as exc:
            error = error or f"could not render the output: {exc}"
            status = "failed" if status == "done" else status
    else:
        (out_dir / "output.html").write_text(
            f"<p>The run produced no notebook: {_escape(error)}</p>")
    return Outcome(status, error, summary, time.monotonic() - began)


def execute_run(store: RunStore, registry: Registry, config: Config, run: Run, *,
                kernel: WarmKernel | None = None, progress: bool = False,
                timeout: float = 600.0) -> Outcome:
    """Execute a queued/claimed run of the store and record its outcome in the index."""
    try:
        runbook = registry.get(run.alertname)
    except RunbookError as exc:
        if kernel is not None:
            kernel.shutdown()
        store.finish(run.run_id, "failed", error=str(exc))
        return Outcome("failed", str(exc))
    outcome = execute(runbook, run.params, store.run_dir(run.run_id), kernel=kernel,
                      progress=progress, timeout=timeout, env=kernel_env(config))
    store.finish(run.run_id, outcome.status, error=outcome.error, summary=outcome.summary)
    return outcome


def kernel_env(config: Config) -> dict[str, str]:
    """Environment of runbook kernels: the same config and state dir as the caller."""
    env = {"MLMON_PROMETHEUS_URL": config.prometheus_url,
           "MLMON_STATE_DIR": str(config.stack.state_dir)}
    if config.path:
        env["MLMON_CONFIG"] = str(Path(config.path).resolve())
    return env


# -- HTML ---------------------------------------------------------------------------------------

_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
         "details", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
         "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub",
         "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
         "var"}
_ATTRIBUTES = {"*": {"class", "title"}, "a": {"href"}, "img": {"src", "alt", "width", "height"},
               "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    # data: URLs only as images (a PNG or SVG in <img> cannot run script); never as links.
    if attribute == "src" and tag == "img":
        return value if value.startswith("data:image/") else None
    if attribute == "href" and value.lower().lstrip().startswith("data:"):
        return None
    return value


def sanitize_html(html: str) -> str:
    """HTML safe to embed in the launcher's pages: no script, handlers, styles, forms or frames."""
    import nh3
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, attribute_filter=_attribute_filter,
                     clean_content_tags={"script", "style", "textarea", "title", "noscript"},
                     url_schemes={"http", "https", "mailto", "data"}, strip_comments=True)


def notebook_html(nb) -> str:
    """The executed notebook as a sanitized HTML fragment (nbconvert's ``basic`` template)."""
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(template_name="basic")
    body, _ = exporter.from_notebook_node(nb)
    return sanitize_html(body)


def _escape(text: str) -> str:
    import html
    return html.escape(str(text), quote=True)


# -- the CLI ------------------------------------------------------------------------------------


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
    return 0 if outcome.status == "done" else 1
