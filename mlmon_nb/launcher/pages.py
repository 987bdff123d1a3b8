"""The launcher's HTML: run list, run page, launch form and error page. Pure functions of their
arguments; every value is escaped and notebook output is sanitized before it is embedded."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..runbooks import RESERVED_PARAMETERS, sanitize_html
from ..runstore import FINAL_STATUSES, Run

__all__ = ["error_page", "form_page", "page", "run_page", "run_rows", "runs_page"]

_E = html.escape
_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left;font-size:.9rem}.status{font-weight:600}.done{color:#2a7a2a}.failed,.timeout,
.dead_kernel{color:#b02020}.queued,.running{color:#a06000}nav a{margin-right:1rem}
.nb{border-top:2px solid #eee;margin-top:1rem;padding-top:1rem}pre{background:#f6f6f6;
padding:.5rem;overflow-x:auto}.verdict{background:#f4f8ff;padding:.5rem;border-left:4px solid #4a7}
input{min-width:24rem}"""


def page(title: str, body: str, *, refresh: bool = False) -> str:
    """A whole page around ``body`` (already escaped HTML)."""
    meta = '<meta http-equiv="refresh" content="2">' if refresh else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'>{meta}<title>{_E(title)}</title>"
            f"<style>{_STYLE}</style></head><body><nav><a href='/runs'>runs</a>"
            f"<a href='/healthz'>health</a></nav>{body}</body></html>")


def error_page(status: int, message: str) -> str:
    return page("error", f"<h1>{status}</h1><p>{_E(message)}</p>")


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else ""


def run_rows(runs: list[Run], max_attempts: int) -> str:
    """The run table: one row per run, attempts out of the bound."""
    rows = "".join(
        f"<tr><td><a href='/runs/{r.run_id}'>{r.run_id}</a></td><td>{_E(r.alertname)}</td>"
        f"<td>{_E(r.model_name)}</td><td class='status {r.status}'>{r.status}</td>"
        f"<td>{r.attempts}/{max_attempts}</td>"
        f"<td>{'' if r.duration is None else f'{r.duration:.1f}s'}</td><td>{_E(r.source)}</td>"
        f"<td>{_fmt_time(r.created)}</td><td>{_E(r.verdict[:160])}</td></tr>" for r in runs)
    return ("<table><tr><th>run</th><th>alert</th><th>model</th><th>status</th><th>attempts</th>"
            f"<th>duration</th><th>source</th><th>created</th><th>verdict</th></tr>{rows}</table>")


def runs_page(runs: list[Run], filters: Mapping[str, str], max_attempts: int) -> str:
    """The run list with its filter form."""
    fields = "".join(
        f"<label>{name} <input name='{name}' value='{_E(filters.get(name, ''))}'></label> "
        for name in ("model_name", "alertname", "status"))
    return page("runs", f"<h1>Runbook runs</h1><form method='get'>{fields}"
                        f"<button>filter</button></form>{run_rows(runs, max_attempts)}")


def run_page(run: Run, run_dir: Path, jupyter_url: str, max_attempts: int) -> str:
    """One run: status, attempts, verdict, parameters and the sanitized executed notebook."""
    params = "".join(f"<tr><th>{_E(k)}</th><td>{_E(str(v))}</td></tr>"
                     for k, v in sorted(run.params.items()))
    lab = f"{jupyter_url}/lab/tree/runs/{run.run_id}/output.ipynb"
    out = run_dir / "output.html"
    notebook = sanitize_html(out.read_text()) if out.exists() and run.status in FINAL_STATUSES \
        else "<p>The notebook is being executed; this page refreshes itself.</p>"
    duration = "" if run.duration is None else f"{run.duration:.1f}s"
    rerun = urlencode({k: v for k, v in run.params.items() if k not in RESERVED_PARAMETERS})
    body = (f"<h1>{_E(run.alertname)} · {_E(run.model_name)}</h1>"
            f"<p>Run <code>{run.run_id}</code> — status <span class='status {run.status}'>"
            f"{run.status}</span> {duration} · attempt <span class='attempts'>{run.attempts}"
            f"/{max_attempts}</span> · {_E(run.source)} · created {_fmt_time(run.created)}"
            + (f" · alert resolved {_E(run.resolved_at)}" if run.resolved_at else "") + "</p>"
            + (f"<p class='verdict'>{_E(run.verdict)}</p>" if run.verdict else "")
            + (f"<p class='failed'>{_E(run.error)}</p>" if run.error else "")
            + f"<p><a href='/runs/{run.run_id}/output.ipynb' download>download .ipynb</a> · "
              f"<a href='{_E(lab)}'>open in JupyterLab</a> · "
              f"<a href='/runbook/{_E(run.alertname)}?{_E(rerun)}&amp;rerun=1'>run again</a></p>"
            f"<details><summary>parameters</summary><table>{params}</table></details>"
            f"<div class='nb'>{notebook}</div>")
    return page(f"{run.alertname} {run.run_id}", body, refresh=run.status not in FINAL_STATUSES)


def form_page(alertname: str, runbook, values: Mapping[str, Any], csrf: str,
              token_needed: bool) -> str:
    """The launch form, pre-filled from the link, with its signed CSRF token."""
    fields = "".join(
        f"<tr><th><label for='p-{_E(n)}'>{_E(n)}</label></th><td><input id='p-{_E(n)}' "
        f"name='{_E(n)}' value='{_E(str(values.get(n, '')))}'></td>"
        f"<td>{_E(p.help)}</td></tr>"
        for n, p in sorted(runbook.parameters.items()) if n not in RESERVED_PARAMETERS)
    token = ("<tr><th>token</th><td><input type='password' name='access_token'></td>"
             "<td>the launcher's bearer token</td></tr>") if token_needed else ""
    body = (f"<h1>Run the {_E(alertname)} runbook</h1><p>No run of this alert with these "
            f"parameters yet. Check them and run:</p>"
            f"<form method='post' action='/runbook/{_E(alertname)}'>"
            f"<input type='hidden' name='csrf_token' value='{_E(csrf)}'>"
            f"<table>{fields}{token}</table><button type='submit'>Run</button></form>")
    return page(f"run {alertname}", body)
