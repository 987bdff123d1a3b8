"""Prometheus HTTP API into tidy pandas: instant and range queries, chunking, clear errors.

``Prometheus`` talks to any Prometheus-compatible API (Prometheus, VictoriaMetrics, Thanos,
Mimir) over prometheus-api-client's transport (a ``requests`` session with urllib3 retries and
backoff) and turns results into *tidy* frames: one column per label (categorical; an absent label
is ``""``, as in PromQL), ``timestamp`` (UTC pandas Timestamps) and ``value`` (float).

Range results are parsed without building a Python object per point: each series' ``values``
array is handed to pandas' C CSV parser in one piece, so 100 series x 10,000 points take a fraction of
what ``json.loads`` alone costs (see ``benchmarks/bench_prom.py``). Ranges longer than the
server's 11,000-points-per-series limit are split into aligned chunks and joined without
duplicates. Every call has a hard deadline (``timeout``): a server that stalls or drips bytes
raises :class:`~mlmon_nb.errors.PrometheusTimeout`, never hangs.

Time arguments (``start``, ``end``, ``time``) accept datetimes (naive = UTC), pandas Timestamps,
unix seconds, ISO-8601 strings and relative strings ``"now"``, ``"now-6h"``, ``"now+5m"``.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import time as _time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping, TypeAlias

import numpy as np
import pandas as pd
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .config import parse_duration
from .errors import (
    ConfigError,
    PrometheusError,
    PrometheusQueryError,
    PrometheusTimeout,
    PrometheusUnreachable,
    QueryArgumentError,
)

if TYPE_CHECKING:
    from .config import Config

__all__ = [
    "Prometheus",
    "TimeLike",
    "StepLike",
    "MAX_POINTS_PER_SERIES",
    "to_timestamp",
    "time_range",
    "to_wide",
    "parse_step",
    "series_name",
    "default_prometheus_url",
    "empty_frame",
    "parse_response",
]

#: What ``start``, ``end`` and ``time`` accept (see :func:`to_timestamp`).
TimeLike: TypeAlias = "datetime | pd.Timestamp | float | int | np.integer[Any] | np.floating[Any] | str"
#: What ``step`` accepts (see :func:`parse_step`).
StepLike: TypeAlias = "float | int | str | pd.Timedelta"
#: Per-series labels, times in ms and values, as the parsers hand them to :func:`_tidy`.
_Parsed: TypeAlias = "tuple[list[dict[str, str]], list[np.ndarray], list[np.ndarray]]"
MAX_POINTS_PER_SERIES = 11_000
#: Points per series one range call may ask for (100 requests at the server's limit): ten years
#: at 1s would otherwise be 28,000 requests; a range this long wants a coarser step.
MAX_RANGE_POINTS = 100 * MAX_POINTS_PER_SERIES
_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*(\S+))?$", re.IGNORECASE)
_RETRY_STATUS = (429, 502, 503, 504)


# -- time arguments ------------------------------------------------------------------------------

def to_timestamp(value: TimeLike, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """A UTC pandas Timestamp from a datetime, Timestamp, unix seconds, ISO string or ``now-6h``."""
    if isinstance(value, bool) or value is None:
        raise QueryArgumentError(f"{value!r} is not a time; pass a datetime, unix seconds, an "
                                 f"ISO-8601 string or 'now-6h'")
    if isinstance(value, (int, float, np.integer, np.floating)):
        if not math.isfinite(float(value)):
            raise QueryArgumentError(f"{value!r} is not a time")
        return pd.Timestamp(float(value), unit="s", tz="UTC")
    if isinstance(value, str):
        text = value.strip()
        match = _RELATIVE.match(text)
        if match:
            base = now if now is not None else pd.Timestamp.now(tz="UTC")
            if not match.group(1):
                return base
            try:
                delta = pd.Timedelta(seconds=parse_duration(match.group(2)))
            except ConfigError as exc:
                raise QueryArgumentError(f"{value!r}: write a relative time like now-6h or "
                                         f"now-30m") from exc
            return base + delta if match.group(1) == "+" else base - delta
        try:
            value = pd.Timestamp(text)
        except (ValueError, TypeError) as exc:
            raise QueryArgumentError(f"{value!r} is not a time; write ISO-8601 "
                                     f"(2024-05-01T12:00:00Z), unix seconds or 'now-6h'") from exc
    if isinstance(value, datetime):
        ts = pd.Timestamp(value)
        if ts is pd.NaT:
            raise QueryArgumentError("NaT is not a time")
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    raise QueryArgumentError(f"{value!r} is not a time; pass a datetime, unix seconds, an "
                             f"ISO-8601 string or 'now-6h'")


def time_range(start: TimeLike, end: TimeLike) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``start`` and ``end`` as UTC Timestamps against one ``now`` (``now-2h`` to ``now`` is
    exactly two hours); QueryArgumentError when ``end`` is before ``start``."""
    now = pd.Timestamp.now(tz="UTC")
    t0, t1 = to_timestamp(start, now), to_timestamp(end, now)
    if t1 < t0:
        raise QueryArgumentError(f"end ({t1}) is before start ({t0}); swap them")
    return t0, t1


def parse_step(step: StepLike) -> float:
    """Seconds in a step given as seconds, a Timedelta or a duration string (``15s``, ``5m``)."""
    if isinstance(step, pd.Timedelta):
        seconds = step.total_seconds()
    elif isinstance(step, str):
        try:
            seconds = parse_duration(step)
        except ConfigError as exc:
            raise QueryArgumentError(f"step {step!r} is not a duration; write e.g. 15s, 1m or "
                                     f"5m") from exc
    else:
        seconds = float(step)
    if not seconds > 0 or not math.isfinite(seconds):
        raise QueryArgumentError(f"step must be a positive duration, not {step!r}")
    return seconds


def _unix(ts: pd.Timestamp) -> float:
    return ts.value / 1e9


def default_prometheus_url(config: Config | None = None) -> str:
    """``$MLMON_PROMETHEUS_URL``, else the configuration's ``prometheus_url``."""
    env = os.environ.get("MLMON_PROMETHEUS_URL")
    if env:
        return env.rstrip("/")
    if config is None:
        from .config import load_config
        config = load_config()
    return config.prometheus_url


# -- the tidy frame ------------------------------------------------------------------------------

def empty_frame(labels: Iterable[str] = ()) -> pd.DataFrame:
    """The tidy frame with no rows: label columns, ``timestamp`` (UTC) and ``value``."""
    data: dict[str, Any] = {name: pd.Categorical([]) for name in labels}
    data["timestamp"] = pd.DatetimeIndex([], tz="UTC", dtype="datetime64[ns, UTC]")
    data["value"] = np.array([], dtype=float)
    return pd.DataFrame(data)


def _label_order(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=lambda n: (n != "__name__", n))


def _tidy(metrics: list[dict[str, str]], times_ms: list[np.ndarray],
          values: list[np.ndarray]) -> pd.DataFrame:
    """Assemble per-series arrays into the tidy frame (labels categorical, repeated by codes)."""
    counts = np.fromiter((len(t) for t in times_ms), dtype=np.int64, count=len(times_ms))
    labels = _label_order(k for m in metrics for k in m)
    if counts.sum() == 0:
        return empty_frame(labels)
    data: dict[str, Any] = {}
    for name in labels:
        per_series = [m.get(name, "") for m in metrics]
        categories, codes = np.unique(np.asarray(per_series, dtype=object), return_inverse=True)
        data[name] = pd.Categorical.from_codes(np.repeat(codes.astype(np.int32), counts),
                                               categories=pd.Index(list(categories)))
    stamps = np.concatenate(times_ms).astype("datetime64[ms]").astype("datetime64[ns]")
    data["timestamp"] = pd.DatetimeIndex(stamps).tz_localize("UTC")
    data["value"] = np.concatenate(values)
    return pd.DataFrame(data)


def series_name(labels: Mapping[str, str], keys: Iterable[str] | None = None) -> str:
    """A short name for a series: the values of ``keys`` (default: all labels), joined."""
    keys = list(keys) if keys is not None else _label_order(labels)
    parts = [f"{k}={labels[k]}" if len(keys) > 1 else str(labels[k]) for k in keys if k in labels]
    return ", ".join(parts) or "value"


def to_wide(frame: pd.DataFrame, columns: str | list[str] | None = None) -> pd.DataFrame:
    """The tidy frame as one column per series, indexed by timestamp (for plotting).

    ``columns`` names the label(s) that make a column's name; by default the labels whose value
    differs between series (or ``value`` for a single series).
    """
    labels = [c for c in frame.columns if c not in ("timestamp", "value")]
    if columns is None:
        columns = [c for c in labels if frame[c].nunique(dropna=False) > 1]
    elif isinstance(columns, str):
        columns = [columns]
    if frame.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="timestamp"))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"no label {missing} in the result; its labels are {labels}")
    if not columns:
        key = pd.Series("value", index=frame.index)
    elif len(columns) == 1:
        key = frame[columns[0]].astype(str)
    else:
        key = frame[columns].astype(str).apply(
            lambda row: ", ".join(f"{c}={row[c]}" for c in columns), axis=1)
    wide = (pd.DataFrame({"timestamp": frame["timestamp"], "series": key, "value": frame["value"]})
            .pivot_table(index="timestamp", columns="series", values="value", aggfunc="last"))
    wide.columns.name = None
    return wide.sort_index()


# -- fast matrix parsing -------------------------------------------------------------------------

_RESULT = re.compile(rb'"result"\s*:\s*\[')
_SERIES = re.compile(rb'\s*,?\s*\{\s*"metric"\s*:\s*')
_VALUES = re.compile(rb'\s*,\s*"values"\s*:\s*\[')
_SERIES_END = re.compile(rb'\s*\}')
_RESULT_END = re.compile(rb'\s*\]')
_ROWS = bytes.maketrans(b"]", b"\n")


class _NotFastPath(Exception):
    """The body is valid JSON of an unexpected shape; parse it the slow way."""


def _parse_matrix_fast(body: bytes | str) -> _Parsed:
    """Matrix JSON → (labels, times in ms, values) per series, one numpy parse per series.

    Only the small ``metric`` objects go through ``json``; each ``values`` array is turned into
    CSV rows (``,t,v`` per line) by one byte translation and parsed by pandas' C CSV reader.
    Anything unexpected raises ``_NotFastPath`` and the caller falls back to ``json.loads``.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    match = _RESULT.search(body)
    if not match:
        raise _NotFastPath
    pos = match.end()
    metrics: list[dict[str, str]] = []
    times: list[np.ndarray] = []
    values: list[np.ndarray] = []
    flat: np.ndarray
    while True:
        head = _SERIES.match(body, pos)
        if head is None:
            break
        vals = _VALUES.search(body, head.end())
        if vals is None:
            raise _NotFastPath
        labels = json.loads(body[head.end():vals.start()])
        if not isinstance(labels, dict):
            raise _NotFastPath
        start = vals.end()
        if body.startswith(b"]", start):
            close, flat = start + 1, np.empty(0)
        else:
            close = body.find(b"]]", start)
            if close < 0:
                raise _NotFastPath
            # [t,"v"],[t,"v"] → ,t,v\n,t,v\n : rows of three fields, the first empty
            rows = (b"," + body[start:close + 1]).translate(_ROWS, b'["')
            flat = pd.read_csv(io.BytesIO(rows), header=None, usecols=[1, 2], engine="c",
                               dtype=np.float64, skipinitialspace=True).to_numpy()
            if flat.ndim != 2 or flat.shape[1] != 2 or np.isnan(flat[:, 0]).any():
                raise _NotFastPath
            close += 2
        tail = _SERIES_END.match(body, close)
        if tail is None:
            raise _NotFastPath
        pos = tail.end()
        pairs = flat.reshape(-1, 2)
        metrics.append(labels)
        times.append(np.rint(pairs[:, 0] * 1000).astype(np.int64))
        values.append(np.ascontiguousarray(pairs[:, 1]))
    if _RESULT_END.match(body, pos) is None:
        raise _NotFastPath
    return metrics, times, values


def _parse_result(data: dict[str, Any]) -> _Parsed:
    """The slow, general path for vectors, scalars and unexpected matrix shapes."""
    kind, result = data.get("resultType"), data.get("result")
    if kind in ("scalar", "string"):
        result = [{"metric": {}, "value": result}]
    metrics: list[dict[str, str]] = []
    times: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for item in result or ():
        points = item.get("values") or ([item["value"]] if "value" in item else [])
        metrics.append(item.get("metric") or {})
        times.append(np.array([round(float(p[0]) * 1000) for p in points], dtype=np.int64))
        values.append(np.array([float(p[1]) for p in points], dtype=float))
    return metrics, times, values


def parse_response(body: bytes | str) -> pd.DataFrame:
    """The tidy frame of a raw ``/api/v1/query(_range)`` JSON answer (e.g. one saved to disk)."""
    try:
        return _tidy(*_parse_matrix_fast(body))
    except (_NotFastPath, ValueError):
        doc = json.loads(body)
        if doc.get("status") != "success":
            raise ValueError(f"not a successful Prometheus answer: {doc.get('error')}") from None
        return _tidy(*_parse_result(doc["data"]))


# -- the client ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Chunk:
    start: float
    end: float


def _chunks(start: float, end: float, step: float, limit: int) -> list[_Chunk]:
    """Step-aligned, non-overlapping sub-ranges of at most ``limit`` points each."""
    points = int(math.floor((end - start) / step + 1e-9)) + 1
    per = max(1, limit)
    out = []
    for first in range(0, points, per):
        last = min(points, first + per) - 1
        out.append(_Chunk(start + first * step, start + last * step))
    return out


class Prometheus:
    """A Prometheus-compatible HTTP API, read into tidy pandas frames.

    Parameters
    ----------
    url:
        The server's base URL; default ``$MLMON_PROMETHEUS_URL``, else the configuration's.
    timeout:
        Hard deadline in seconds for each HTTP call (connect, evaluate, download).
    headers:
        Extra HTTP headers, e.g. ``{"Authorization": "Bearer …"}``.
    retries:
        Retries with exponential backoff for refused connections and 429/502/503/504 answers.
    max_points:
        Points per series per request; longer ranges are chunked (Prometheus refuses > 11,000).

    ``client`` is the underlying prometheus-api-client ``PrometheusConnect`` (same session,
    headers and retries) for the parts of the HTTP API that are not queries.
    """

    def __init__(self, url: str | None = None, *, timeout: float = 10.0,
                 headers: Mapping[str, str] | None = None, retries: int = 2,
                 backoff: float = 0.25, max_points: int = MAX_POINTS_PER_SERIES):
        from prometheus_api_client import PrometheusConnect

        self.url = (url or default_prometheus_url()).rstrip("/")
        if not re.match(r"^https?://", self.url):
            raise ConfigError(f"Prometheus URL {self.url!r} must start with http:// or https://")
        if not timeout > 0:
            raise QueryArgumentError(f"timeout must be positive, not {timeout!r}")
        self.timeout = float(timeout)
        self.max_points = int(max_points)
        retry = Retry(total=retries, connect=retries, read=0, status=retries, other=0,
                      backoff_factor=backoff, status_forcelist=_RETRY_STATUS,
                      allowed_methods=frozenset({"GET", "POST"}), raise_on_status=False,
                      respect_retry_after_header=False)
        #: prometheus-api-client's ``PrometheusConnect`` on the same session, headers and
        #: retries, for the API beyond queries (``all_metrics()``, ``get_label_values()``, …).
        self.client = PrometheusConnect(url=self.url, headers=dict(headers or {}), retry=retry,
                                        timeout=self.timeout)
        self._session: requests.Session = self.client._session
        self._session.mount("http://", HTTPAdapter(max_retries=retry))
        self._session.mount("https://", HTTPAdapter(max_retries=retry))
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"Prometheus({self.url!r}, timeout={self.timeout:g})"

    def close(self) -> None:
        """Release the HTTP connections."""
        self._session.close()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP ---------------------------------------------------------------------------------

    def _post(self, path: str, form: dict[str, str], query: str) -> bytes:
        """POST a form; the body, within the deadline, or a specific error."""
        deadline = _time.monotonic() + self.timeout
        url = f"{self.url}{path}"
        form = {**form, "timeout": f"{math.ceil(self.timeout * 1000)}ms"}  # 2.5s is no duration
        try:
            response = self._session.post(url, data=form, headers=self.headers, stream=True,
                                          timeout=(min(self.timeout, 5.0), self.timeout))
            try:
                body = self._read_until(response, deadline)
            finally:
                response.close()
        except PrometheusTimeout:
            raise
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError) as exc:
            if isinstance(exc, requests.exceptions.ConnectTimeout):
                raise PrometheusUnreachable(self.url, "connection timed out") from exc
            raise PrometheusTimeout(self.url, self.timeout) from exc
        except requests.exceptions.ConnectionError as exc:
            reason = getattr(exc.args[0] if exc.args else None, "reason", None)
            if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
                raise PrometheusTimeout(self.url, self.timeout) from exc
            raise PrometheusUnreachable(self.url, _reason(exc)) from exc
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise PrometheusError(f"request to Prometheus at {self.url} failed: {exc}",
                                  self.url) from exc
        if response.status_code == 200:
            return body
        message = _server_message(body.decode("utf-8", errors="replace")) or f"HTTP {response.status_code}"
        if response.status_code in (400, 422):
            raise PrometheusQueryError(self.url, query, message)
        if response.status_code == 503 and "timeout" in message.lower():
            raise PrometheusTimeout(self.url, self.timeout)
        raise PrometheusError(f"Prometheus at {self.url} answered HTTP {response.status_code}: "
                              f"{message}", self.url)

    def _read_until(self, response: requests.Response, deadline: float) -> bytes:
        """The body, read as it arrives; each socket wait is capped by the time left."""
        raw = response.raw
        chunks: list[bytes] = []
        while True:
            left = deadline - _time.monotonic()
            if left <= 0:
                raise PrometheusTimeout(self.url, self.timeout)
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(left)
            chunk = raw.read1(1 << 20, decode_content=True)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def _json(self, text: bytes, query: str) -> dict[str, Any]:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise PrometheusError(f"Prometheus at {self.url} sent a body that is not JSON; is "
                                  f"this URL a Prometheus API?", self.url) from exc
        if not isinstance(doc, dict) or doc.get("status") != "success":
            message = doc.get("error") if isinstance(doc, dict) else None
            raise PrometheusQueryError(self.url, query, str(message or "unexpected answer"))
        return doc["data"]

    # -- queries -------------------------------------------------------------------------------

    def query(self, promql: str, time: TimeLike | None = None) -> pd.DataFrame:
        """An instant query: one row per series, at ``time`` (default: now)."""
        form = {"query": promql}
        if time is not None:
            form["time"] = repr(_unix(to_timestamp(time)))
        data = self._json(self._post("/api/v1/query", form, promql), promql)
        return _tidy(*_parse_result(data))

    def range(self, promql: str, start: TimeLike, end: TimeLike, step: StepLike) -> pd.DataFrame:
        """A range query: one row per series and point, chunked under the per-series limit."""
        t0, t1 = (_unix(t) for t in time_range(start, end))
        seconds = parse_step(step)
        points = (t1 - t0) / seconds + 1
        if points > MAX_RANGE_POINTS:
            raise QueryArgumentError(
                f"a step of {seconds:g}s over {pd.Timedelta(seconds=t1 - t0)} is {points:,.0f} "
                f"points per series, over the {MAX_RANGE_POINTS:,} one range query may ask for; "
                f"raise the step to at least {math.ceil((t1 - t0) / (MAX_RANGE_POINTS - 1)):d}s")
        metrics: list[dict[str, str]] = []
        times: list[np.ndarray] = []
        values: list[np.ndarray] = []
        chunks = _chunks(t0, t1, seconds, self.max_points)
        for chunk in chunks:
            m, t, v = self._range_once(promql, chunk.start, chunk.end, seconds)
            metrics += m
            times += t
            values += v
        if len(chunks) > 1:
            metrics, times, values = _merge_series(metrics, times, values)
        return _tidy(metrics, times, values)

    def _range_once(self, promql: str, start: float, end: float, step: float) -> _Parsed:
        form = {"query": promql, "start": repr(start), "end": repr(end), "step": repr(step)}
        text = self._post("/api/v1/query_range", form, promql)
        if text.startswith(b'{"status":"success"'):
            try:
                return _parse_matrix_fast(text)
            except (_NotFastPath, ValueError):
                pass
        return _parse_result(self._json(text, promql))

    def wide(self, promql: str, start: TimeLike, end: TimeLike, step: StepLike,
             columns: str | list[str] | None = None) -> pd.DataFrame:
        """A range query in wide form: one column per series, indexed by timestamp."""
        return to_wide(self.range(promql, start, end, step), columns)

    def scalar(self, promql: str, time: TimeLike | None = None, default: float = float("nan")) -> float:
        """The value of an instant query that yields one series (``default`` when none)."""
        frame = self.query(promql, time)
        if frame.empty:
            return default
        if len(frame) > 1:
            raise PrometheusQueryError(self.url, promql,
                                       f"expected one series, got {len(frame)}; aggregate it")
        return float(frame["value"].iloc[0])

    def serves_page(self, path: str) -> bool:
        """True when the server serves the web page at ``path`` (200, HTML): which UI pages a
        build carries depends on who built it (Debian's Prometheus 2.x serves only the classic
        UI, its 3.x none; VictoriaMetrics no ``/graph``), so links are made only to pages that
        open."""
        try:
            answer = self._session.get(f"{self.url}{path}", headers=self.headers,
                                       timeout=self.timeout)
        except requests.RequestException:
            return False
        return answer.status_code == 200 and "html" in answer.headers.get("Content-Type", "")

    def healthy(self) -> bool:
        """True when the server answers its readiness endpoint (or a trivial query)."""
        try:
            self.query("1")
            return True
        except PrometheusError:
            return False


def _merge_series(metrics: list[dict[str, str]], times: list[np.ndarray],
                  values: list[np.ndarray]) -> _Parsed:
    """Join chunks: one entry per label set, points in time order, no duplicate timestamps."""
    index: dict[tuple[tuple[str, str], ...], int] = {}
    out_m: list[dict[str, str]] = []
    parts_t: list[list[np.ndarray]] = []
    parts_v: list[list[np.ndarray]] = []
    for m, t, v in zip(metrics, times, values):
        key = tuple(sorted(m.items()))
        if key not in index:
            index[key] = len(out_m)
            out_m.append(m)
            parts_t.append([])
            parts_v.append([])
        parts_t[index[key]].append(t)
        parts_v[index[key]].append(v)
    out_t: list[np.ndarray] = []
    out_v: list[np.ndarray] = []
    for ts, vs in zip(parts_t, parts_v):
        t, v = np.concatenate(ts), np.concatenate(vs)
        t, first = np.unique(t, return_index=True)
        out_t.append(t)
        out_v.append(v[first])
    return out_m, out_t, out_v


def _server_message(text: str) -> str:
    try:
        doc = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    if isinstance(doc, dict):
        return str(doc.get("error") or doc.get("message") or "")
    return ""


def _reason(exc: Exception) -> str:
    text = str(exc)
    for hint in ("Connection refused", "Name or service not known", "No route to host",
                 "timed out", "Connection reset"):
        if hint in text:
            return hint.lower()
    return type(exc).__name__
