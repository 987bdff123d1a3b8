"""The incident console's data: the alerts firing now (Alertmanager's API v2, else Prometheus's
alerts API), each matched with its runbook run from the run store, the recently resolved runs,
and the silences of Alertmanager (listed, created, expired). HTTP to Alertmanager and Prometheus
is at the edges (``fetch_alerts``, ``create_silence``, ``expire_silence``), each exchange bounded
by one deadline for the whole answer (not per socket read: a source that drips its answer or
sends garbage gives a clear problem line within the deadline, never a stuck or broken page);
matching and shaping are pure functions.

With a fleet of models the console reads one model at a time when asked to (``model_name``:
Alertmanager filters with a ``model_name`` matcher, Prometheus's alerts are filtered here) and
groups what fires by model (``group_by_model``): the most urgent model first."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..errors import MlmonError, ParameterError, start_hint
from ..runstore import Run
from .security import json_depth

__all__ = ["ALERTMANAGER_URL_ENV", "AlertFeed", "ConsoleAlert", "ModelGroup", "SilenceError",
           "Silence", "SilenceRequest", "alertmanager_url", "check_model_filter",
           "create_silence", "expire_silence", "fetch_alerts", "group_by_model", "match_run",
           "parse_time", "recently_resolved", "relative_time", "silence_request"]

ALERTMANAGER_URL_ENV = "MLMON_ALERTMANAGER_URL"
SEVERITY_ORDER = {"critical": 0, "page": 0, "warning": 1, "info": 2}
MAX_SILENCE_SECONDS = 14 * 86400
NO_MODEL = ""  # the group of alerts without a model_name label (e.g. the service is down)
_MODEL_FILTER = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
_TIMEOUT = 3.0               # seconds for a whole answer of Alertmanager or Prometheus
MAX_ANSWER_BYTES = 8 << 20
MAX_ANSWER_DEPTH = 32        # Alertmanager's and Prometheus's answers nest 4 deep
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SILENCE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")


class SilenceError(MlmonError):
    """A silence the console could not create: the reason says what to fix; ``status`` is 400
    for a bad form, 502 when Alertmanager is missing, unreachable or refuses it."""

    def __init__(self, message: str, status: int = 400):
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class ConsoleAlert:
    """One active alert as the console shows it."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float | None
    state: str                 # active / suppressed (Alertmanager); firing / pending (Prometheus)
    fingerprint: str = ""
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()   # fingerprints of the alerts that inhibit this one

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "").lower()

    @property
    def model_name(self) -> str:
        return self.labels.get("model_name", NO_MODEL)

    @property
    def urgency(self) -> int:
        """0 for critical (or page) … 3 for no known severity: what the console sorts by."""
        return SEVERITY_ORDER.get(self.severity, 3)


@dataclass(frozen=True)
class AlertFeed:
    """What the console read: the alerts, where from, and what could not be reached."""

    alerts: list[ConsoleAlert]
    source: str                # "alertmanager", "prometheus" or "" when neither answered
    source_url: str = ""
    problems: list[str] = field(default_factory=list)
    silences: list[Silence] = field(default_factory=list)   # Alertmanager's active silences

    @property
    def can_silence(self) -> bool:
        return self.source == "alertmanager"

    def silence(self, silence_id: str) -> Silence | None:
        return next((s for s in self.silences if s.silence_id == silence_id), None)

    def alertname_of(self, fingerprint: str) -> str:
        """The name of the alert with this fingerprint ("" when it is not in the feed)."""
        return next((a.alertname for a in self.alerts if a.fingerprint == fingerprint), "")


@dataclass(frozen=True)
class Silence:
    """One active silence of Alertmanager: who made it, why, until when, what it matches."""

    silence_id: str
    matchers: tuple[str, ...]    # as Alertmanager writes them: name="value", name=~"re"
    created_by: str
    comment: str
    ends_at: float | None


def alertmanager_url(config: Config, setting: str | None = None,
                     environ: Mapping[str, str] = os.environ) -> str:
    """Where Alertmanager is: the setting, else ``$MLMON_ALERTMANAGER_URL``, else the
    configuration's ``alertmanager_url`` (default: the stack's host and Alertmanager port); an
    empty setting or variable means none (Prometheus only)."""
    for value in (setting, environ.get(ALERTMANAGER_URL_ENV)):
        if value is not None:
            return value.strip().rstrip("/")
    return config.alertmanager_url  # the configuration's, else the stack's host and port


def parse_time(text: object) -> float | None:
    """An RFC 3339 time (Alertmanager's or Prometheus's, nanoseconds allowed) as epoch seconds;
    None for a missing or zero time."""
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    raw = text.strip().replace("Z", "+00:00")
    head, dot, rest = raw.partition(".")
    if dot:  # Python parses at most microseconds: cut the fraction to 6 digits
        digits = "".join(c for c in rest if c.isdigit())
        raw = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        return dt.datetime.fromisoformat(raw).timestamp()
    except ValueError:
        return None


def relative_time(ts: float | None, now: float) -> str:
    """``ts`` relative to ``now``: "just now", "12m ago", "3h 5m ago", "2d 4h ago"."""
    if ts is None:
        return ""
    seconds = max(0, int(now - ts))
    if seconds < 60:
        return "just now"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if minutes < 60:
        return f"{minutes}m ago"
    if hours < 24:
        return f"{hours}h {minutes % 60}m ago"
    return f"{days}d {hours % 24}h ago"


class _Refused(Exception):
    """An HTTP error status from a source, with the start of its body."""

    def __init__(self, status: int, detail: str):
        self.status, self.detail = status, detail
        super().__init__(f"HTTP {status}")


def _exchange(method: str, url: str, deadline: float, body: bytes | None = None
              ) -> tuple[int, bytes]:
    """One HTTP exchange, finished within ``deadline`` seconds in all (connect, headers and
    body together): a watchdog shuts the socket at the deadline, since a socket timeout only
    bounds each read and an answer dripped a byte a second would never hit it. At most
    ``MAX_ANSWER_BYTES`` are read. TimeoutError at the deadline; OSError or HTTPException when
    the source is not reachable or does not speak HTTP."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OSError(f"{url[:80]!r} is not an http(s) URL")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname, parts.port, timeout=deadline)
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        if conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    watchdog = threading.Timer(deadline, cut)
    watchdog.daemon = True
    watchdog.start()
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read(MAX_ANSWER_BYTES + 1)
        if len(data) > MAX_ANSWER_BYTES:
            raise ValueError(f"the answer is larger than {MAX_ANSWER_BYTES >> 20} MiB")
        if resp.length:  # the connection ended before the Content-Length it announced
            raise http.client.IncompleteRead(data, resp.length)
        return resp.status, data
    except (OSError, http.client.HTTPException):
        if expired.is_set():
            raise TimeoutError(f"no complete answer within {deadline:g}s") from None
        raise
    finally:
        watchdog.cancel()
        conn.close()


def _json(data: bytes) -> Any:
    """An answer as JSON; ValueError for what is not JSON or nests deeper than any API's."""
    if json_depth(data) > MAX_ANSWER_DEPTH:
        raise ValueError(f"the answer nests deeper than {MAX_ANSWER_DEPTH} levels")
    try:
        return json.loads(data)
    except (UnicodeDecodeError, RecursionError):
        raise ValueError("the answer is not JSON") from None


def _get_json(url: str, timeout: float) -> Any:
    status, data = _exchange("GET", url, timeout)
    if status >= 400:
        raise _Refused(status, data[:300].decode("utf-8", "replace").strip())
    return _json(data)


_UNREACHABLE = (OSError, _Refused)   # not there, too slow, or an HTTP error status
_UNREADABLE = (http.client.HTTPException, ValueError, TypeError, AttributeError)  # garbage


def _why(exc: Exception) -> str:
    if isinstance(exc, _Refused):
        return f"HTTP {exc.status}"
    if isinstance(exc, TimeoutError):
        return f"TimeoutError: {exc}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, http.client.HTTPException):
        return f"not an HTTP answer: {type(exc).__name__}"
    return f"an answer the console cannot read: {str(exc)[:120]}"


def _problem(kind: str, url: str, exc: Exception, fix: str) -> str:
    verb = "is unreachable" if isinstance(exc, _UNREACHABLE) else "answered garbage"
    return f"{kind} at {url} {verb} ({_why(exc)}); {fix}"


def _from_alertmanager(items: Any) -> list[ConsoleAlert]:
    if not isinstance(items, list):
        raise TypeError("the answer is not a list of alerts")
    alerts = []
    for item in items:
        status = item.get("status") or {}
        alerts.append(ConsoleAlert(
            labels={str(k): str(v) for k, v in (item.get("labels") or {}).items()},
            annotations={str(k): str(v) for k, v in (item.get("annotations") or {}).items()},
            starts_at=parse_time(item.get("startsAt")), state=str(status.get("state", "active")),
            fingerprint=str(item.get("fingerprint", "")),
            silenced_by=tuple(str(s) for s in status.get("silencedBy") or ()),
            inhibited_by=tuple(str(s) for s in status.get("inhibitedBy") or ())))
    return alerts


_MATCH_OPS = {(True, False): "=", (False, False): "!=", (True, True): "=~", (False, True): "!~"}


def _from_silences(items: Any) -> list[Silence]:
    """Alertmanager's active silences, the soonest to end first."""
    if not isinstance(items, list):
        raise TypeError("the answer is not a list of silences")
    found = []
    for item in items:
        if (item.get("status") or {}).get("state") != "active":
            continue
        matchers = tuple(
            str(m.get("name", "")) + _MATCH_OPS[bool(m.get("isEqual", True)),
                                                bool(m.get("isRegex"))]
            + json.dumps(str(m.get("value", ""))) for m in item.get("matchers") or ())
        found.append(Silence(str(item.get("id", "")), matchers, str(item.get("createdBy", "")),
                             str(item.get("comment", "")), parse_time(item.get("endsAt"))))
    return sorted(found, key=lambda s: (s.ends_at or 0.0, s.silence_id))


def _from_prometheus(answer: Any) -> list[ConsoleAlert]:
    items = (answer or {}).get("data", {}).get("alerts")
    if not isinstance(items, list):
        raise TypeError("the answer has no data.alerts list")
    return [ConsoleAlert(labels={str(k): str(v) for k, v in (a.get("labels") or {}).items()},
                         annotations={str(k): str(v)
                                      for k, v in (a.get("annotations") or {}).items()},
                         starts_at=parse_time(a.get("activeAt")), state=str(a.get("state", "")))
            for a in items if a.get("state") == "firing"]


def _ordered(alerts: Iterable[ConsoleAlert]) -> list[ConsoleAlert]:
    """Most severe first, then oldest first (the longest-burning fire on top)."""
    return sorted(alerts, key=lambda a: (a.urgency, a.starts_at or 0.0,
                                         a.alertname, sorted(a.labels.items())))


def check_model_filter(value: str | None) -> str | None:
    """The console's and run list's model filter: None for all models, else the name;
    ParameterError for what cannot be a model name."""
    value = (value or "").strip()
    if not value:
        return None
    if not _MODEL_FILTER.fullmatch(value):
        raise ParameterError(f"model_name {value[:60]!r} is not a model name (letters, digits, "
                             f"_ . : - up to 200 characters); pick one from the model list")
    return value


@dataclass(frozen=True)
class ModelGroup:
    """The alerts of one model as the console groups them: ``alerts`` pairs each alert with its
    index in the feed (most severe, then oldest, first)."""

    model_name: str
    alerts: tuple[tuple[int, ConsoleAlert], ...]

    @property
    def firing(self) -> int:
        """Alerts that fire and are not silenced or inhibited."""
        return sum(a.state in ("active", "firing") for _, a in self.alerts)

    @property
    def worst(self) -> str:
        """The most severe severity among the group's alerts ("" when none has one)."""
        return min((a for _, a in self.alerts), key=lambda a: a.urgency).severity

    @property
    def urgency(self) -> int:
        return min(a.urgency for _, a in self.alerts)


def group_by_model(alerts: Iterable[ConsoleAlert]) -> list[ModelGroup]:
    """One group per model, the most urgent first: worst severity, then more alerts firing
    unsilenced, then the oldest alert, then the name."""
    groups: dict[str, list[tuple[int, ConsoleAlert]]] = {}
    for i, alert in enumerate(alerts):
        groups.setdefault(alert.model_name, []).append((i, alert))
    made = [ModelGroup(name, tuple(members)) for name, members in groups.items()]
    return sorted(made, key=lambda g: (g.urgency, -g.firing,
                                       min((a.starts_at or 0.0) for _, a in g.alerts),
                                       g.model_name))


def fetch_alerts(alertmanager: str, prometheus: str, timeout: float = _TIMEOUT,
                 model_name: str | None = None) -> AlertFeed:
    """The active alerts: from Alertmanager's API v2 when it answers, else the firing alerts of
    Prometheus's ``/api/v1/alerts``; each source that fails adds a line to ``problems``. With
    ``model_name``, only that model's (Alertmanager filters them itself)."""
    problems = []
    if alertmanager:
        query = [("active", "true"), ("silenced", "true"), ("inhibited", "true")]
        if model_name:
            query.append(("filter", f'model_name="{model_name}"'))
        url = f"{alertmanager}/api/v2/alerts?{urllib.parse.urlencode(query)}"
        try:
            alerts = _ordered(_from_alertmanager(_get_json(url, timeout)))
        except (*_UNREACHABLE, *_UNREADABLE) as exc:
            problems.append(_problem("Alertmanager", alertmanager, exc,
                                     f"{start_hint(alertmanager)} or set "
                                     f"{ALERTMANAGER_URL_ENV}"))
        else:
            try:
                silences = _from_silences(_get_json(f"{alertmanager}/api/v2/silences", timeout))
            except (*_UNREACHABLE, *_UNREADABLE) as exc:
                silences = []
                problems.append(_problem("Alertmanager", alertmanager, exc,
                                         "its silences are not listed"))
            return AlertFeed(alerts, "alertmanager", alertmanager, problems, silences)
    if prometheus:
        try:
            alerts = [a for a in _from_prometheus(_get_json(f"{prometheus}/api/v1/alerts",
                                                              timeout))
                      if model_name is None or a.model_name == model_name]
            return AlertFeed(_ordered(alerts), "prometheus", prometheus, problems)
        except (*_UNREACHABLE, *_UNREADABLE) as exc:
            problems.append(_problem("Prometheus", prometheus, exc,
                                     f"{start_hint(prometheus)} or set prometheus_url in "
                                     f"the config"))
    return AlertFeed([], "", "", problems)


def match_run(alert: ConsoleAlert, runs: Iterable[Run]) -> Run | None:
    """The newest run of this alert: same alertname, every run parameter that is also a label of
    the alert equal to it, and (for a webhook run) started by this occurrence of the alert (its
    ``starts_at`` within a second of the alert's start); a run launched by hand matches when it
    was created after the alert started."""
    best: Run | None = None
    for run in runs:
        if run.alertname != alert.alertname:
            continue
        if any(str(run.params[k]) != v for k, v in alert.labels.items()
               if k in run.params and k not in ("alertname", "starts_at")):
            continue
        started = parse_time(run.params.get("starts_at"))
        if started is not None and alert.starts_at is not None:
            if abs(started - alert.starts_at) > 1.0:
                continue
        elif alert.starts_at is not None and run.created < alert.starts_at:
            continue
        if best is None or run.created > best.created:
            best = run
    return best


def recently_resolved(runs: Iterable[Run], limit: int = 20) -> list[Run]:
    """Runs whose alert has resolved, most recently created first."""
    done = [r for r in runs if r.resolved_at]
    return sorted(done, key=lambda r: r.created, reverse=True)[:limit]


@dataclass(frozen=True)
class SilenceRequest:
    """A silence to create: equality matchers, how long, why and by whom."""

    matchers: dict[str, str]
    seconds: float
    comment: str
    author: str

    def body(self, now: float) -> dict[str, Any]:
        """Alertmanager's API v2 ``postableSilence``."""
        def fmt(t: float) -> str:
            return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {"matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True}
                             for k, v in sorted(self.matchers.items())],
                "startsAt": fmt(now), "endsAt": fmt(now + self.seconds),
                "createdBy": self.author, "comment": self.comment}


def silence_request(form: Mapping[str, str], parse_seconds: Callable[[str], float]
                    ) -> SilenceRequest:
    """A silence from the console's form: ``label.<name>`` fields are the matchers (alertname
    among them), ``duration`` (e.g. 2h), ``comment`` and ``author``; SilenceError otherwise."""
    matchers = {k[len("label."):]: v for k, v in form.items() if k.startswith("label.")}
    if not matchers.get("alertname"):
        raise SilenceError("a silence needs the alert's labels (alertname at least); use the "
                           "silence form next to the alert")
    if any(not name or len(name) > 200 or len(value) > 1000 for name, value in matchers.items()):
        raise SilenceError("a label of the silence is empty or too long")
    bad = sorted(name for name in matchers if not _LABEL_NAME.fullmatch(name))
    if bad:
        raise SilenceError(f"{bad[0][:60]!r} is not a label name (letters, digits and _, not "
                           f"starting with a digit); use the silence form next to the alert")
    try:
        seconds = float(parse_seconds(form.get("duration", "") or "2h"))
    except (ValueError, TypeError, MlmonError):
        raise SilenceError(f"duration {form.get('duration', '')[:40]!r} is not a duration; "
                           f"write e.g. 30m, 2h or 1d") from None
    if not 60 <= seconds <= MAX_SILENCE_SECONDS:
        raise SilenceError("a silence lasts between 1m and 14d")
    comment, author = form.get("comment", "").strip(), form.get("author", "").strip()
    if not comment or not author:
        raise SilenceError("a silence needs a comment (why) and an author (who)")
    if len(comment) > 2000 or len(author) > 200:
        raise SilenceError("the comment or author is too long")
    return SilenceRequest(matchers, seconds, comment, author)


def _silence_call(alertmanager: str, method: str, path: str, body: bytes | None,
                  timeout: float, what: str, outcome: str) -> Any:
    """One call to Alertmanager's silences API: its answer (JSON, or None when empty);
    SilenceError 400 when Alertmanager refuses the request (4xx: the form was wrong), 502 when
    it is missing, unreachable, slower than ``timeout`` or answers garbage."""
    if not alertmanager:
        raise SilenceError(f"no Alertmanager is configured; set {ALERTMANAGER_URL_ENV}", 502)
    try:
        status, data = _exchange(method, f"{alertmanager}{path}", timeout, body)
        detail = data[:300].decode("utf-8", "replace").strip()
        if 400 <= status < 500:
            raise SilenceError(f"Alertmanager refused to {what} (HTTP {status}): {detail}", 400)
        if status >= 300:
            raise SilenceError(f"Alertmanager failed to {what} (HTTP {status}): {detail}", 502)
        return _json(data) if data.strip() else None
    except _UNREACHABLE as exc:
        raise SilenceError(f"Alertmanager at {alertmanager} is unreachable ({_why(exc)}); "
                           f"{outcome}", 502) from None
    except _UNREADABLE as exc:
        raise SilenceError(f"Alertmanager at {alertmanager} answered garbage ({_why(exc)}); "
                           f"{outcome} as far as the console knows", 502) from None


def create_silence(alertmanager: str, request: SilenceRequest, now: float,
                   timeout: float = _TIMEOUT) -> str:
    """Create the silence in Alertmanager (API v2); its id. SilenceError when Alertmanager is
    not configured, unreachable, or refuses it (with Alertmanager's reason)."""
    answer = _silence_call(alertmanager, "POST", "/api/v2/silences",
                           json.dumps(request.body(now)).encode(), timeout,
                           "create the silence", "the silence was not created")
    silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
    if not silence_id:
        raise SilenceError("Alertmanager answered without a silence id", 502)
    return str(silence_id)


def expire_silence(alertmanager: str, silence_id: str, timeout: float = _TIMEOUT) -> None:
    """Expire an active silence now (API v2 ``DELETE /silence/<id>``); SilenceError for an id
    that cannot be one (400), one Alertmanager does not know (400) or an unreachable one
    (502)."""
    if not _SILENCE_ID.fullmatch(silence_id):
        raise SilenceError(f"{silence_id[:60]!r} is not a silence id; expire it from the "
                           f"console's list of silences")
    _silence_call(alertmanager, "DELETE", f"/api/v2/silence/{silence_id}", None, timeout,
                  f"expire silence {silence_id}", f"silence {silence_id} was not expired")
