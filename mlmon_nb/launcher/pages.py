"""The launcher's HTML: incident console, run list, run page, launch form and error page. Pure
functions of their arguments; every value is escaped and notebook output is sanitized before it
is embedded."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from ..runbooks import RESERVED_PARAMETERS, sanitize_html
from ..runstore import FINAL_STATUSES, Run
from .console import AlertFeed, ConsoleAlert, relative_time

__all__ = ["console_page", "error_page", "form_page", "lab_link", "page", "run_page",
           "run_rows", "run_state", "runs_page"]

_E = html.escape
_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left;font-size:.9rem}.status{font-weight:600}.done{color:#2a7a2a}.failed,.timeout,
.dead_kernel{color:#b02020}.queued,.running{color:#a06000}nav a{margin-right:1rem}
.nb{border-top:2px solid #eee;margin-top:1rem;padding-top:1rem}pre{background:#f6f6f6;
padding:.5rem;overflow-x:auto}.verdict{background:#f4f8ff;padding:.5rem;border-left:4px solid #4a7}
input{min-width:24rem}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.7rem;font-size:.8rem;
font-weight:600;color:#fff;background:#777}.sev-critical,.sev-page{background:#c0262d}
.sev-warning{background:#d9822b}.sev-info{background:#2b6cb0}.state-firing{background:#c0262d}
.state-resolved{background:#2a7a2a}.state-manual{background:#6b6b6b}.state-suppressed{
background:#8a6d3b}.alert{border:1px solid #ddd;border-left:6px solid #999;padding:.5rem .75rem;
margin:.6rem 0;border-radius:4px}.alert.sev-critical,.alert.sev-page{border-left-color:#c0262d;
background:#fff}.alert.sev-warning{border-left-color:#d9822b;background:#fff}.alert.sev-info{
border-left-color:#2b6cb0;background:#fff}.alert h3{margin:.1rem 0 .3rem;font-size:1.1rem}
.label{display:inline-block;background:#eef;border-radius:3px;padding:0 .3rem;margin:0 .2rem
.2rem 0;font-size:.8rem;font-family:monospace}.muted{color:#666;font-size:.85rem}
.problem{background:#fff4e5;border-left:4px solid #d9822b;padding:.5rem}
.notice{background:#eef8ee;border-left:4px solid #2a7a2a;padding:.5rem}
.alert form{display:inline}.alert details{margin-top:.3rem}.alert details input{min-width:12rem}
.run{margin:.3rem 0}"""


def page(title: str, body: str, *, refresh: bool = False) -> str:
    """A whole page around ``body`` (already escaped HTML)."""
    meta = '<meta http-equiv="refresh" content="2">' if refresh else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'>{meta}<title>{_E(title)}</title>"
            f"<style>{_STYLE}</style></head><body><nav><a href='/'>console</a>"
            f"<a href='/runs'>runs</a>"
            f"<a href='/healthz'>health</a></nav>{body}</body></html>")


def error_page(status: int, message: str) -> str:
    return page("error", f"<h1>{status}</h1><p>{_E(message)}</p>")


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else ""


def run_state(run: Run) -> str:
    """The state of the alert behind a run: ``resolved`` (Alertmanager said so), ``firing`` (a
    webhook run whose alert has not resolved) or ``manual`` (a link, form or shell run)."""
    if run.resolved_at:
        return "resolved"
    return "firing" if run.source == "webhook" else "manual"


def _state_badge(run: Run) -> str:
    state = run_state(run)
    title = f"alert resolved {run.resolved_at}" if run.resolved_at else {
        "firing": "started by a firing alert; not resolved yet",
        "manual": "started by hand (link, form or shell)"}[state]
    return f"<span class='badge state-{state}' title='{_E(title)}'>{state}</span>"


def run_rows(runs: list[Run], max_attempts: int) -> str:
    """The run table: one row per run, its alert's state, attempts out of the bound."""
    rows = "".join(
        f"<tr class='run-{run_state(r)}'><td><a href='/runs/{r.run_id}'>{r.run_id}</a></td>"
        f"<td>{_state_badge(r)}</td><td>{_E(r.alertname)}</td>"
        f"<td>{_E(r.model_name)}</td><td class='status {r.status}'>{r.status}</td>"
        f"<td>{r.attempts}/{max_attempts}</td>"
        f"<td>{'' if r.duration is None else f'{r.duration:.1f}s'}</td><td>{_E(r.source)}</td>"
        f"<td>{_fmt_time(r.created)}</td><td>{_E(r.verdict[:160])}</td></tr>" for r in runs)
    return ("<table><tr><th>run</th><th>alert state</th><th>alert</th><th>model</th>"
            "<th>status</th><th>attempts</th>"
            f"<th>duration</th><th>source</th><th>created</th><th>verdict</th></tr>{rows}</table>")


def runs_page(runs: list[Run], filters: Mapping[str, str], max_attempts: int) -> str:
    """The run list with its filter form."""
    fields = "".join(
        f"<label>{name} <input name='{name}' value='{_E(filters.get(name, ''))}'></label> "
        for name in ("model_name", "alertname", "status"))
    return page("runs", f"<h1>Runbook runs</h1><form method='get'>{fields}"
                        f"<button>filter</button></form>{run_rows(runs, max_attempts)}")


def _rerun(run: Run, rerunnable: bool) -> str:
    """"run again": the runbook's launch form for a runbook; for a dashboard notebook (not
    served by the launcher) the shell command that reruns it."""
    params = {k: v for k, v in run.params.items() if k not in RESERVED_PARAMETERS}
    if rerunnable:
        query = urlencode({**params, "rerun": "1"})
        return f"<a class='rerun' href='/runbook/{quote(run.alertname)}?{_E(query)}'>run again</a>"
    args = " ".join(f"-p {k} {v}" for k, v in sorted(params.items())
                    if k not in ("alertname", "starts_at") and v not in ("", None))
    return (f"run again from a shell: <code>mlmon-nb run notebooks/{_E(run.alertname)}.ipynb "
            f"{_E(args)}</code>")


def lab_link(jupyter_url: str, run_id: str, jupyter_token: str | None) -> str:
    """The executed notebook in JupyterLab, with JupyterLab's own token when known (so the link
    opens the notebook, not a login prompt)."""
    lab = f"{jupyter_url}/lab/tree/runs/{run_id}/output.ipynb"
    return f"{lab}?{urlencode({'token': jupyter_token})}" if jupyter_token else lab


def run_page(run: Run, run_dir: Path, jupyter_url: str, max_attempts: int, *,
             jupyter_token: str | None = None, rerunnable: bool = True) -> str:
    """One run: status, its alert's state, attempts, verdict, parameters and the sanitized
    executed notebook; "run again" as a form link (runbooks) or a shell command (notebooks)."""
    params = "".join(f"<tr><th>{_E(k)}</th><td>{_E(str(v))}</td></tr>"
                     for k, v in sorted(run.params.items()))
    lab = lab_link(jupyter_url, run.run_id, jupyter_token)
    out = run_dir / "output.html"
    notebook = sanitize_html(out.read_text()) if out.exists() and run.status in FINAL_STATUSES \
        else "<p>The notebook is being executed; this page refreshes itself.</p>"
    duration = "" if run.duration is None else f"{run.duration:.1f}s"
    body = (f"<h1>{_E(run.alertname)} · {_E(run.model_name)} {_state_badge(run)}</h1>"
            f"<p>Run <code>{run.run_id}</code> — status <span class='status {run.status}'>"
            f"{run.status}</span> {duration} · attempt <span class='attempts'>{run.attempts}"
            f"/{max_attempts}</span> · {_E(run.source)} · created {_fmt_time(run.created)}"
            + (f" · alert resolved {_E(run.resolved_at)}" if run.resolved_at else "") + "</p>"
            + (f"<p class='verdict'>{_E(run.verdict)}</p>" if run.verdict else "")
            + (f"<p class='failed'>{_E(run.error)}</p>" if run.error else "")
            + f"<p><a href='/runs/{run.run_id}/output.ipynb' download>download .ipynb</a> · "
              f"<a class='lab' href='{_E(lab)}' rel='noreferrer'>open in JupyterLab</a> · "
              f"{_rerun(run, rerunnable)}</p>"
            f"<details><summary>parameters</summary><table>{params}</table></details>"
            f"<div class='nb'>{notebook}</div>")
    return page(f"{run.alertname} {run.run_id}", body, refresh=run.status not in FINAL_STATUSES)


# -- the incident console ---------------------------------------------------------------------


def _abs_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else ""


def _iso(ts: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else ""


def _link(url: str, text: str) -> str:
    if not url.startswith(("http://", "https://")):
        return _E(url)
    return f"<a href='{_E(url)}' rel='noreferrer'>{_E(text)}</a>"


def _run_cell(alert: ConsoleAlert, run: Run | None, declared: frozenset[str] | None,
              csrf: str, token_needed: bool) -> str:
    """The alert's runbook run (state, verdict, link), else a button that runs it, else why
    there is none."""
    if run is not None:
        verdict = f" — {_E(run.verdict[:200])}" if run.verdict else ""
        return (f"<div class='run'>runbook run <a href='/runs/{run.run_id}'>{run.run_id}</a>: "
                f"<span class='status {run.status}'>{run.status}</span>{verdict}</div>")
    if declared is None:
        return "<div class='run muted'>no runbook for this alert</div>"
    values = {k: v for k, v in alert.labels.items()
              if k in declared and k not in RESERVED_PARAMETERS}
    if "starts_at" in declared and alert.starts_at:
        values["starts_at"] = _iso(alert.starts_at)
    hidden = "".join(f"<input type='hidden' name='{_E(k)}' value='{_E(v)}'>"
                     for k, v in sorted(values.items()))
    token = ("<input type='password' name='access_token' placeholder='launcher token'>"
             if token_needed else "")
    return (f"<div class='run'><form method='post' action='/runbook/{quote(alert.alertname)}'>"
            f"<input type='hidden' name='csrf_token' value='{_E(csrf)}'>{hidden}{token}"
            f"<button type='submit'>run the {_E(alert.alertname)} runbook</button></form> "
            f"<span class='muted'>no run yet</span></div>")


def _silence_form(alert: ConsoleAlert, csrf: str, token_needed: bool) -> str:
    hidden = "".join(f"<input type='hidden' name='label.{_E(k)}' value='{_E(v)}'>"
                     for k, v in sorted(alert.labels.items()))
    token = ("<label>token <input type='password' name='access_token'></label> "
             if token_needed else "")
    return (f"<details><summary>silence…</summary><form method='post' action='/silences'>"
            f"<input type='hidden' name='csrf_token' value='{_E(csrf)}'>{hidden}"
            f"<label>for <input name='duration' value='2h' size='5'></label> "
            f"<label>comment <input name='comment' required></label> "
            f"<label>author <input name='author' required></label> {token}"
            f"<button type='submit'>silence</button></form></details>")


def _alert_card(alert: ConsoleAlert, run: Run | None, declared: frozenset[str] | None,
                csrf: str, token_needed: bool, can_silence: bool, now: float) -> str:
    sev = alert.severity or "none"
    labels = "".join(f"<span class='label'>{_E(k)}={_E(v)}</span>"
                     for k, v in sorted(alert.labels.items()) if k not in ("alertname",))
    note = alert.annotations.get("summary") or alert.annotations.get("description", "")
    link = alert.annotations.get("runbook_url", "")
    state = ""
    if alert.state not in ("active", "firing"):
        state = f" <span class='badge state-suppressed'>{_E(alert.state)}</span>"
    silence = "" if not can_silence or alert.silenced_by else _silence_form(alert, csrf,
                                                                           token_needed)
    return (f"<div class='alert sev-{_E(sev)}'><h3><span class='badge sev-{_E(sev)}'>"
            f"{_E(alert.severity or 'no severity')}</span> {_E(alert.alertname)}{state}</h3>"
            f"<div>firing since <b class='since'>{relative_time(alert.starts_at, now)}</b> "
            f"<span class='muted'>({_abs_time(alert.starts_at)})</span></div>"
            f"<div>{labels}</div>" + (f"<div>{_E(note)}</div>" if note else "")
            + (f"<div class='muted'>runbook link: {_link(link, link)}</div>" if link else "")
            + _run_cell(alert, run, declared, csrf, token_needed) + silence + "</div>")


def console_page(feed: AlertFeed, runs: Mapping[int, Run], resolved: list[Run],
                 declared: Mapping[str, frozenset[str]], csrf: str, token_needed: bool,
                 now: float, notice: str = "") -> str:
    """The incident console: what fires now (each alert with its run or a button to run it,
    and a silence form), then the recently resolved runs. ``runs`` maps an alert's index in
    ``feed.alerts`` to its matched run; ``declared`` maps runbook names to their parameters."""
    problems = "".join(f"<p class='problem'>{_E(p)}</p>" for p in feed.problems)
    source = {"alertmanager": "Alertmanager", "prometheus": "Prometheus (no Alertmanager: "
              "silences are not available)"}.get(feed.source, "")
    where = (f"<p class='muted'>Alerts from {_E(source)} {_E(feed.source_url)} as of "
             f"{_abs_time(now)} · <a href='/'>refresh</a></p>") if source else ""
    if feed.source and not feed.alerts:
        firing = "<p class='quiet'>No alert is firing.</p>"
    elif not feed.source:
        firing = "<p class='problem'>No alert source answered: the alerts firing now are unknown.</p>"
    else:
        firing = "".join(_alert_card(a, runs.get(i), declared.get(a.alertname), csrf,
                                     token_needed, feed.can_silence, now)
                         for i, a in enumerate(feed.alerts))
    rows = "".join(
        f"<tr><td><span class='badge state-resolved'>resolved</span></td>"
        f"<td>{_E(r.alertname)}</td><td>{_E(r.model_name)}</td>"
        f"<td>{_E(str(r.params.get('severity', '')))}</td><td>{_E(r.resolved_at)}</td>"
        f"<td><a href='/runs/{r.run_id}'>{r.run_id}</a> <span class='status {r.status}'>"
        f"{r.status}</span></td><td>{_E(r.verdict[:160])}</td></tr>" for r in resolved)
    resolved_html = (("<table><tr><th>state</th><th>alert</th><th>model</th><th>severity</th>"
                      f"<th>resolved</th><th>run</th><th>verdict</th></tr>{rows}</table>")
                     if rows else "<p class='muted'>No resolved alert has a run yet.</p>")
    count = len(feed.alerts)
    body = ((f"<p class='notice'>{_E(notice)}</p>" if notice else "")
            + f"<h1>Incident console</h1>{problems}{where}"
            f"<h2>Firing now ({count})</h2>{firing}"
            f"<h2>Recently resolved</h2>{resolved_html}"
            "<p class='muted'>All runs: <a href='/runs'>run list</a></p>")
    return page("incident console", body)


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
