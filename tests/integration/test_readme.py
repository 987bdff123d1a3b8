"""The README and docs/ run as pasted: every fenced code block is executed here, the README's
first and then each page of docs/ in the order the README lists them, in one working directory,
the way a reader following them would (the venv's commands on PATH, as after
``source .venv/bin/activate``), against a real Prometheus over backfilled history.

A block may be marked by an HTML comment on the line right before its fence:

- ``<!-- readme: illustrative -->`` is not run (it installs, starts the whole stack, writes the
  committed files or needs Docker) but is still compiled (python), ``bash -n``-checked (bash) or
  parsed (yaml; a configuration is also validated);
- ``<!-- readme: continues -->`` (python) runs after the python block before it, in one process;
- ``<!-- readme: server PATH -->`` (bash) starts a server in the foreground: it runs in the
  background until ``PATH`` answers 200 on ``$UVICORN_PORT``, is scraped, and is stopped.

A README that drifts from the code fails here. The blocks build on each other (the baseline
built in one is loaded in the next), so run the module as a whole.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from mlmon_nb.config import parse_config
from mlmon_nb.stack import free_port

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
# the pages in reading order: the README, then docs/ as its "Where to read on" table lists them
DOCS = [README] + [REPO / link for link in
                   dict.fromkeys(re.findall(r"\]\((docs/[\w-]+\.md)\)", README.read_text()))]
MARK = re.compile(r"^<!--\s*readme:\s*(\w+)(?:\s+(\S+))?\s*-->$")
MARKS = ("run", "illustrative", "continues", "server")
LANGS = ("python", "bash", "yaml", "nginx")


@dataclass(frozen=True)
class Block:
    """One fenced block: where it starts, its language, its code and its mark."""

    line: int
    lang: str
    code: str
    mark: str = "run"
    arg: str = ""
    doc: str = "README.md"

    @property
    def id(self) -> str:
        return f"{Path(self.doc).stem}-L{self.line}-{self.lang}-{self.mark}"

    @property
    def where(self) -> str:
        return f"{self.doc} line {self.line}"


def parse_blocks(text: str, doc: str = "README.md") -> list[Block]:
    """Every fenced block of ``text`` with the mark on the line before it (if any)."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        fence = re.match(r"^```(\S*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"{doc} line {start + 1}: the block is never closed"
        mark = MARK.match(lines[start - 1].strip()) if start else None
        out.append(Block(start + 1, fence.group(1), "\n".join(body) + "\n",
                         mark.group(1) if mark else "run", (mark.group(2) or "") if mark else "",
                         doc))
        i += 1
    return out


BLOCKS = [b for page in DOCS for b in parse_blocks(page.read_text(), str(page.relative_to(REPO)))]
RUNNABLE = [b for b in BLOCKS if b.mark != "illustrative"]
ILLUSTRATIVE = [b for b in BLOCKS if b.mark == "illustrative"]


def test_every_block_has_a_known_language_and_mark():
    for b in BLOCKS:
        assert b.lang in LANGS, f"{b.where}: fence language {b.lang!r} not in {LANGS}"
        assert b.mark in MARKS, f"{b.where}: unknown mark {b.mark!r}"
        if b.mark == "continues":
            before = [p for p in RUNNABLE[:RUNNABLE.index(b)] if p.lang == "python"]
            assert b.lang == "python" and before, f"{b.where}: continues nothing"
        if b.mark == "server":
            assert b.lang == "bash" and b.arg.startswith("/"), f"{b.where}"
    # most of it runs: marking everything illustrative is not a way out
    assert sum(b.lang == "python" for b in RUNNABLE) >= 6
    assert sum(b.lang == "bash" for b in RUNNABLE) >= 6


def test_the_marks_are_read_as_written():
    text = ("x\n<!-- readme: illustrative -->\n```bash\nmake demo\n```\n\n```python\nx = 1\n```\n"
            "<!-- readme: server /health -->\n```bash\nuvicorn app\n```\n")
    assert parse_blocks(text) == [Block(3, "bash", "make demo\n", "illustrative"),
                                  Block(7, "python", "x = 1\n"),
                                  Block(11, "bash", "uvicorn app\n", "server", "/health")]


@pytest.mark.parametrize("block", ILLUSTRATIVE, ids=lambda b: b.id)
def test_illustrative_blocks_are_well_formed(block):
    if block.lang == "python":
        compile(block.code, f"{block.doc}:{block.line}", "exec")
    elif block.lang == "bash":
        check = subprocess.run(["bash", "-n"], input=block.code, capture_output=True, text=True)
        assert check.returncode == 0, f"{block.where}: {check.stderr}"
    elif block.lang == "nginx":  # a proxy configuration: balanced blocks, ';'-ended directives
        assert block.code.count("{") == block.code.count("}") > 0, f"{block.where}"
    else:
        doc = yaml.safe_load(block.code)
        assert isinstance(doc, dict), f"{block.where}"
        if "version" in doc:  # a configuration: it must load
            parse_config(doc, README)


@dataclass
class Reader:
    """The reader's shell: a working directory and the environment of an activated venv."""

    cwd: Path
    env: dict[str, str]
    port: int


@pytest.fixture(scope="module")
def reader(tmp_path_factory, history, prometheus) -> Reader:
    cwd = tmp_path_factory.mktemp("reader")
    for folder in ("notebooks", "runbooks"):  # the clone's folders the commands name
        (cwd / folder).symlink_to(REPO / folder)
    state = cwd / "mlmon-state"
    (state / "baselines").mkdir(parents=True)
    shutil.copy(history.baseline_path, state / "baselines" / history.baseline_path.name)
    venv_bin = str(Path(sys.executable).parent)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLMON_", "PROMETHEUS_MULTIPROC", "prometheus_multiproc"))}
    env.update(PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
               VIRTUAL_ENV=str(Path(venv_bin).parent), PYTHONPATH=str(REPO),
               MLMON_PROMETHEUS_URL=prometheus, MLMON_STATE_DIR=str(state),
               UVICORN_PORT=str(port), MPLBACKEND="Agg")
    return Reader(cwd, env, port)


def _python_source(block: Block) -> str:
    if block.mark != "continues":
        return block.code
    before = [b for b in RUNNABLE[:RUNNABLE.index(block)] if b.lang == "python"][-1]
    return _python_source(before) + block.code


def _run_server(block: Block, reader: Reader) -> None:
    proc = subprocess.Popen(["bash", "-e", "-c", block.code], cwd=reader.cwd, env=reader.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    url = f"http://127.0.0.1:{reader.port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(url + block.arg, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, (f"{block.where} exited "
                                         f"{proc.returncode}: {proc.stderr.read().decode()}")
            assert time.monotonic() < deadline, f"{block.where}: {url} never answered"
            time.sleep(0.3)
        assert requests.get(url + "/metrics", timeout=10).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server's own session: what this test started
        try:
            err = proc.communicate(timeout=30)[1].decode()
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            err = proc.communicate()[1].decode()
    assert "Traceback" not in err, f"{block.where}:\n{err}"


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_readme_block_runs(block, reader):
    if block.mark == "server":
        _run_server(block, reader)
        return
    if block.lang == "python":
        cmd = [sys.executable, "-c", _python_source(block)]
    elif block.lang == "bash":
        cmd = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    else:
        pytest.fail(f"{block.where}: a {block.lang} block cannot run; mark it "
                    f"illustrative")
    result = subprocess.run(cmd, cwd=reader.cwd, env=reader.env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, (f"{block.where} failed ({result.returncode}):\n"
                                    f"{block.code}\n--- stdout\n{result.stdout[-3000:]}\n"
                                    f"--- stderr\n{result.stderr[-3000:]}")


def test_every_page_of_docs_is_read_and_run():
    assert sorted(DOCS[1:]) == sorted((REPO / "docs").glob("*.md")), \
        "list each docs/ page in the README's 'Where to read on' table"
