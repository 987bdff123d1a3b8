"""Headless Chromium (Debian `chromium`) opens a run page served by the stack's launcher and its
"open in JupyterLab" link on the stack's JupyterLab; screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace

import httpx
import pytest
from browser_support import ARTIFACTS, browse, browser
from launcher_support import alert, iso, payload, wait_for

from mlmon_nb.stack import Stack


@pytest.fixture
def stack(history, prometheus, tmp_path):
    cfg = replace(history.config, prometheus_url=prometheus)
    cfg = cfg.with_ports({"launcher": _port(), "jupyter": _port()}, state_dir=tmp_path / "state")
    cfg = replace(cfg, prometheus_url=prometheus)
    (tmp_path / "state" / "baselines").mkdir(parents=True)
    shutil.copy(history.baseline_path, tmp_path / "state" / "baselines" / history.baseline_path.name)
    stack = Stack(cfg)
    stack.up(["launcher", "jupyter"], timeout=120)
    try:
        yield stack, cfg
    finally:
        stack.down()


def _port() -> int:
    from mlmon_nb.stack import free_port
    return free_port()


def test_chromium_shows_a_run_page_and_its_jupyterlab_link(stack, history, tmp_path):
    stack, cfg = stack
    ARTIFACTS.mkdir(exist_ok=True)
    t0, t1 = history.incidents["errors"]
    firing = alert("HighErrorRate", fingerprint="browser1", starts_at=iso(t0 + 600))
    r = httpx.post(f"{cfg.launcher_url}/alertmanager", json=payload(firing), timeout=30)
    assert r.status_code == 200, r.text
    run_id = r.json()["runs"][0]["run_id"]
    run = wait_for(lambda: (lambda j: j if j["status"] not in ("queued", "running") else None)(
        httpx.get(f"{cfg.launcher_url}/runs/{run_id}", params={"format": "json"}).json()),
        timeout=180)
    assert run["status"] == "done", run["error"]

    page_url = f"{cfg.launcher_url}/runs/{run_id}"
    dom = browse(page_url, tmp_path / "profile-dom", "--dump-dom")
    assert "HighErrorRate" in dom.stdout and "Verdict" in dom.stdout, dom.stderr[-2000:]
    shot = ARTIFACTS / "launcher-run-page.png"
    browse(page_url, tmp_path / "profile-run", f"--screenshot={shot}")
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one

    link = re.search(r"href='([^']*/lab/tree/runs/[^']*)'", httpx.get(page_url).text).group(1)
    token = stack.jupyter_token()
    # JupyterLab's own token (from the state dir), so the link opens the notebook directly
    assert link == f"{cfg.jupyter_url}/lab/tree/runs/{run_id}/output.ipynb?token={token}"
    contents = httpx.get(f"{cfg.jupyter_url}/api/contents/runs/{run_id}/output.ipynb",
                         headers={"Authorization": f"token {token}"}, timeout=30)
    assert contents.status_code == 200 and contents.json()["type"] == "notebook"
    # the record of the run: its cells cannot be edited or deleted in JupyterLab
    cells = contents.json()["content"]["cells"]
    assert cells and all(c["metadata"].get("editable") is False
                         and c["metadata"].get("deletable") is False for c in cells)
    # no secret in the Lab's file browser: neither its token nor the launcher's secret
    for folder, secret in (("", "jupyter_token"), ("runs", "launcher-secret")):
        assert (cfg.stack.state_dir / folder / secret).exists()
        listed = httpx.get(f"{cfg.jupyter_url}/api/contents/{folder}",
                           headers={"Authorization": f"token {token}"}, timeout=30).json()
        names = [item["name"] for item in listed["content"]]
        assert names and secret not in names, names
    lab_shot = ARTIFACTS / "jupyterlab-run-notebook.png"
    with browser(tmp_path / "profile-lab") as lab:
        lab.open(link)
        # JupyterLab is an app: it is ready when the notebook's cells are on screen
        lab.wait_for("document.querySelector('.jp-NotebookPanel .jp-OutputArea-output') !== null"
                     " && [...document.querySelectorAll('.lm-TabBar-tabLabel')]"
                     ".some(tab => tab.textContent === 'output.ipynb')")
        text = lab.evaluate("document.body.innerText")
        assert "Token authentication is enabled" not in text  # not the bare token prompt
        assert "HighErrorRate" in text, text[-2000:]  # the run's own notebook, as it ran
        assert "Would you like to get notified" not in text  # no news prompt over the notebook
        assert lab.evaluate("document.documentElement.clientWidth") == 1280
        # JupyterLab shows the cells as locked (read-only), not as a notebook to edit
        editors = "[...document.querySelectorAll('.jp-NotebookPanel .jp-Cell .cm-editor')]"
        assert lab.evaluate(f"{editors}.length > 0 && {editors}.every(e => "
                            f"e.classList.contains('jp-mod-readOnly') && e.querySelector("
                            f"'.cm-content').getAttribute('aria-readonly') === 'true')"), \
            "a cell of the run's record is editable"
        # opening the record starts no kernel: the toolbar says so once the notebook is
        # rendered, and the Lab's kernel and session lists stay empty
        lab.wait_for("[...document.querySelectorAll('.jp-NotebookPanel .jp-KernelName')]"
                     ".some(k => k.textContent.trim() === 'No Kernel')", timeout=60)
        auth = {"Authorization": f"token {token}"}
        for api in ("kernels", "sessions"):
            listed = httpx.get(f"{cfg.jupyter_url}/api/{api}", headers=auth, timeout=30)
            assert listed.status_code == 200 and listed.json() == [], (api, listed.text)
        lab.screenshot(lab_shot)
    assert lab_shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert lab_shot.stat().st_size > 20_000
