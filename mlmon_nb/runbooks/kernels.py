"""Kernels for runs: started ahead of time, one run each, on IPC sockets, without the caller's secrets.

A :class:`WarmKernel` is a started kernel with ``PRELOAD`` already imported, which is what makes
an alert's runbook ready in about a second; the :class:`KernelPool` keeps a few started in the
background. Each kernel serves one run and is then discarded, so runs never share state.

Kernels talk to the launcher over IPC (Unix sockets) rather than TCP on localhost: no port another
local user can reach, and no "running over TCP without encryption" warning in the run's output.
Connection files and sockets live in the run store (:func:`kernel_dir`), not in the system's
temporary directory. A kernel inherits the caller's environment minus anything that looks like a
secret (:func:`scrub_environment`): the launcher's tokens never reach notebook code.

A kernel that fails to start or to import ``PRELOAD`` in time is shut down before the error is
raised, so a loaded machine never accumulates half-started kernels; the pool retries with a
backoff that starts over after every success.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import stat
import tempfile
import threading
import uuid
from collections.abc import Mapping
from pathlib import Path

from ..errors import RunbookError

__all__ = [
    "PRELOAD",
    "READY_TIMEOUT",
    "WarmKernel",
    "KernelPool",
    "kernel_dir",
    "default_connection_dir",
    "scrub_environment",
]

PRELOAD = "import pandas, numpy, matplotlib.pyplot, mlmon_nb.investigate"
READY_TIMEOUT = 120.0  # seconds for a kernel to answer and import PRELOAD
# Environment variables a kernel never inherits: the launcher's tokens and anything like a secret.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|_KEY|CREDENTIAL", re.IGNORECASE)
_NOT_INHERITED = frozenset({"JPY_PARENT_PID"})
# A Unix socket path holds at most 107 bytes on Linux (103 on macOS); jupyter_client appends
# "-<n>" to the prefix for each of a kernel's five sockets.
_SOCKET_PATH_MAX = 100


def kernel_dir(state_dir: str | os.PathLike[str]) -> Path:
    """Where kernels of this state directory keep connection files: ``<state>/runs/.kernels``,
    inside the run store (hidden, so run listings and JupyterLab leave it alone)."""
    return Path(state_dir) / "runs" / ".kernels"


def default_connection_dir(env: Mapping[str, str] | None = None) -> Path:
    """:func:`kernel_dir` of ``MLMON_STATE_DIR`` (from ``env``, else the process environment),
    else Jupyter's runtime directory."""
    state = (env or {}).get("MLMON_STATE_DIR") or os.environ.get("MLMON_STATE_DIR")
    if state:
        return kernel_dir(state)
    from jupyter_core.paths import jupyter_runtime_dir  # only without a state directory
    return Path(jupyter_runtime_dir())


def scrub_environment(inherited: Mapping[str, str] | None = None,
                      extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A kernel's environment: ``inherited`` (default ``os.environ``) without secrets, plus
    ``extra`` as given.

    Dropped: every name containing TOKEN, SECRET, PASSWORD, PASSWD, _KEY or CREDENTIAL (any
    case; this covers ``MLMON_LAUNCHER_TOKEN``, ``MLMON_LAUNCHER_TOKEN_FILE`` and
    ``MLMON_LAUNCHER_READ_TOKEN*``), and ``JPY_PARENT_PID``. PATH, PYTHONPATH, HOME, LANG and the
    ``MLMON_*`` settings stay.
    """
    source = os.environ if inherited is None else inherited
    env = {name: value for name, value in source.items()
           if name not in _NOT_INHERITED and not _SECRET_NAME.search(name)}
    env.update(extra or {})
    return env


def _private_dir(path: Path) -> Path:
    """``path`` created if needed (closed to others), refused when it is not our own directory;
    for folders in shared places such as the temp dir, where someone else could create it."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise RunbookError(f"{path} must be a directory owned by this user to hold kernel "
                           f"connection files; remove it or choose another state directory")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def _socket_prefix(connection_dir: Path, stem: str) -> str:
    """The IPC socket prefix of a kernel: next to its connection file when that path is short
    enough for a Unix socket, else in a private directory with a short path."""
    prefix = connection_dir / stem
    if len(os.fsencode(prefix)) + 3 <= _SOCKET_PATH_MAX:
        return str(prefix)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    candidates = [Path(runtime) / "mlmon-kernels"] if runtime else []
    candidates.append(Path(tempfile.gettempdir()) / f"mlmon-kernels-{os.getuid()}")
    for folder in candidates:
        if len(os.fsencode(folder / stem)) + 3 <= _SOCKET_PATH_MAX:
            return str(_private_dir(folder) / stem)
    raise RunbookError(f"no directory with a path short enough for kernel sockets (under "
                       f"{_SOCKET_PATH_MAX} bytes); set TMPDIR to a short path such as /tmp")


def _run_sync(coro_fn, *args, **kwargs):
    from jupyter_core.utils import run_sync  # with jupyter_client: only when kernels start
    return run_sync(coro_fn)(*args, **kwargs)


class WarmKernel:
    """A started kernel (with ``preload`` already imported) waiting to serve exactly one run.

    ``connection_dir`` holds its connection file and, when short enough, its IPC sockets
    (default :func:`default_connection_dir` of ``env``). ``env`` is added to the scrubbed
    inherited environment. Starting raises RunbookError when the kernel does not answer or
    import ``preload`` within ``ready_timeout`` seconds; the kernel is shut down first.
    """

    def __init__(self, kernel_name: str = "python3", *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, preload: str = PRELOAD,
                 connection_dir: Path | None = None, ready_timeout: float = READY_TIMEOUT):
        from jupyter_client.manager import AsyncKernelManager  # heavy (zmq); only for kernels
        directory = Path(connection_dir or default_connection_dir(env)).absolute()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # files in it are 0600
        stem = f"k-{uuid.uuid4().hex[:12]}"
        self.connection_dir = directory
        self.km = AsyncKernelManager(kernel_name=kernel_name, transport="ipc",
                                     connection_file=str(directory / f"{stem}.json"),
                                     ip=_socket_prefix(directory, stem))
        try:
            _run_sync(self.km.start_kernel, cwd=str(cwd or Path.cwd()),
                      env=scrub_environment(extra=env))
            if preload:
                self.execute(preload, timeout=ready_timeout)
        except BaseException as exc:
            self.shutdown()
            if isinstance(exc, Exception) and not isinstance(exc, RunbookError):
                raise RunbookError(f"a kernel did not become ready within {ready_timeout:g}s "
                                   f"({type(exc).__name__}: {exc}); it was shut down. On a "
                                   f"loaded machine, allow more time or fewer warm kernels") \
                    from exc
            raise

    @property
    def pid(self) -> int | None:
        """The kernel's process id."""
        provisioner = getattr(self.km, "provisioner", None)
        return getattr(provisioner, "pid", None)

    def execute(self, code: str, timeout: float = 60) -> None:
        """Run ``code`` silently in the kernel (setup, never part of the notebook)."""
        # A client of the manager asks the process whether the kernel lives; a bare client
        # would judge by heartbeats, which a loaded machine misses ("Kernel died before
        # replying to kernel_info" from a kernel that is alive).
        kc = self.km.blocking_client()
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
        """Stop the kernel and remove its connection file and sockets."""
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
    slower than papermill on its own. A failed start is retried after ``retry_delay`` seconds,
    doubling per failure in a row up to ``max_retry_delay``; a success starts over.
    """

    def __init__(self, size: int = 2, *, kernel_name: str = "python3", cwd: Path | None = None,
                 env: Mapping[str, str] | None = None, preload: str = PRELOAD,
                 connection_dir: Path | None = None, ready_timeout: float = READY_TIMEOUT,
                 retry_delay: float = 2.0, max_retry_delay: float = 30.0):
        self.size, self.kernel_name, self.cwd, self.env, self.preload = (
            size, kernel_name, cwd, dict(env or {}), preload)
        self.connection_dir = connection_dir
        self.ready_timeout = ready_timeout
        self.retry_delay, self.max_retry_delay = retry_delay, max_retry_delay
        self._ready: queue.Queue[WarmKernel] = queue.Queue()
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0              # failed starts since the pool started
        self.failures_in_a_row = 0   # failed starts since the last success: the backoff

    def start(self) -> KernelPool:
        """Begin filling the pool in a background thread."""
        if self.size > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._fill, name="mlmon-kernel-pool", daemon=True)
            self._wanted.set()
            self._thread.start()
        return self

    def next_retry_delay(self) -> float:
        """Seconds the pool waits after its next failed start."""
        return min(self.max_retry_delay, self.retry_delay * 2.0 ** min(self.failures_in_a_row, 16))

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
                                    preload=self.preload, connection_dir=self.connection_dir,
                                    ready_timeout=self.ready_timeout)
            except Exception:  # already shut down by WarmKernel; retry after the backoff
                delay = self.next_retry_delay()
                self.errors += 1
                self.failures_in_a_row += 1
                self._stop.wait(delay)
                continue
            self.failures_in_a_row = 0
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
