"""A model service installs only what it needs: the base wheel is prometheus-client plus the
standard library, and instruments a service in a fresh venv with nothing else present. The
Makefile's install needs no Debian packages, and its MLMON_*_BIN hint is true."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "pandas", "scipy", "matplotlib", "jupyterlab", "papermill", "pyarrow", "yaml",
         "starlette", "requests")


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("timeout", 300)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory) -> tuple[Path, Path]:
    """(the venv's python, the wheel): the package built as a wheel and installed alone."""
    root = tmp_path_factory.mktemp("packaging")
    src = root / "src"
    src.mkdir()
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copy(REPO / "README.md", src)
    shutil.copytree(REPO / "mlmon_nb", src / "mlmon_nb",
                    ignore=shutil.ignore_patterns("__pycache__"))
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = _run(pip + ["wheel", "-q", "--no-deps", "-w", str(wheels), str(src)])
    assert built.returncode == 0, built.stderr
    # the one dependency, in the version this suite runs with, next to the wheel
    version = importlib.metadata.version("prometheus-client")
    got = _run(pip + ["download", "-q", "--no-deps", f"prometheus-client=={version}",
                      "-d", str(wheels)])
    assert got.returncode == 0, got.stderr
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    # --no-index: anything the base install asked for beyond the wheelhouse would fail here
    installed = _run(pip + ["--python", str(python), "install", "-q", "--no-index",
                            "--find-links", str(wheels), "mlmon_nb"])
    assert installed.returncode == 0, installed.stderr
    return python, next(wheels.glob("mlmon_nb-*.whl"))


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PROMETHEUS_MULTIPROC_DIR", "VIRTUAL_ENV")}


SERVICE = """
import importlib.util, sys
from prometheus_client import CollectorRegistry, generate_latest
import mlmon_nb
from mlmon_nb import ModelMonitor
from mlmon_nb.instrument import MetricsMiddleware, load_baseline, mount_metrics

registry = CollectorRegistry()
monitor = ModelMonitor("svc", model_version="2", registry=registry, segments=["web"])

@monitor.track("predict")
def predict(x):
    return "yes", 0.8

label, conf = predict(1.0)
monitor.record_prediction(label, conf, features={"x": 1.0, "kind": "a"}, request_id="r1",
                          segment="web")
assert monitor.record_feedback("r1", "yes")
print(generate_latest(registry).decode())
print("HEAVY", [m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None])
print("LOADED", [m for m in sys.argv[1:] if m in sys.modules])
print("FROM", mlmon_nb.__file__)
"""


def test_the_base_install_instruments_a_service_with_prometheus_client_alone(base_venv, tmp_path):
    python, _ = base_venv
    dists = _run([str(python), "-c", "import importlib.metadata as m; "
                  "print(sorted(d.metadata['Name'].lower().replace('-', '_') "
                  "for d in m.distributions()))"],
                 env=_clean_env(), cwd=tmp_path)
    assert dists.returncode == 0, dists.stderr
    assert dists.stdout.strip() == "['mlmon_nb', 'prometheus_client']"
    out = _run([str(python), "-c", SERVICE, *HEAVY], env=_clean_env(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert 'ml_requests_total{endpoint="predict",model_name="svc",model_version="2"} 1.0' \
        in out.stdout
    assert ('ml_ground_truth_total{model_name="svc",model_version="2",outcome="correct",'
            'segment="web"} 1.0') \
        in out.stdout
    assert "HEAVY []" in out.stdout and "LOADED []" in out.stdout
    assert str(python.parent.parent) in out.stdout.split("FROM", 1)[1]  # the wheel, not the tree


def test_a_base_install_loads_a_baseline_for_serving(base_venv, tmp_path):
    from mlmon_nb.stack.demo.model import MODEL_NAME, training_baseline
    base = training_baseline(500)
    path = base.save(tmp_path / "b.json")
    python, _ = base_venv
    code = ("import sys; from prometheus_client import CollectorRegistry, generate_latest; "
            "from mlmon_nb.instrument import ModelMonitor, load_baseline; "
            f"b = load_baseline({str(path)!r}); "
            f"m = ModelMonitor({MODEL_NAME!r}, baseline=b, registry=CollectorRegistry()); "
            "print(b.baseline_id, generate_latest(m.registry).decode())")
    out = _run([str(python), "-c", code], env=_clean_env(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(base.baseline_id)
    assert f'baseline_id="{base.baseline_id}"' in out.stdout


def test_the_cli_of_a_base_install_names_the_extra_to_install(base_venv, tmp_path):
    python, _ = base_venv
    cli = python.parent / "mlmon-nb"
    assert _run([str(cli), "--help"], env=_clean_env(), cwd=tmp_path).returncode == 0
    out = _run([str(cli), "stack", "status"], env=_clean_env(), cwd=tmp_path)
    assert out.returncode == 2
    assert "stack needs yaml" in out.stderr and "pip install 'mlmon_nb[stack]'" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_wheel_declares_extras_for_everything_else(base_venv):
    _, wheel = base_venv
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read(next(n for n in zf.namelist() if n.endswith("METADATA"))).decode()
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines()
                if line.startswith("Requires-Dist:")]
    assert [r for r in requires if "extra ==" not in r] == ["prometheus-client>=0.19"]
    extras = {line.split(":", 1)[1].strip() for line in meta.splitlines()
              if line.startswith("Provides-Extra:")}
    assert {"notebooks", "launcher", "stack", "all", "test"} <= extras
    notebooks = " ".join(r for r in requires if 'extra == "notebooks"' in r)
    for name in ("pandas", "scipy", "jupyterlab", "papermill"):
        assert name in notebooks


# --- Makefile ---------------------------------------------------------------------------------

BIN_VARS = {"MLMON_PROMETHEUS_BIN": "prometheus", "MLMON_PROMTOOL_BIN": "promtool",
            "MLMON_ALERTMANAGER_BIN": "prometheus-alertmanager", "MLMON_AMTOOL_BIN": "amtool",
            "MLMON_NODE_EXPORTER_BIN": "prometheus-node-exporter",
            "MLMON_VICTORIAMETRICS_BIN": "victoria-metrics"}


def _make(*args, env: dict[str, str]) -> subprocess.CompletedProcess:
    return _run([shutil.which("make"), "-s", "-C", str(REPO), *args], env=env, timeout=60)


def test_make_install_needs_no_debian_packages():
    env = {"PATH": os.environ["PATH"]}
    install = _make("-n", "install", "VENV=/nonexistent/venv", env=env)
    assert install.returncode == 0, install.stderr
    assert "pip install -q -e '.[all,test]'" in install.stdout
    assert "apt-get install -y" not in install.stdout and "prometheus" not in install.stdout
    for target in ("demo", "test"):
        plan = _make("-n", target, "VENV=/nonexistent/venv", env=env)
        assert "apt-get install -y" in plan.stdout, target  # they check the stack's binaries


def test_make_system_deps_accepts_the_mlmon_bin_variables(tmp_path):
    # a PATH with the shell tools only: no stack binaries and no apt-get (so nothing installs)
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("tr", "sort", "id"):
        (tools / tool).symlink_to(shutil.which(tool))
    bare = {"PATH": str(tools)}
    missing = _make("system-deps", env=bare)
    assert missing.returncode != 0
    assert "MLMON_PROMETHEUS_BIN" in missing.stderr
    assert "apt-get install prometheus" in missing.stderr
    found = {var: shutil.which(binary) for var, binary in BIN_VARS.items()}
    assert all(found.values()), found
    assert _make("system-deps", env={**bare, **found}).returncode == 0
    wrong = _make("system-deps", env={**bare, **found, "MLMON_PROMETHEUS_BIN": "/nonexistent/p"})
    assert wrong.returncode != 0
    assert "MLMON_PROMETHEUS_BIN=/nonexistent/p is not an executable" in wrong.stderr


def test_the_compose_image_installs_the_stack_extra():
    """The image runs the demo service, the traffic generator and the launcher: not the base."""
    run = [line for line in (REPO / "stack" / "Dockerfile").read_text().splitlines()
           if line.startswith("RUN pip install")]
    assert run and "'.[stack]'" in run[0], run
