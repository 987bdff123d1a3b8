"""Kernels for runs, against real kernels: a kernel that is not ready in time is shut down (no
process or file left), the pool's backoff starts over after a success, kernels talk over IPC with
their files in the given directory (also under a long state path), and they never see the
launcher's secrets."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from mlmon_nb.errors import RunbookError
from mlmon_nb.runbooks import KernelPool, Registry, WarmKernel, execute_run, kernel_dir
from mlmon_nb.runbooks.kernels import scrub_environment
from mlmon_nb.runstore import RunStore

SECRETS = {"MLMON_LAUNCHER_TOKEN": "s3cret-token", "MLMON_LAUNCHER_TOKEN_FILE": "/run/token",
           "MLMON_LAUNCHER_READ_TOKEN": "read-token", "MLMON_LAUNCHER_READ_TOKEN_FILE": "/run/r",
           "OPENAI_API_KEY": "sk-1", "DB_PASSWORD": "pw", "aws_secret_access_key": "k"}


def kernel_processes() -> set[int]:
    """Kernel processes started by this test process (zombies included: they are left over too)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if any("ipykernel" in part for part in child.cmdline()) or \
                    child.status() == psutil.STATUS_ZOMBIE:
                found.add(child.pid)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            found.add(child.pid)
        except psutil.AccessDenied:
            pass
    return found


def wait_for(condition, what: str, limit: float = 120.0) -> None:
    """Poll ``condition`` until true; fail naming ``what`` after ``limit`` seconds."""
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def slow_start(tmp_path) -> dict[str, str]:
    """Kernel environment whose interpreter takes 4 s to start: a kernel that lives but cannot
    answer within a short readiness timeout, as on a loaded machine."""
    site = tmp_path / "slow-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import time\ntime.sleep(4)\n")
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def read_kernel_environ(kernel: WarmKernel, tmp_path: Path) -> dict[str, str]:
    out = tmp_path / "environ.json"
    kernel.execute(f"import os, json; open({str(out)!r}, 'w').write(json.dumps(dict(os.environ)))")
    return json.loads(out.read_text())


def test_a_kernel_not_ready_in_time_is_shut_down(tmp_path, slow_start):
    before = kernel_processes()
    connections = tmp_path / "kernels"
    with pytest.raises(RunbookError, match="did not become ready within 0.5s"):
        WarmKernel(env=slow_start, connection_dir=connections, preload="import os",
                   ready_timeout=0.5)
    assert kernel_processes() - before == set()
    assert list(connections.iterdir()) == []  # neither connection file nor sockets


def test_a_kernel_whose_preload_fails_is_shut_down(tmp_path):
    before = kernel_processes()
    with pytest.raises(RunbookError, match="kernel setup failed: no such thing"):
        WarmKernel(connection_dir=tmp_path, preload="raise ImportError('no such thing')")
    assert kernel_processes() - before == set()
    assert list(tmp_path.iterdir()) == []


def test_the_pool_backs_off_on_failures_and_starts_over_after_a_success(tmp_path, slow_start):
    before = kernel_processes()
    connections = tmp_path / "kernels"
    pool = KernelPool(1, env=slow_start, preload="import os", connection_dir=connections,
                      ready_timeout=0.5, retry_delay=0.05, max_retry_delay=30.0).start()
    try:
        wait_for(lambda: pool.errors >= 3, "three failed starts")
        assert pool.next_retry_delay() >= 4 * pool.retry_delay  # it backs off
        assert pool.ready() == 0
        pool.ready_timeout = 60.0  # the machine is less loaded now
        wait_for(lambda: pool.ready() == 1, "a warm kernel after the failures")
        assert pool.failures_in_a_row == 0
        assert pool.next_retry_delay() == pool.retry_delay  # the next failure retries soon
        kernel = pool.acquire()
        assert kernel is not None and kernel.alive()
        kernel.shutdown()
    finally:
        pool.shutdown()
    assert kernel_processes() - before == set()
    assert list(connections.iterdir()) == []


def test_kernels_use_ipc_with_their_files_in_the_given_directory(short_tmp):
    connections = short_tmp / "state" / "runs" / ".kernels"
    kernel = WarmKernel(connection_dir=connections, preload="import os")
    try:
        info = json.loads(Path(kernel.km.connection_file).read_text())
        assert Path(kernel.km.connection_file).parent == connections
        assert info["transport"] == "ipc" and Path(info["ip"]).parent == connections
        sockets = [p for p in connections.iterdir() if p.suffix != ".json"]
        assert len(sockets) == 5 and all(p.is_socket() for p in sockets)
        assert oct(connections.stat().st_mode & 0o777) == oct(0o700)
    finally:
        kernel.shutdown()
    assert list(connections.iterdir()) == []


@pytest.fixture
def short_tmp():
    """A directory short enough for socket paths in it (a test worker's tmp_path may not be)."""
    path = Path(tempfile.mkdtemp(prefix="k", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_long_state_directory_still_gets_socket_paths_a_unix_socket_can_hold(tmp_path):
    connections = tmp_path / ("long-state-directory-" * 6) / "runs" / ".kernels"
    assert len(str(connections)) > 107
    kernel = WarmKernel(connection_dir=connections, preload="import os")
    try:
        info = json.loads(Path(kernel.km.connection_file).read_text())
        assert Path(kernel.km.connection_file).parent == connections
        ports = [info[name] for name in ("shell_port", "iopub_port", "stdin_port", "hb_port",
                                         "control_port")]
        paths = [Path(f"{info['ip']}-{port}") for port in ports]
        assert all(len(os.fsencode(p)) <= 107 and p.is_socket() for p in paths)
        assert read_kernel_environ(kernel, tmp_path)["PATH"]  # it answers over those sockets
    finally:
        kernel.shutdown()
    assert not any(p.exists() for p in paths)


def test_kernels_never_see_the_launchers_secrets(tmp_path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLMON_PROMETHEUS_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", "") or str(tmp_path / "lib"))
    kernel = WarmKernel(connection_dir=tmp_path / "k", preload="import os",
                        env={"MLMON_STATE_DIR": str(tmp_path / "state")})
    try:
        seen = read_kernel_environ(kernel, tmp_path)
    finally:
        kernel.shutdown()
    assert not set(SECRETS) & set(seen)
    assert not any(value in seen.values() for value in SECRETS.values())
    for kept in ("PATH", "PYTHONPATH", "HOME", "LANG", "MLMON_PROMETHEUS_URL"):
        assert seen[kept] == os.environ[kept], kept
    assert seen["MLMON_STATE_DIR"] == str(tmp_path / "state")


def test_scrub_environment_drops_secret_names_only():
    env = scrub_environment({"PATH": "/bin", "MLMON_CONFIG": "c", "KEYBOARD": "us", **SECRETS,
                             "JPY_PARENT_PID": "1", "GITHUB_TOKEN": "t"}, {"EXTRA": "x"})
    assert env == {"PATH": "/bin", "MLMON_CONFIG": "c", "KEYBOARD": "us", "EXTRA": "x"}


def test_a_run_of_the_store_uses_the_state_directorys_kernel_folder(stack_config, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("MLMON_LAUNCHER_TOKEN", "s3cret-token")
    folder = tmp_path / "runbooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell(
        "import os\nfrom ipykernel.connect import get_connection_file\n"
        "from mlmon_nb.investigate import record_summary\n"
        "record_summary('where', connection_file=get_connection_file(),\n"
        "               token='MLMON_LAUNCHER_TOKEN' in os.environ)")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, folder / "Where.ipynb")
    store = RunStore(stack_config.stack.state_dir / "runs")
    run, _ = store.submit("Where", {}, source="cli")
    store.start(run.run_id)
    outcome = execute_run(store, Registry(folder), stack_config, run, timeout=120)
    assert outcome.status == "done", outcome.error
    numbers = outcome.summary["numbers"]
    connection = Path(str(numbers["connection_file"]))
    assert connection.parent == kernel_dir(stack_config.stack.state_dir)
    assert connection.parent.parent == store.root
    assert not numbers["token"]
    assert list(connection.parent.iterdir()) == []


def test_a_warm_kernel_that_died_before_its_run_is_cleaned_up(tmp_path):
    from mlmon_nb.runbooks import execute
    folder = tmp_path / "runbooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nb.cells[0].metadata["tags"] = ["parameters"]
    nbformat.write(nb, folder / "Noop.ipynb")
    before = kernel_processes()
    connections = tmp_path / "kernels"
    kernel = WarmKernel(connection_dir=connections, preload="import os")
    kernel.kill()
    with pytest.raises(RuntimeError, match="died"):
        execute(Registry(folder).get("Noop"), {}, tmp_path / "run", kernel=kernel)
    assert kernel_processes() - before == set()
    assert list(connections.iterdir()) == []
