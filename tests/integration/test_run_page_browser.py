"""Headless Chromium (Debian `chromium`) opens the `output.html` of real runbook runs at
1280×800 — the on-call engineer's first five seconds. The page must show the verdict above the
fold, coloured by state, the interesting findings next, no element wider than the viewport, no
figure twice, and no raw dict or `nan` in its visible text. Screenshots go to test-artifacts/.

The page itself carries no script; the test measures a copy of it with a small measuring
script appended, whose result lands in the DOM that `--dump-dom` prints.
"""

# ruff: noqa: F811 - the fixtures shared with test_runbooks are imported by name
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from browser_support import ARTIFACTS
from browser_support import browse as browse_once
from test_runbooks import alert_params, iso, registry, run_config  # noqa: F401 (fixtures)

from mlmon_nb.runbooks import execute, kernel_env, server_defaults, validate_parameters

WIDTH, HEIGHT = 1280, 800  # the run page answers above this fold

MEASURE = """<script>
window.addEventListener('load', () => {
  const vw = document.documentElement.clientWidth;
  const box = (sel) => { const e = document.querySelector(sel);
                         return e ? e.getBoundingClientRect().toJSON() : null; };
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const b = el.getBoundingClientRect();
    if (b.width > 0 && (b.right > vw + 1 || b.left < -1)) wide.push(el.tagName + '.' + el.className);
  }
  const shown = [...document.images].filter(i => i.offsetParent !== null);
  const out = {vw, scrollWidth: document.documentElement.scrollWidth,
               verdict: box('.mlmon-verdict-text'), card: box('.mlmon-verdict'),
               tiles: box('.mlmon-tiles'), finding: box('.mlmon-finding.interesting h3'),
               wide, images: shown.map(i => i.src), loaded: shown.every(i => i.complete),
               widest: Math.max(0, ...shown.map(i => i.getBoundingClientRect().width)),
               cardColour: getComputedStyle(document.querySelector('.mlmon-verdict')).backgroundColor,
               text: document.body.innerText};
  const pre = document.createElement('pre');
  pre.id = 'layout';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def browse(url: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return browse_once(url, profile, "--virtual-time-budget=5000", *args, height=HEIGHT)


def layout(page: Path, tmp_path: Path) -> dict:
    """What Chromium laid out for ``page`` at 1280×800 (via a measuring copy of it)."""
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = browse(probe.as_uri(), tmp_path / "profile-dom", "--dump-dom")
    found = re.search(r'<pre id="layout">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stdout[-2000:] + dom.stderr[-2000:]
    import html
    return json.loads(html.unescape(found.group(1)))


def run_page(run_config, history, registry, tmp_path, alert: str, **overrides) -> Path:
    rb = registry.get(alert)
    params = {**alert_params(history, alert), **overrides}
    params = server_defaults(rb, run_config, validate_parameters(rb, params))
    params["baseline_path"] = str(history.baseline_path)
    outcome = execute(rb, params, tmp_path / "run", env=kernel_env(run_config))
    assert outcome.status == "done", outcome.error
    return tmp_path / "run" / "output.html"


@pytest.mark.parametrize("alert", ["HighErrorRate", "DataDriftDetected"])
def test_a_firing_run_page_answers_above_the_fold(run_config, history, registry, alert, tmp_path):
    page = run_page(run_config, history, registry, tmp_path, alert)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"run-page-{alert}.png"
    browse(page.as_uri(), tmp_path / "profile-shot", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 20_000
    seen = layout(page, tmp_path)
    assert seen["vw"] == WIDTH and seen["scrollWidth"] <= WIDTH, seen["wide"]
    assert not seen["wide"], seen["wide"]  # no element wider than the viewport
    assert seen["verdict"]["bottom"] <= HEIGHT  # the verdict, above the fold
    assert seen["tiles"]["bottom"] <= HEIGHT  # and the key numbers
    assert seen["finding"]["top"] < HEIGHT  # the first interesting finding starts on screen
    assert seen["cardColour"] in ("rgb(179, 38, 30)", "rgb(168, 93, 0)")  # critical / warning
    assert seen["images"] and len(seen["images"]) == len(set(seen["images"]))  # each figure once
    assert seen["loaded"] and seen["widest"] <= 1100
    text = seen["text"]
    assert "Verdict" in text and "When it started" in text
    assert not re.search(r"\bnan\b|\{'|Out\[\d+\]", text), text
    assert not re.search(r"\d\.\d{6,}", text), text  # no six-decimal floats
    assert "def " not in text and "import " not in text  # the code is folded


def test_a_resolved_run_page_is_a_short_clear_message(run_config, history, registry, tmp_path):
    t0, _ = history.incidents["errors"]
    page = run_page(run_config, history, registry, tmp_path, "HighErrorRate",
                    starts_at=iso(t0 - 3600), start=iso(t0 - 7200), end=iso(t0 - 600))
    ARTIFACTS.mkdir(exist_ok=True)
    browse(page.as_uri(), tmp_path / "profile-shot",
           f"--screenshot={ARTIFACTS / 'run-page-resolved.png'}")
    seen = layout(page, tmp_path)
    assert seen["cardColour"] == "rgb(46, 125, 50)"  # resolved: green
    assert seen["verdict"]["bottom"] <= 300 and not seen["images"] and not seen["wide"]
    text = seen["text"]
    assert text.count("\n") < 12 and "Resolved" in text, text  # no headings over empty cells
    assert re.search(r"as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text), text


@pytest.mark.parametrize("alert", ["HighErrorRate", "DataDriftDetected"])
def test_a_hand_run_after_an_incident_is_an_investigation_of_its_window(
        run_config, history, registry, alert, tmp_path):
    """`mlmon-nb run … -p model_name … -p window 2h` with no alert, just after the incident:
    not "Resolved" (it never fired for this run) but "not firing now", when the condition held
    in the window asked for, and the same evidence as a firing run."""
    incident = {"HighErrorRate": "errors", "DataDriftDetected": "drift"}[alert]
    _, t1 = history.incidents[incident]
    page = run_page(run_config, history, registry, tmp_path, alert, starts_at="", window="2h",
                    end=iso(t1 + 3900), severity="")
    seen = layout(page, tmp_path)
    text = seen["text"]
    assert "Not firing now" in text and "Resolved" not in text and "resolved" not in text, text
    assert re.search(r"in the 2h asked for it held from \d\d:\d\d to \d\d:\d\d UTC", text), text
    assert "When it started" in text and seen["images"], text  # the evidence, with its charts
    assert re.search(r"as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text), text
    assert seen["cardColour"] == "rgb(95, 102, 112)"  # neither an alert's red nor resolved green
