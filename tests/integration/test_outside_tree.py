"""Outside this repository: the wheel, installed in a fresh venv in a folder with no clone, monitors
a service of its own with its own Prometheus and Alertmanager, and an error burst pages and runs
its runbook through the installed launcher.

The user's path, step by step: build the wheel; install it; a small HTTP service (written here, not
the demo; scrape job ``fraud-api``) instrumented with ``ModelMonitor``; ``mlmon-nb baseline build``;
``mlmon-nb init``; ``mlmon-nb rules generate``; a Prometheus loading those rules and an
Alertmanager whose configuration is a bare one with the generated launcher snippet pasted in;
``mlmon-nb launcher``. A rule and runbook of the user's own (``runbook_dirs``) page and run too.
Every ``mlmon-nb`` command runs from the fresh venv, in the fresh folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import textwrap
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from launcher_support import write_runbook

from mlmon_nb.binaries import find_binary
from mlmon_nb.runstore import RunStore
from mlmon_nb.stack import free_port

REPO = Path(__file__).resolve().parents[2]
MODEL, JOB = "fraud_detector", "fraud-api"
# what the wheel is built from: the package and the folders setup.py ships
SOURCES = ("mlmon_nb", "runbooks", "notebooks", "stack", "pyproject.toml", "setup.py",
           "MANIFEST.in", "README.md")

SERVICE = '''\
"""A fraud model's service: POST /burst?seconds=N makes its predictions fail for N seconds."""
import random, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from mlmon_nb import ModelMonitor
from mlmon_nb.instrument import load_baseline

monitor = ModelMonitor("fraud_detector", model_version="2.1",
                       baseline=load_baseline(sys.argv[2]))
failing_until = 0.0


@monitor.track("predict")
def predict(amount, country):
    if time.time() < failing_until:
        raise RuntimeError("scoring backend unavailable")
    p = min(0.99, amount / 1000)
    monitor.record_prediction("fraud" if p > 0.5 else "ok", max(p, 1 - p),
                              features={"amount": amount, "country": country})


def traffic():  # the service's own callers, 20 requests a second
    while True:
        try:
            predict(random.uniform(1, 900), random.choice(["de", "fr", "us"]))
        except RuntimeError:
            pass
        time.sleep(0.05)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = generate_latest()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        global failing_until
        seconds = float(parse_qs(urlsplit(self.path).query)["seconds"][0])
        failing_until = time.time() + seconds
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


threading.Thread(target=traffic, daemon=True).start()
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _wait(predicate, timeout: float, what: str, procs: dict[str, subprocess.Popen]):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        dead = {name: p.returncode for name, p in procs.items() if p.poll() is not None}
        assert not dead, f"exited while waiting for {what}: {dead}"
        assert time.monotonic() < deadline, f"{what} not within {timeout}s"
        time.sleep(0.5)


def _fresh_venv(tmp: Path) -> tuple[Path, dict[str, str]]:
    """The wheel built from a copy of the sources, installed in a new venv; its environment."""
    src = tmp / "src"
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, src / name)
    dist = tmp / "dist"
    # --no-isolation: setuptools and build come from the test extra, so no download
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist),
          str(src)], tmp, dict(os.environ))
    wheel = next(dist.glob("mlmon_nb-*.whl"))
    venv = tmp / "venv"
    env = {k: v for k, v in os.environ.items()  # nothing of the clone's: no PYTHONPATH
           if not k.startswith(("MLMON_", "PYTHONPATH", "JUPYTER_", "VIRTUAL_ENV"))}
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp, env)
    python = venv / "bin" / "python"
    # The package itself from the wheel, its dependencies from the test venv: installing them
    # would need the network and minutes. A .pth line appends the test venv's site-packages
    # AFTER the fresh venv's own, so `import mlmon_nb` finds the wheel's copy first (asserted
    # below); .pth files inside an appended folder are not run, so the clone's editable-install
    # hook there stays off.
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
          str(wheel)], tmp, env)
    own = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                    tmp, env).strip())
    (own / "zz_shared_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # nbconvert's templates are data files of the dependency, installed under its venv's share/
    # (the kernelspec is not linked: ipykernel's own then runs the fresh venv's python)
    (venv / "share" / "jupyter").mkdir(parents=True)
    (venv / "share" / "jupyter" / "nbconvert").symlink_to(
        Path(sys.prefix) / "share" / "jupyter" / "nbconvert")
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", VIRTUAL_ENV=str(venv),
               MPLBACKEND="Agg")
    return venv, env


@pytest.mark.timeout(420)
def test_an_installed_wheel_pages_and_runs_the_runbook_for_a_service_of_its_own(tmp_path):
    venv, env = _fresh_venv(tmp_path / "build")
    home = tmp_path / "team"  # the user's folder: no clone anywhere up from it
    home.mkdir()
    cli = str(venv / "bin" / "mlmon-nb")
    where = _run([str(venv / "bin" / "python"), "-c",
                  "import mlmon_nb, mlmon_nb.config as c; print(mlmon_nb.__file__); "
                  "print(c.shipped_dir('runbooks'))"], home, env).split()
    assert Path(where[0]).is_relative_to(venv) and not Path(where[0]).is_relative_to(REPO)
    assert (Path(where[1]) / "HighErrorRate.ipynb").is_file() and Path(where[1]).is_relative_to(venv)

    ports = {name: free_port() for name in ("service", "prometheus", "alertmanager", "launcher")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    (home / "train.csv").write_text("amount,country\n" + "".join(
        f"{(i * 37) % 900 + 1},{('de', 'fr', 'us')[i % 3]}\n" for i in range(600)))
    _run([cli, "baseline", "build", "train.csv", "--model", MODEL, "--categorical", "country",
          "--no-progress", "-o", "baselines/fraud_detector.json"], home, env)
    _run([cli, "init", "--prometheus-url", url["prometheus"], "--alertmanager-url",
          url["alertmanager"], "--launcher-url", url["launcher"], "--model", MODEL, "--job", JOB,
          "--baseline", "baselines/fraud_detector.json", "--scrape-interval", "1s"], home, env)
    refused = subprocess.run([cli, "init", "--prometheus-url", url["prometheus"]], cwd=home,
                             env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and "--force" in refused.stderr
    # HighErrorRate's `for` (5m) made 0s by the configuration, to page within this test's time
    # budget; its expression (5m window, evidence bound) is the catalogue's
    with (home / "mlmon.yaml").open("a") as config:
        config.write("alerts:\n  for: {HighErrorRate: 0s}\n")
    _run([cli, "rules", "generate", "-o", "monitoring"], home, env)
    out = home / "monitoring"
    generated = [p for p in out.rglob("*.yml")] + [home / "mlmon.yaml"]
    assert not [p.name for p in generated if "mlmon-demo" in p.read_text()]

    doc = yaml.safe_load((out / "rules" / "alerts.yml").read_text())
    fors = {r["alert"]: r.get("for") for g in doc["groups"] for r in g["rules"] if "alert" in r}
    assert fors["HighErrorRate"] == "0s" and fors["ElevatedErrorRate"] == "10m"

    # the user's own alert and its runbook, in a folder the configuration names
    (home / "own-rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "fraud-team", "rules": [
        {"alert": "FraudApiFailing", "labels": {"severity": "critical"},
         "expr": f'sum by (model_name) (rate(ml_errors_total{{job="{JOB}"}}[30s])) > 0'}]}]}))
    write_runbook(home / "my-runbooks", "FraudApiFailing",
                  "from mlmon_nb.investigate import record_summary\n"
                  "record_summary(f'our own runbook for {model_name}', n=1)")
    with (home / "mlmon.yaml").open("a") as config:
        config.write("runbook_dirs: [my-runbooks]\n")

    # the user's own Prometheus: their scrape job, the generated rules and their own
    (home / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(out / "rules" / "*.yml"), str(home / "own-rules.yml")],
        "scrape_configs": [{"job_name": JOB, "static_configs": [
            {"targets": [f"127.0.0.1:{ports['service']}"]}]}],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]}}))
    # the user's existing Alertmanager, with the generated snippet pasted in as it says
    snippet = yaml.safe_load((out / "alertmanager-launcher.yml").read_text())
    (home / "alertmanager.yml").write_text(yaml.safe_dump({
        "route": {"receiver": "team-email", "group_wait": "1s", "group_interval": "1s",
                  "routes": snippet["route"]["routes"]},
        "receivers": [{"name": "team-email"}, *snippet["receivers"]]}))

    with ExitStack() as stack:
        procs: dict[str, subprocess.Popen] = {}

        def start(name: str, cmd: list[str]) -> None:
            log = stack.enter_context(open(home / f"{name}.log", "wb"))
            procs[name] = subprocess.Popen(cmd, cwd=home, env=env, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)

            def stop(proc=procs[name]):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
            stack.callback(stop)

        (home / "service.py").write_text(SERVICE)
        start("service", [str(venv / "bin" / "python"), "service.py", str(ports["service"]),
                          "baselines/fraud_detector.json"])
        start("prometheus", [find_binary("prometheus"), f"--config.file={home / 'prometheus.yml'}",
                             f"--storage.tsdb.path={home / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{ports['prometheus']}"])
        start("alertmanager", [find_binary("alertmanager"),
                               f"--config.file={home / 'alertmanager.yml'}",
                               f"--storage.path={home / 'am'}",
                               f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                               "--cluster.listen-address="])
        start("launcher", [cli, "launcher", "--workers", "1", "--warm-kernels", "1"])
        try:
            _wait(lambda: _get(f"{url['launcher']}/healthz"), 90, "the launcher", procs)
            query = f"{url['prometheus']}/api/v1/query?query=up%7Bjob%3D%22{JOB}%22%7D"
            _wait(lambda: [r for r in _get(query)["data"]["result"] if r["value"][1] == "1"],
                  60, f"Prometheus scraping job {JOB}", procs)
            time.sleep(3)  # a few healthy scrapes before the burst
            request = urllib.request.Request(f"{url['service']}/burst?seconds=120", method="POST")
            urllib.request.urlopen(request, timeout=5).close()

            def paged():
                alerts = _get(f"{url['alertmanager']}/api/v2/alerts")
                return [a for a in alerts if a["labels"].get("alertname") == "HighErrorRate"
                        and a["labels"].get("model_name") == MODEL]
            alert = _wait(paged, 90, "HighErrorRate in Alertmanager", procs)[0]
            assert alert["labels"]["severity"] == "critical"
            assert f"{url['launcher']}/" in alert["annotations"]["runbook_url"]

            store = RunStore(home / "mlmon-state" / "runs")

            def ran(alertname: str):
                runs = [r for r in store.list(alertname=alertname)
                        if r.source == "webhook" and r.status in ("done", "failed")]
                return runs[0] if runs else None
            run = _wait(lambda: ran("HighErrorRate"), 180, "the HighErrorRate runbook run", procs)
            own = _wait(lambda: ran("FraudApiFailing"), 120, "the user's own runbook run", procs)
        except AssertionError:
            for name in procs:
                print(f"--- {name}.log\n" + (home / f"{name}.log").read_text()[-3000:])
            raise
    assert run.status == "done", run
    assert run.params["model_name"] == MODEL
    executed = store.run_dir(run.run_id)
    assert any(executed.glob("*.ipynb")), list(executed.iterdir())
    summary = textwrap.shorten(json.dumps(run.summary), 400)
    assert run.summary.get("verdict"), summary  # the shipped runbook ran to its verdict
    assert own.status == "done" and own.params["model_name"] == MODEL, own
    assert "our own runbook for fraud_detector" in json.dumps(own.summary)
