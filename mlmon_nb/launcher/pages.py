"""The launcher's HTML: incident console, run list, run page, launch form and error page. Pure
functions of their arguments; every value is escaped and notebook output is sanitized before it
is embedded."""

from __future__ import annotations

import html
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from ..runbooks import RESERVED_PARAMETERS, RUN_CSS, sanitize_html
from ..runstore import FINAL_STATUSES, Run
from .console import AlertFeed, ConsoleAlert, ModelGroup, group_by_model, parse_time, relative_time
from .refresh import CONSOLE_SCRIPT, DEFAULT_REFRESH_SECONDS

__all__ = ["MAX_ALERTS_ONE_MODEL", "MAX_ALERTS_PER_GROUP", "MAX_GROUPS", "RunsView",
           "console_page", "error_page", "form_page", "judged", "lab_link", "model_filter",
           "page", "run_page", "run_rows", "run_state", "runs_page", "short_text", "stale_reason",
           "then_and_now"]

# The console stays readable with a fleet of models: at most this many model groups, and
# alerts per group, are drawn; the rest is counted ("N more") and one filter away.
MAX_GROUPS = 25
MAX_ALERTS_PER_GROUP = 8
MAX_ALERTS_ONE_MODEL = 100  # when the console is filtered to one model

_E = html.escape
_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;
text-align:left;font-size:.85rem}.status{font-weight:600}.done{color:#2a7a2a}.failed,.timeout,
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
.run{margin:.3rem 0}.model-filter input{min-width:16rem}.model-group{margin:.4rem 0;
border:1px solid #e3e3e3;border-radius:4px;padding:.2rem .6rem}.model-group>summary{cursor:pointer;
padding:.2rem 0;font-size:1.05rem}.model-group.worst-critical,.model-group.worst-page{
border-left:6px solid #c0262d}.model-group.worst-warning{border-left:6px solid #d9822b}
.model-group.worst-info{border-left:6px solid #2b6cb0}.model-group .count{font-weight:600}
.more{font-style:italic}.pager a{margin-right:1rem}.asof{color:#444;font-size:.9rem}
.then-now{font-weight:600}.stale{background:#fff4e5;border-left:4px solid #d9822b;padding:.2rem
.5rem;margin:.2rem 0}.failed-reason{background:#fdecea;border-left:4px solid #b02020;
padding:.2rem .5rem;margin:.2rem 0;overflow-wrap:break-word}
.run .verdict-text{overflow-wrap:anywhere;white-space:normal}
td{overflow-wrap:break-word}td .badge,td a.model{white-space:nowrap}td,th{padding:.25rem .4rem}
td.text{overflow-wrap:anywhere;min-width:8rem}.table-wrap{max-width:100%;overflow-x:auto}.label{max-width:100%;overflow-wrap:anywhere}
.form-error{background:#fdecea;border-left:4px solid #b02020;padding:.5rem}"""


def page(title: str, body: str, *, refresh: bool = False, css: str = "",
         live_every: float | None = None) -> str:
    """A whole page around ``body`` (already escaped HTML); ``css`` is trusted page chrome.
    ``refresh`` reloads the page every 2 s (a run not finished yet); ``live_every`` refreshes
    its ``#live`` part in place every so many seconds, never while a form is in use (the
    console)."""
    meta = '<meta http-equiv="refresh" content="2">' if refresh else ""
    live = (f" data-refresh='{float(live_every):g}'" if live_every else "")
    script = f"<script>{CONSOLE_SCRIPT}</script>" if live_every else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'>{meta}<title>{_E(title)}</title>"
            # no icon, said in the page: a browser would otherwise ask for /favicon.ico (404)
            "<link rel='icon' href='data:,'>"
            f"<style>{_STYLE}{css}</style></head><body{live}><nav><a href='/'>console</a>"
            f"<a href='/runs'>runs</a>"
            f"<a href='/healthz'>health</a></nav>{body}{script}</body></html>")


def error_page(status: int, message: str) -> str:
    return page("error", f"<h1>{status}</h1><p>{_E(message)}</p>")


def _fmt_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts)) if ts else ""


def _hm(ts: float | None, now: float | None = None) -> str:
    """A time as ``02:46 UTC``, with the date when it is not the day of ``now``."""
    if not ts:
        return ""
    same_day = now is not None and time.gmtime(ts)[:3] == time.gmtime(now)[:3]
    return time.strftime("%H:%M UTC" if same_day else "%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def short_text(text: str, limit: int = 320) -> str:
    """``text`` whole when it fits, else cut at the last word boundary before ``limit`` with an
    ellipsis — never in the middle of a word or a ``label=value``."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,;:·—-")
    return cut + " …"


# what the run's verdict said about its alert when it ran (the summary's status)
_JUDGED = {"firing": "was firing", "resolved": "had resolved", "no_data": "had no data",
           "not_firing": "was not firing"}


def judged(run: Run) -> tuple[float | None, str]:
    """When the run judged its alert (the end of the window it analysed, else when it
    finished) and the status its verdict gave then ("" when it recorded none)."""
    window = run.summary.get("window")
    at = parse_time(window.get("end")) if isinstance(window, Mapping) else None
    return at or run.finished, str(run.summary.get("status") or "")


def then_and_now(run: Run, now: float) -> str:
    """The alert's state when the run judged it next to its state now, in words: "was firing
    at 02:46 UTC, resolved 02:55 UTC"; for a run started by hand, what it found and that no
    alert started it."""
    at, status = judged(run)
    then = f"{_JUDGED.get(status, status or 'was judged')} at {_hm(at, now)}" if at else ""
    resolved = parse_time(run.resolved_at) if run.resolved_at else None
    if run.resolved_at:
        later = f"resolved {_hm(resolved, now)}" if resolved else f"resolved {run.resolved_at}"
    elif run.source == "webhook":
        later = "no resolve received since"
    elif parse_time(run.params.get("starts_at")):
        later = (f"run by hand for the alert that started at "
                 f"{_hm(parse_time(run.params.get('starts_at')), now)}")
    else:
        later = "started by hand: an investigation, not an alert's run"
    return ", ".join(x for x in (then, later) if x)


# alert states that fire: Alertmanager's active and suppressed (silenced or inhibited, still
# firing), Prometheus's firing
_FIRES = ("active", "suppressed", "firing")


def stale_reason(alert: ConsoleAlert, run: Run) -> str:
    """Why the run's verdict is older than what the alert says now ("" when it is not): the
    alert (re)started after the verdict's time, or the verdict found it not firing while it
    fires now."""
    at, status = judged(run)
    if alert.starts_at and at and alert.starts_at > at:
        return "verdict older than the alert's latest change (it started again after the run)"
    if status in ("resolved", "not_firing", "no_data") and alert.state in _FIRES:
        return (f"verdict older than the alert's latest change (the run found it "
                f"{_JUDGED[status].removeprefix('was ').removeprefix('had ')}; it fires now)")
    return ""


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


def _model_link(action: str, model_name: str) -> str:
    """A model's name as a link to the same page filtered to it."""
    if not model_name:
        return ""
    query = urlencode({"model_name": model_name})
    return f"<a class='model' href='{_E(action)}?{_E(query)}'>{_E(model_name)}</a>"


def run_rows(runs: list[Run], max_attempts: int) -> str:
    """The run table: one row per run, its alert's state, attempts out of the bound."""
    rows = "".join(
        f"<tr class='run-{run_state(r)}'><td><a href='/runs/{r.run_id}'>{r.run_id}</a></td>"
        f"<td>{_state_badge(r)}</td><td>{_E(r.alertname)}</td>"
        f"<td>{_model_link('/runs', r.model_name)}</td>"
        f"<td class='status {r.status}'>{r.status}</td><td>{r.attempts}/{max_attempts}</td>"
        f"<td>{'' if r.duration is None else f'{r.duration:.1f}s'}</td><td>{_E(r.source)}</td>"
        f"<td>{_fmt_time(r.created)}</td><td class='text'>{_E(short_text(r.verdict, 160))}</td>"
        f"</tr>" for r in runs)
    # words whole (a cell breaks only what cannot fit); a table still wider than the page
    # scrolls in its own box, never the page
    return ("<div class='table-wrap'><table><tr><th>run</th><th>alert state</th><th>alert</th>"
            "<th>model</th><th>status</th><th>attempts</th><th>duration</th><th>source</th>"
            f"<th>created</th><th>verdict</th></tr>{rows}</table></div>")


def model_filter(action: str, selected: str | None, models: list[str],
                 hidden: Mapping[str, str] | None = None) -> str:
    """The model filter of the console and the run list: a text input with the known models
    as suggestions (type or pick a name), kept in the URL as ``?model_name=``. ``hidden`` are
    the other filters the form keeps; the typed name replaces the model filter (never a hidden
    copy of it) and an empty box clears it."""
    options = "".join(f"<option value='{_E(m)}'>" for m in models)
    keep = "".join(f"<input type='hidden' name='{_E(k)}' value='{_E(v)}'>"
                   for k, v in (hidden or {}).items() if v and k != "model_name")
    counted = f"{len(models)} model" + ("" if len(models) == 1 else "s")
    clear = f" <a class='all-models' href='{_E(action)}'>all models</a>" if selected else ""
    return (f"<form method='get' action='{_E(action)}' class='model-filter'>"
            f"<label>model <input name='model_name' list='model-names' "
            f"value='{_E(selected or '')}' placeholder='{counted}' "
            f"autocomplete='off'></label><datalist id='model-names'>{options}</datalist>{keep} "
            f"<button type='submit'>show</button>{clear}</form>")


@dataclass(frozen=True)
class RunsView:
    """One page of the run list: its runs, how many match, where it starts, and the models."""

    runs: list[Run]
    total: int
    offset: int
    limit: int
    models: list[str]


def runs_page(view: RunsView, filters: Mapping[str, str], max_attempts: int) -> str:
    """The run list: the model filter, the other filters, one page of runs and how many more."""
    model = filters.get("model_name", "")
    others = "".join(
        f"<label>{name} <input name='{name}' value='{_E(filters.get(name, ''))}'></label> "
        for name in ("alertname", "status"))
    shown_to = view.offset + len(view.runs)
    more = view.total - shown_to
    keep = {k: v for k, v in filters.items() if k in ("model_name", "alertname", "status") and v}
    pager = []
    if view.offset > 0:
        back = urlencode({**keep, "offset": max(0, view.offset - view.limit), "limit": view.limit})
        pager.append(f"<a class='prev' href='/runs?{_E(back)}'>← previous {view.limit}</a>")
    if more > 0:
        ahead = urlencode({**keep, "offset": shown_to, "limit": view.limit})
        pager.append(f"<a class='next' href='/runs?{_E(ahead)}'>next {min(more, view.limit)} →</a>"
                     f" <span class='more'>({more} more after this page)</span>")
    where = f" of model <b>{_E(model)}</b>" if model else ""
    summary = (f"<p class='muted pager'>runs {view.offset + 1 if view.runs else 0}–{shown_to} of "
               f"<span class='total'>{view.total}</span>{where}"
               + (f" · {' · '.join(pager)}" if pager else "") + "</p>")
    return page("runs", f"<h1>Runbook runs</h1>"
                        f"{model_filter('/runs', model, view.models, keep)}"
                        f"<form method='get'><input type='hidden' name='model_name' "
                        f"value='{_E(model)}'>{others}<button>filter</button></form>"
                        f"{summary}{run_rows(view.runs, max_attempts)}")


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
             jupyter_token: str | None = None, rerunnable: bool = True,
             now: float | None = None) -> str:
    """One run: status, its alert's state, attempts, when its verdict was true ("as of") next
    to the alert's state now, the verdict, parameters and the sanitized executed notebook;
    "run again" as a form link (runbooks) or a shell command (notebooks)."""
    params = "".join(f"<tr><th>{_E(k)}</th><td class='text'>{_E(str(v))}</td></tr>"
                     for k, v in sorted(run.params.items()))
    lab = lab_link(jupyter_url, run.run_id, jupyter_token)
    out = run_dir / "output.html"
    executed = out.exists() and run.status in FINAL_STATUSES
    # the run's own page (verdict card, tiles, findings, folded notebook); its style is the
    # package's RUN_CSS, never taken from the stored file
    notebook = sanitize_html(out.read_text()) if executed \
        else "<p>The notebook is being executed; this page refreshes itself.</p>"
    duration = "" if run.duration is None else f" {run.duration:.1f}s"
    now = time.time() if now is None else now
    at, _ = judged(run)
    asof = (f"<p class='asof'>verdict as of <b class='asof-time'>{_fmt_time(at)}</b> "
            f"({relative_time(at, now)}) · <span class='then-now'>{_E(then_and_now(run, now))}"
            f"</span></p>") if at and run.status in FINAL_STATUSES else ""
    title = " · ".join(x for x in (run.alertname, run.model_name) if x)
    body = (f"<h1>{_E(title)} {_state_badge(run)}</h1>"
            f"<p class='muted'>run <code>{run.run_id}</code> · <span class='status {run.status}'>"
            f"{run.status}</span>{duration} · attempt <span class='attempts'>{run.attempts}"
            f"/{max_attempts}</span> · {_E(run.source)} · {_fmt_time(run.created)}"
            + (f" · alert resolved {_E(_fmt_time(parse_time(run.resolved_at)) or run.resolved_at)}"
               if run.resolved_at else "") + "</p>" + asof
            + (f"<p class='verdict'>{_E(run.verdict)}</p>" if run.verdict and not executed else "")
            + (f"<p class='failed'>{_E(run.error)}</p>" if run.error else "")
            + f"<div class='nb'>{notebook}</div>"
            + f"<p><a href='/runs/{run.run_id}/output.ipynb' download>download .ipynb</a> · "
              + (f"<a class='lab' href='{_E(lab)}' rel='noreferrer'>open in JupyterLab</a> · "
                 if jupyter_url else "")
              + f"{_rerun(run, rerunnable)}</p>"
            f"<details><summary>parameters</summary><table>{params}</table></details>")
    return page(f"{title} {run.run_id}", body, refresh=run.status not in FINAL_STATUSES,
                css=RUN_CSS)


# -- the incident console ---------------------------------------------------------------------


def _abs_time(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts else ""


def _iso(ts: float | None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)) if ts else ""


def _link(url: str, text: str) -> str:
    if not url.startswith(("http://", "https://")):
        return _E(url)
    return f"<a href='{_E(url)}' rel='noreferrer'>{_E(text)}</a>"


def _run_form(alert: ConsoleAlert, declared: frozenset[str], csrf: str, token_needed: bool,
              label: str) -> str:
    """A button that runs the alert's runbook with the alert's labels (and its start)."""
    values = {k: v for k, v in alert.labels.items()
              if k in declared and k not in RESERVED_PARAMETERS}
    if "starts_at" in declared and alert.starts_at:
        values["starts_at"] = _iso(alert.starts_at)
    hidden = "".join(f"<input type='hidden' name='{_E(k)}' value='{_E(v)}'>"
                     for k, v in sorted(values.items()))
    token = ("<input type='password' name='access_token' placeholder='launcher token'>"
             if token_needed else "")
    return (f"<form method='post' action='/runbook/{quote(alert.alertname)}'>"
            f"<input type='hidden' name='csrf_token' value='{_E(csrf)}'>{hidden}{token}"
            f"<button type='submit'>{_E(label)}</button></form>")


def _run_cell(alert: ConsoleAlert, run: Run | None, declared: frozenset[str] | None,
              csrf: str, token_needed: bool, now: float) -> str:
    """The alert's runbook run (state, verdict and when it was true, link), flagged with a
    button to run it again when the alert changed after the verdict; else a button that runs
    it, else why there is none."""
    if run is not None:
        at, _ = judged(run)
        asof = (f" <span class='muted asof'>(as of {_hm(at, now)}, {relative_time(at, now)})"
                f"</span>") if at else ""
        verdict = (f" — <span class='verdict-text'>{_E(short_text(run.verdict))}</span>"
                   if run.verdict else "")
        failed = run.status in FINAL_STATUSES and run.status != "done"
        why = stale_reason(alert, run) if run.status in FINAL_STATUSES and not failed else ""
        again = (" " + _run_form(alert, declared, csrf, token_needed, "run again")
                 if declared is not None and (why or failed) else "")
        stale = f"<div class='stale'>{_E(why)}{again}</div>" if why else ""
        reason = (f"<div class='failed-reason'>{_E(short_text(run.error or 'no reason recorded', 240))}"
                  f"{again}</div>") if failed else ""
        return (f"<div class='run'>runbook run <a href='/runs/{run.run_id}'>{run.run_id}</a>: "
                f"<span class='status {run.status}'>{run.status}</span>{asof}{verdict}{stale}"
                f"{reason}</div>")
    if declared is None:
        return "<div class='run muted'>no runbook for this alert</div>"
    form = _run_form(alert, declared, csrf, token_needed, f"run the {alert.alertname} runbook")
    return f"<div class='run'>{form} <span class='muted'>no run yet</span></div>"


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


def _quieted(alert: ConsoleAlert, feed: AlertFeed) -> str:
    """Why a suppressed alert is quiet: the silence that holds it (who, why, until when) or the
    alert that inhibits it; the two are told apart."""
    why = []
    for sid in alert.silenced_by:
        held = feed.silence(sid)
        who = (f" by {_E(held.created_by)}: {_E(held.comment[:160])} (until "
               f"{_abs_time(held.ends_at)})") if held else ""
        why.append(f"<span class='silenced'>suppressed by silence <code>{_E(sid)}</code>"
                   f"{who}</span>")
    for fingerprint in alert.inhibited_by:
        name = feed.alertname_of(fingerprint) or f"alert {fingerprint}"
        why.append(f"<span class='inhibited'>inhibited by {_E(name)}</span>")
    return f"<div class='quieted'>{' · '.join(why)}</div>" if why else ""


def _alert_card(alert: ConsoleAlert, run: Run | None, declared: frozenset[str] | None,
                csrf: str, token_needed: bool, feed: AlertFeed, now: float) -> str:
    sev = alert.severity or "none"
    labels = "".join(f"<span class='label'>{_E(k)}={_E(v)}</span>"
                     for k, v in sorted(alert.labels.items()) if k not in ("alertname",))
    note = alert.annotations.get("summary") or alert.annotations.get("description", "")
    link = alert.annotations.get("runbook_url", "")
    state = ""
    if alert.state not in ("active", "firing"):
        state = f" <span class='badge state-suppressed'>{_E(alert.state)}</span>"
    silence = "" if not feed.can_silence or alert.silenced_by else _silence_form(alert, csrf,
                                                                                token_needed)
    return (f"<div class='alert sev-{_E(sev)}'><h3><span class='badge sev-{_E(sev)}'>"
            f"{_E(alert.severity or 'no severity')}</span> {_E(alert.alertname)}{state}</h3>"
            f"<div>firing since <b class='since'>{relative_time(alert.starts_at, now)}</b> "
            f"<span class='muted'>({_abs_time(alert.starts_at)})</span></div>"
            f"<div>{labels}</div>" + (f"<div>{_E(note)}</div>" if note else "")
            + (f"<div class='muted'>runbook link: {_link(link, link)}</div>" if link else "")
            + _quieted(alert, feed) + _run_cell(alert, run, declared, csrf, token_needed, now)
            + silence + "</div>")


def _model_group(group: ModelGroup, cards: str, shown: int, is_open: bool,
                 filtered: bool) -> str:
    """One model's collapsible section: its name, firing count and worst severity, the
    ``shown`` first of its alerts (``cards``) and how many more there are."""
    sev = group.worst or "none"
    name = group.model_name or "(no model label)"
    total = len(group.alerts)
    more = ""
    if shown < total and filtered:
        more = (f"<p class='more'>{total - shown} more alerts of this model, less severe or "
                f"newer than those above</p>")
    elif shown < total:
        more = (f"<p class='more'>{total - shown} more alerts of this model: "
                f"{_model_link('/', group.model_name)}</p>")
    only = "" if filtered or not group.model_name else (
        f" · <a class='only' href='/?{_E(urlencode({'model_name': group.model_name}))}'>"
        f"only this model</a>")
    quiet = total - group.firing
    return (f"<details class='model-group worst-{_E(sev)}' data-model='{_E(group.model_name)}'"
            f"{' open' if is_open else ''}><summary><b class='model-name'>{_E(name)}</b> "
            f"<span class='badge sev-{_E(sev)}'>{_E(group.worst or 'no severity')}</span> "
            f"<span class='count'>{group.firing} firing</span>"
            + (f" <span class='muted'>(+{quiet} silenced or inhibited)</span>" if quiet else "")
            + f"{only}</summary>{cards}{more}</details>")


def _silences(feed: AlertFeed, csrf: str, token_needed: bool) -> str:
    """Alertmanager's active silences: who, why, until when, what they match, and a button
    that expires each."""
    if not feed.can_silence:
        return ""
    if not feed.silences:
        return "<h2>Silences (0)</h2><p class='muted'>No silence is active.</p>"
    token = ("<input type='password' name='access_token' placeholder='launcher token'> "
             if token_needed else "")
    rows = "".join(
        f"<tr class='silence' data-silence='{_E(s.silence_id)}'><td>{_E(s.created_by)}</td>"
        f"<td class='text'>{_E(s.comment[:300])}</td><td>{_abs_time(s.ends_at)}</td>"
        f"<td class='text'>{' '.join(f'<code>{_E(m)}</code>' for m in s.matchers)}</td>"
        f"<td><form method='post' action='/silences/{_E(s.silence_id)}/expire'>"
        f"<input type='hidden' name='csrf_token' value='{_E(csrf)}'>{token}"
        f"<button type='submit'>expire</button></form></td></tr>" for s in feed.silences)
    return (f"<h2>Silences ({len(feed.silences)})</h2><table><tr><th>who</th><th>why</th>"
            f"<th>until</th><th>matches</th><th></th></tr>{rows}</table>")


def console_page(feed: AlertFeed, runs: Mapping[int, Run], resolved: list[Run],
                 declared: Mapping[str, frozenset[str]], csrf: str, token_needed: bool,
                 now: float, notice: str = "", *, model_name: str | None = None,
                 models: list[str] | None = None,
                 refresh_every: float = DEFAULT_REFRESH_SECONDS) -> str:
    """The incident console: the model filter, what fires now grouped by model (one collapsible
    section per model, the most urgent first and open; each alert with its run or a button to
    run it, a silence form, or what silences or inhibits it), Alertmanager's active silences
    with a button to expire each, then the recently resolved runs. ``runs`` maps an alert's index
    in ``feed.alerts`` to its matched run; ``declared`` maps runbook names to their parameters;
    ``model_name`` is the filter in use and ``models`` the names it suggests. The part below
    the filter refreshes itself every ``refresh_every`` seconds, never while a form is in
    use; each run's verdict says when it was true and is flagged when the alert changed
    since."""
    problems = "".join(f"<p class='problem'>{_E(p)}</p>" for p in feed.problems)
    source = {"alertmanager": "Alertmanager", "prometheus": "Prometheus (no Alertmanager: "
              "silences are not available)"}.get(feed.source, "")
    here = f"/?{urlencode({'model_name': model_name})}" if model_name else "/"
    where = (f"<p class='muted asof'>Alerts from {_E(source)} {_E(feed.source_url)} as of "
             f"<b class='asof-time'>{_fmt_time(now)}</b> · refreshes itself every "
             f"{refresh_every:g}s (not while you type in a form) · "
             f"<a href='{_E(here)}'>refresh now</a></p>") if source else (
        f"<p class='muted asof'>as of <b class='asof-time'>{_fmt_time(now)}</b></p>")
    groups = group_by_model(feed.alerts)
    if feed.source and not feed.alerts and model_name and models and model_name not in models:
        # a misspelt name is no all-clear
        firing = (f"<p class='problem unknown-model'>No alert is firing for model "
                  f"{_E(model_name)}, and no configured model, alert or run has that name: "
                  f"check its spelling (the model list above has the {len(models)} known).</p>")
    elif feed.source and not feed.alerts:
        firing = "<p class='quiet'>No alert is firing" + (
            f" for model {_E(model_name)}" if model_name else "") + ".</p>"
    elif not feed.source:
        firing = "<p class='problem'>No alert source answered: the alerts firing now are unknown.</p>"
    else:
        drawn = []
        limit = MAX_ALERTS_ONE_MODEL if model_name else MAX_ALERTS_PER_GROUP
        for n, group in enumerate(groups[:MAX_GROUPS]):
            cards = "".join(_alert_card(a, runs.get(i), declared.get(a.alertname), csrf,
                                        token_needed, feed, now)
                            for i, a in group.alerts[:limit])
            drawn.append(_model_group(group, cards, min(limit, len(group.alerts)),
                                      is_open=n == 0 or bool(model_name) or len(groups) <= 3,
                                      filtered=bool(model_name)))
        firing = "".join(drawn)
        if len(groups) > MAX_GROUPS:
            rest = groups[MAX_GROUPS:]
            firing += (f"<p class='more models-more'>{len(rest)} more models with "
                       f"{sum(len(g.alerts) for g in rest)} alerts (less urgent): pick one "
                       f"with the model filter above</p>")
    rows = "".join(
        f"<tr><td><span class='badge state-resolved'>resolved</span></td>"
        f"<td>{_E(r.alertname)}</td><td>{_model_link('/', r.model_name)}</td>"
        f"<td>{_E(str(r.params.get('severity', '')))}</td>"
        f"<td>{_E(_fmt_time(parse_time(r.resolved_at)) or r.resolved_at)}</td>"
        f"<td><a href='/runs/{r.run_id}'>{r.run_id}</a> <span class='status {r.status}'>"
        f"{r.status}</span></td><td class='text'>{_E(short_text(r.verdict, 160))}</td></tr>"
        for r in resolved)
    resolved_html = (("<table><tr><th>state</th><th>alert</th><th>model</th><th>severity</th>"
                      f"<th>resolved</th><th>run</th><th>verdict</th></tr>{rows}</table>")
                     if rows else "<p class='muted'>No resolved alert has a run yet.</p>")
    count = len(feed.alerts)
    per_model = f" in {len(groups)} models" if len(groups) > 1 else ""
    quiet = sum(a.state == "suppressed" for a in feed.alerts)
    per_model += (f" <span class='muted suppressed'>· {quiet} of them silenced or inhibited"
                  f"</span>" if quiet else "")
    all_runs = "/runs" + (f"?{urlencode({'model_name': model_name})}" if model_name else "")
    body = ((f"<p class='notice'>{_E(notice)}</p>" if notice else "")
            + f"<h1>Incident console</h1>{model_filter('/', model_name, models or [])}"
            f"<div id='live'>{problems}{where}"
            f"<h2>Firing now ({count}){per_model}</h2>{firing}"
            f"{_silences(feed, csrf, token_needed)}"
            f"<h2>Recently resolved</h2>{resolved_html}</div>"
            f"<p class='muted'>All runs: <a href='{_E(all_runs)}'>run list</a></p>")
    return page("incident console", body, live_every=refresh_every)


def form_page(alertname: str, runbook, values: Mapping[str, Any], csrf: str,
              token_needed: bool, *, rerun: bool = False, previous: Run | None = None,
              error: str = "") -> str:
    """The launch form, pre-filled from the link (or with what was typed, above the ``error``
    that refused it), with its signed CSRF token. ``rerun``: reached by "run again", whose
    ``previous`` run (the newest with these parameters, when known) it links to."""
    fields = "".join(
        f"<tr><th><label for='p-{_E(n)}'>{_E(n)}</label></th><td><input id='p-{_E(n)}' "
        f"name='{_E(n)}' value='{_E(str(values.get(n, '')))}'></td>"
        f"<td>{_E(p.help)}</td></tr>"
        for n, p in sorted(runbook.parameters.items()) if n not in RESERVED_PARAMETERS)
    token = ("<tr><th>token</th><td><input type='password' name='access_token'></td>"
             "<td>the launcher's bearer token</td></tr>") if token_needed else ""
    if error:
        intro = (f"<p class='form-error'>Not run: {_E(error)}</p><p>Correct the parameters "
                 f"and run:</p>")
    elif rerun and previous is not None:
        intro = (f"<p>Run again: the last run with these parameters is <a href='/runs/"
                 f"{_E(previous.run_id)}'>{_E(previous.run_id)}</a> (<span class='status "
                 f"{_E(previous.status)}'>{_E(previous.status)}</span>, "
                 f"{_fmt_time(previous.created)}). Check the parameters and run it again:</p>")
    elif rerun:
        intro = "<p>Run again with these parameters. Check them and run:</p>"
    else:
        intro = "<p>No run of this alert with these parameters yet. Check them and run:</p>"
    body = (f"<h1>Run the {_E(alertname)} runbook</h1>{intro}"
            f"<form method='post' action='/runbook/{_E(alertname)}'>"
            f"<input type='hidden' name='csrf_token' value='{_E(csrf)}'>"
            f"<table>{fields}{token}</table><button type='submit'>Run</button></form>")
    return page(f"run {alertname}", body)
