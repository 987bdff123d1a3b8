"""Runbook parameters: what a request may set, coerced to the declared type and checked per name.

Untrusted input (alert links, webhooks) reaches papermill only through
:func:`validate_parameters`: names must be declared by the runbook's ``parameters`` cell, values
are coerced to the declared type and checked per name (a model name looks like one, a window is
a duration, …), and the parameters the launcher sets from the config
(:data:`RESERVED_PARAMETERS`) never come from a request.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from dataclasses import dataclass
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..config import Config, parse_duration
from ..errors import ConfigError, ParameterError

if TYPE_CHECKING:  # the registry builds Parameters; only the type is needed here
    from .registry import Runbook

__all__ = [
    "RESERVED_PARAMETERS",
    "MAX_VALUE_LENGTH",
    "Parameter",
    "validate_parameters",
    "server_defaults",
]

# Set by the launcher or CLI from the config; a request can never point a kernel elsewhere.
RESERVED_PARAMETERS = frozenset({"prometheus_url", "baseline_path"})
MAX_VALUE_LENGTH = 1024

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def _iso(value: str) -> str:
    what = "an ISO-8601 time such as 2024-05-01T12:00:00Z"
    if value and not _ISO.match(value):
        raise ValueError(what)
    if value:  # also catches 2024-13-45
        try:
            _dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"{what} ({exc})") from None
    return value


def _duration(value: str) -> str:
    if value:
        try:
            parse_duration(value)
        except ConfigError:
            raise ValueError("a duration such as 30s, 5m, 6h or 7d") from None
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
    "model_name": _pattern(r"[A-Za-z_][A-Za-z0-9_\-]{0,127}", "a model name: letters, digits, _ or -"),
    "start": _iso, "end": _iso, "starts_at": _iso,
    "window": _duration, "step": _duration, "long_window": _duration, "short_window": _duration,
    "severity": _pattern(r"|critical|warning|info|page|ticket",
                         "one of critical, warning, info, page, ticket"),
    "feature": _pattern(r"[A-Za-z0-9_.:\-]{0,128}", "a feature name: letters, digits, _ . : or -"),
    "slo": _pattern(r"|latency|availability|accuracy|throughput",
                    "one of latency, availability, accuracy, throughput"),
    "alertname": _pattern(r"[A-Za-z][A-Za-z0-9_]{0,127}", "an alert name"),
    "prometheus_url": _url,
    "baseline_path": _pattern(r"[^\x00-\x1f]{0,1024}", "a file path"),
}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True)
class Parameter:
    """One declared parameter of a runbook: name, type, default (as written) and help."""

    name: str
    type: str
    default: str
    help: str = ""

    def coerce(self, value: object) -> object:
        """``value`` converted to this parameter's type, or ValueError saying what is expected."""
        if isinstance(value, str) and (len(value) > MAX_VALUE_LENGTH or "\x00" in value):
            raise ValueError(f"a value of at most {MAX_VALUE_LENGTH} characters")
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
        check = _CHECKS.get(self.name)
        return check(value) if check else value


def validate_parameters(runbook: Runbook, raw: Mapping[str, object], *,
                        untrusted: bool = True, ignore_undeclared: bool = False) -> dict[str, object]:
    """Declared, type-checked parameters from ``raw``; ParameterError on the first bad one.

    ``untrusted`` (links, forms, webhooks) also refuses the parameters the launcher sets from the
    config (``prometheus_url``, ``baseline_path``). ``ignore_undeclared`` drops unknown names
    instead of refusing them (alert labels such as ``job`` or ``instance``).
    """
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
            out[name] = runbook.parameters[name].coerce(value)
        except ValueError as exc:
            raise ParameterError(
                f"parameter {name!r} of runbook {runbook.alertname} must be {exc}; got "
                f"{str(value)[:80]!r}") from None
    if "alertname" in out and out["alertname"] != runbook.alertname:
        raise ParameterError(f"parameter 'alertname' is {out['alertname']!r} but this is the "
                             f"runbook of {runbook.alertname}")
    return out


def server_defaults(runbook: Runbook, config: Config, params: Mapping[str, object]) -> dict[str, object]:
    """``params`` plus what the launcher and CLI fill in from the config when left empty:
    ``prometheus_url``, ``baseline_path`` and ``alertname``."""
    out = dict(params)
    declared = runbook.parameters
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
