"""Runbook parameters: what a request may set, coerced to the declared type and checked per name.

Untrusted input (alert links, webhooks) reaches papermill only through
:func:`validate_parameters`: names must be declared by the runbook's ``parameters`` cell, values
are coerced to the declared type and checked per name (a model name looks like one, a window is
a duration, …), and the parameters the launcher sets from the config
(:data:`RESERVED_PARAMETERS`) never come from a request. Times (``start``, ``end``,
``starts_at``) are ISO-8601, unix seconds or relative to now (``now``, ``now-2h``, ``now-30m``);
the last two are resolved to ISO-8601 UTC here, so a run records the window it covered.

:func:`check_against_config` refuses what only the configuration can tell apart — a model that is
not configured, a feature its baseline does not have — by reading ``mlmon.yaml`` and the
baseline's JSON alone, so ``mlmon-nb run`` refuses in well under a second, before papermill,
Jupyter or pandas are imported.
"""

from __future__ import annotations

import ast
import datetime as _dt
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config, parse_duration
from ..errors import ConfigError, ParameterError
from ..metrics import CONCEPT_FEATURE, MODEL_NAME_PATTERN

__all__ = [
    "RESERVED_PARAMETERS",
    "MAX_VALUE_LENGTH",
    "TIME_PARAMETERS",
    "CHECKED_PARAMETERS",
    "CONCEPT_FEATURE",
    "Parameter",
    "Runbook",
    "resolve_time",
    "default_model",
    "check_value",
    "baseline_features",
    "validate_parameters",
    "check_against_config",
    "server_defaults",
    "declared_default",
]

# Set by the launcher or CLI from the config; a request can never point a kernel elsewhere.
RESERVED_PARAMETERS = frozenset({"prometheus_url", "baseline_path"})
TIME_PARAMETERS = frozenset({"start", "end", "starts_at"})
MAX_VALUE_LENGTH = 1024

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_RELATIVE = re.compile(r"now(?:\s*([+-])\s*(\S+))?", re.IGNORECASE)
_UNIX = re.compile(r"\d{9,10}(\.\d+)?")
_TIME_FORMS = ("an ISO-8601 time such as 2024-05-01T12:00:00Z, unix seconds, or a time relative "
               "to now such as now, now-2h or now-30m")
# what pandas' nanosecond timestamps (and so every query of a run) can hold, and the longest
# window or step a run may ask for: checked when the run is asked for, not in its kernel
EARLIEST = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
LATEST = _dt.datetime(2262, 1, 1, tzinfo=_dt.UTC)
MAX_DURATION_SECONDS = 366 * 86400


def _utc(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> _dt.datetime | None:
    """The moment an already resolved time parameter names (UTC when it has no offset)."""
    text = value.strip()
    if not text:
        return None
    moment = _dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=_dt.UTC)


def resolve_time(value: str, now: _dt.datetime | None = None) -> str:
    """A time parameter checked: ISO-8601 as given; ``now``, ``now-2h``, ``now+5m`` and unix
    seconds as ISO-8601 UTC (whole seconds); empty stays empty. ValueError says what to write."""
    resolved = _resolve_time(value, now)
    moment = parse_time(resolved)
    if moment is not None and not EARLIEST <= moment < LATEST:
        raise ValueError(f"{_TIME_FORMS}, between {EARLIEST.year} and {LATEST.year - 1}")
    return resolved


def _resolve_time(value: str, now: _dt.datetime | None) -> str:
    text = value.strip()
    if not text:
        return value
    relative = _RELATIVE.fullmatch(text)
    if relative:
        base = now or _dt.datetime.now(_dt.UTC)
        if not relative.group(1):
            return _utc(base)
        try:
            delta = _dt.timedelta(seconds=parse_duration(relative.group(2)))
            return _utc(base + delta if relative.group(1) == "+" else base - delta)
        except ConfigError:
            raise ValueError(f"{_TIME_FORMS} (the offset is a duration like 2h, 30m or 7d)") \
                from None
        except (OverflowError, ValueError):  # now-99999999h: before year 1 / after 9999
            raise ValueError(f"{_TIME_FORMS} (the offset {relative.group(2)!r} is out of range)") \
                from None
    if _UNIX.fullmatch(text):
        return _utc(_dt.datetime.fromtimestamp(float(text), _dt.UTC))
    if not _ISO.match(text):
        raise ValueError(_TIME_FORMS)
    try:  # also catches 2024-13-45
        parse_time(text)
    except ValueError as exc:
        raise ValueError(f"{_TIME_FORMS} ({exc})") from None
    return value


def _duration(value: str) -> str:
    if value:
        try:
            seconds = parse_duration(value)
        except ConfigError:
            raise ValueError("a duration such as 30s, 5m, 6h or 7d") from None
        if not 1 <= seconds <= MAX_DURATION_SECONDS:
            raise ValueError(f"a duration from 1s to {MAX_DURATION_SECONDS // 86400}d, such as "
                             f"30s, 5m, 6h or 7d")
    return value


def _pattern(regex: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(what)
        return value
    return check


def _url(value: str) -> str:
    if value and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~/\-]*)?", value):
        raise ValueError("an http(s) URL such as http://127.0.0.1:9090")
    return value


# Per-name checks on top of the declared type: what each shared parameter may look like.
_CHECKS: dict[str, Callable[[str], str]] = {
    "model_name": _pattern(MODEL_NAME_PATTERN, "a model name: letters, digits, _ or -, starting "
                                            "with a letter or _, at most 128 characters"),
    "window": _duration, "step": _duration, "long_window": _duration, "short_window": _duration,
    "severity": _pattern(r"|critical|warning|info|page|ticket",
                         "one of critical, warning, info, page, ticket"),
    "feature": _pattern(r"[A-Za-z0-9_.:\-]{0,128}", "a feature name: letters, digits, _ . : or -"),
    "model_version": _pattern(r"[A-Za-z0-9_.:+\-]{0,128}",
                              "a model version: letters, digits, _ . : + or -"),
    "slo": _pattern(r"|latency|availability|accuracy|throughput",
                    "one of latency, availability, accuracy, throughput"),
    "alertname": _pattern(r"[A-Za-z][A-Za-z0-9_]{0,127}", "an alert name"),
    "prometheus_url": _url,
    "baseline_path": _pattern(r"[^\x00-\x1f]{0,1024}", "a file path"),
}
CHECKED_PARAMETERS = frozenset(_CHECKS) | TIME_PARAMETERS


def check_value(name: str, value: str, now: _dt.datetime | None = None) -> str:
    """A string parameter checked by its name (a model name, a duration, a time…): the value,
    with a relative time resolved against ``now``; ValueError saying what to write."""
    if name in TIME_PARAMETERS:
        return resolve_time(value, now)
    check = _CHECKS.get(name)
    return check(value) if check else value


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of a runbook: name, type, default (as written) and help."""

    name: str
    type: str
    default: str
    help: str = ""

    def coerce(self, value: object, now: _dt.datetime | None = None) -> object:
        """``value`` converted to this parameter's type, or ValueError saying what is expected;
        a relative time is resolved against ``now`` (default: the current time)."""
        if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
            raise ValueError(f"a value of at most {MAX_VALUE_LENGTH} characters")
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text without control characters")
        kind = self.type
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError("true or false")
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("an integer")
            try:
                return int(str(value).strip())
            except ValueError:
                raise ValueError("an integer") from None
        if kind == "float":
            try:
                number = float(str(value).strip())
            except ValueError:
                raise ValueError("a number") from None
            if not math.isfinite(number):
                raise ValueError("a finite number")
            return number
        if not isinstance(value, str):
            raise ValueError("a string")
        if any(ord(c) < 32 and c not in "\t" for c in value):
            raise ValueError("text without control characters")
        return check_value(self.name, value, now)


@dataclass(frozen=True)
class Runbook:
    """A registered runbook: its alert name, notebook and declared parameters."""

    alertname: str
    path: Path
    parameters: dict[str, Parameter] = field(default_factory=dict)

    @property
    def declared(self) -> str:
        """The declared parameter names, for error messages."""
        return ", ".join(sorted(self.parameters)) or "none"



def validate_parameters(runbook: Runbook, raw: Mapping[str, object], *,
                        untrusted: bool = True, ignore_undeclared: bool = False) -> dict[str, object]:
    """Declared, type-checked parameters from ``raw``; ParameterError on the first bad one.

    ``untrusted`` (links, forms, webhooks) also refuses the parameters the launcher sets from the
    config (``prometheus_url``, ``baseline_path``). ``ignore_undeclared`` drops unknown names
    instead of refusing them (alert labels such as ``job`` or ``instance``). Relative times are
    resolved against one ``now`` (``start=now-2h``, ``end=now`` is exactly two hours).
    """
    now = _dt.datetime.now(_dt.UTC)
    out: dict[str, object] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or name not in runbook.parameters:
            if ignore_undeclared and isinstance(name, str):
                continue
            raise ParameterError(
                f"runbook {runbook.alertname} declares no parameter {str(name)[:80]!r}; its "
                f"parameters are: {runbook.declared}")
        if untrusted and name in RESERVED_PARAMETERS:
            if ignore_undeclared:
                continue
            raise ParameterError(f"parameter {name!r} is set by the launcher from the config and "
                                 f"cannot come from a request")
        try:
            out[name] = runbook.parameters[name].coerce(value, now)
        except ValueError as exc:
            raise ParameterError(
                f"parameter {name!r} of runbook {runbook.alertname} must be {exc}; got "
                f"{str(value)[:80]!r}") from None
    start, end = (parse_time(str(out.get(k) or "")) for k in ("start", "end"))
    if start is not None and end is not None and end <= start:
        raise ParameterError(f"parameters 'start' and 'end' of runbook {runbook.alertname}: end "
                             f"({out['end']}) must be after start ({out['start']})")
    if "alertname" in out and out["alertname"] != runbook.alertname:
        raise ParameterError(f"parameter 'alertname' is {out['alertname']!r} but this is the "
                             f"runbook of {runbook.alertname}")
    return out


def baseline_features(path: str | Path) -> tuple[str, ...] | None:
    """The features a baseline file declares — numeric, categorical, then ``confidence`` when it
    has the confidence histogram — from its JSON alone (no numpy or pandas, no id check: that is
    :meth:`mlmon_nb.baseline.Baseline.load`'s job); None when the file cannot be read."""
    try:
        doc = json.loads(Path(path).read_text())
        declared = doc["features"]
        names = [str(n) for n in declared.get("numeric", [])] + \
            [str(n) for n in declared.get("categorical", [])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if doc.get("confidence"):
        names.append(CONCEPT_FEATURE)
    return tuple(names)


def check_against_config(config: Config, params: Mapping[str, object], *,
                         declared_model: str = "") -> None:
    """Refuse, with a ParameterError naming what exists, a ``model_name`` the configuration does
    not have and a ``feature`` the model's baseline does not have.

    ``declared_model`` is the runbook's own default: without ``model_name``, the model of
    :func:`default_model` is checked (the same one :func:`server_defaults` fills in). The
    baseline is ``baseline_path`` if given, else the model's configured one; when it cannot be
    read the feature is left to the runbook, which reports the missing baseline itself. Reads
    only the configuration and the baseline's JSON: cheap enough to run before anything heavy.
    """
    model = str(params.get("model_name") or default_model(declared_model, config))
    if not model:
        return
    try:
        config.model(model)
    except ConfigError:
        known = ", ".join(m.name for m in config.models) or "none"
        where = f" in {config.path}" if config.path else ""
        raise ParameterError(f"parameter 'model_name': model {model[:80]!r} is not configured; "
                             f"configured models{where}: {known}") from None
    feature = str(params.get("feature") or "")
    if not feature:
        return
    path = str(params.get("baseline_path") or "") or config.baseline_path(model)
    features = baseline_features(path)
    if features is not None and feature not in features:
        raise ParameterError(f"parameter 'feature': {feature[:80]!r} is not a feature of the "
                             f"baseline of {model} ({path}); its features are: "
                             f"{', '.join(features) or 'none'}")


def declared_default(runbook: Runbook, name: str) -> str:
    """A declared parameter's default as a string ("" when absent or not a string literal)."""
    declared = runbook.parameters.get(name)
    try:
        value = ast.literal_eval(declared.default) if declared else ""
    except (ValueError, SyntaxError):
        return ""
    return value if isinstance(value, str) else ""


def default_model(declared: str, config: Config) -> str:
    """The model a run without ``model_name`` is about, from the runbook's ``declared``
    default: that model where the configuration has it, else the configuration's only model (the
    shipped runbooks default to the demo's model, which a user's own setup does not have), else
    the declared one (which :func:`check_against_config` then refuses by name)."""
    names = [m.name for m in config.models]
    return names[0] if declared not in names and len(names) == 1 else declared


def server_defaults(runbook: Runbook, config: Config, params: Mapping[str, object]) -> dict[str, object]:
    """``params`` plus what the launcher and CLI fill in when left empty: ``prometheus_url``,
    ``baseline_path`` and ``alertname`` from the config, and ``model_name`` from
    :func:`default_model` (so the run index, its list, title and model filter know the model)."""
    out = dict(params)
    declared = runbook.parameters
    if "model_name" in declared and not out.get("model_name"):
        default = default_model(declared_default(runbook, "model_name"), config)
        if default:
            out["model_name"] = default
    if "prometheus_url" in declared and not out.get("prometheus_url"):
        out["prometheus_url"] = config.prometheus_url
    if "alertname" in declared and not out.get("alertname"):
        out["alertname"] = runbook.alertname
    if "baseline_path" in declared and not out.get("baseline_path") and out.get("model_name"):
        try:
            out["baseline_path"] = str(config.baseline_path(str(out["model_name"])))
        except ConfigError:
            pass  # an unconfigured model: the runbook says so itself
    return out
