"""One exception root for mlmon_nb; every error says what went wrong and what to do next."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = [
    "MlmonError",
    "ConfigError",
    "PrometheusError",
    "PrometheusUnreachable",
    "PrometheusQueryError",
    "PrometheusTimeout",
    "QueryArgumentError",
    "BaselineError",
    "DriftError",
    "StackError",
    "ServiceUnreachable",
    "InstrumentError",
    "RunbookError",
    "UnknownRunbook",
    "ParameterError",
    "RulesError",
]


class MlmonError(Exception):
    """Root of every error mlmon_nb raises on purpose."""


class ConfigError(MlmonError, ValueError):
    """The configuration file is missing, malformed or inconsistent."""

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


def start_hint(url: str) -> str:
    """How to bring up what should answer at ``url``: the bundled stack only runs on this
    machine, so a server elsewhere is the user's own, to be checked where it runs."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "::1", "0.0.0.0") or host.startswith("127."):
        return "start it (`mlmon-nb stack up`, if it is the bundled stack)"
    return f"check that it runs on {host or url} and that this machine reaches it"


class PrometheusError(MlmonError):
    """A Prometheus HTTP API call failed."""

    def __init__(self, message: str, url: str):
        self.url = url
        super().__init__(message)


class PrometheusUnreachable(PrometheusError):
    """Nothing answers at the Prometheus URL."""

    def __init__(self, url: str, reason: str = ""):
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"Prometheus is unreachable at {url}{detail}. {start_hint(url).capitalize()}, or "
            f"point at a running Prometheus: MLMON_PROMETHEUS_URL or the configuration's "
            f"prometheus_url (one command: `mlmon-nb query --url URL`, `mlmon-nb run … -p "
            f"prometheus_url URL`; in Python, Prometheus(URL)).", url)


class PrometheusQueryError(PrometheusError):
    """Prometheus rejected the query; the message is the server's own."""

    def __init__(self, url: str, query: str, server_message: str):
        self.query = query
        self.server_message = server_message
        super().__init__(f"Prometheus at {url} rejected the query {query!r}: {server_message}", url)


class PrometheusTimeout(PrometheusError):
    """Prometheus did not answer within the timeout."""

    def __init__(self, url: str, timeout: float):
        self.timeout = timeout
        super().__init__(
            f"Prometheus at {url} did not answer within {timeout:g}s. Narrow the range, raise "
            f"the step, or raise the timeout.", url)


class QueryArgumentError(MlmonError, ValueError):
    """A query's time, range, step or timeout cannot be used; the message says what to write."""


class BaselineError(MlmonError, ValueError):
    """A baseline file is corrupt, truncated, of another schema version, or inconsistent."""

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        super().__init__(f"baseline {path}: {message}" if path else message)


class DriftError(MlmonError, ValueError):
    """A drift computation was asked something it cannot answer (unknown test or feature,
    histogram buckets that do not match the baseline)."""


class StackError(MlmonError):
    """A component of the local stack is missing, failed to start, or is unhealthy."""


class InstrumentError(MlmonError, ValueError):
    """ModelMonitor was set up inconsistently (raised at setup, never on the request path)."""


class ServiceUnreachable(MlmonError):
    """Nothing answers at the demo model service's URL."""

    def __init__(self, url: str, reason: str = ""):
        self.url = url
        detail = f" ({reason})" if reason else ""
        super().__init__(f"the demo model service is unreachable at {url}{detail}. Start the "
                         f"local stack with `mlmon-nb stack up` (or `mlmon-nb demo serve`).")


class RunbookError(MlmonError):
    """A runbook is unknown, or its execution failed."""


class UnknownRunbook(RunbookError):
    """No runbook for an alert: names the known ones and the folders searched; ``public`` is
    the message without the folders, for a web client, which has no use for server paths."""

    def __init__(self, alertname: str, known: list[str], folders: list[str]):
        self.alertname, self.known, self.folders = alertname, known, folders
        self.public = (f"no runbook for alert {alertname[:80]!r}; runbooks exist for: "
                       f"{', '.join(known) or 'none'}")
        super().__init__(f"{self.public} (in {', '.join(folders)})")


class ParameterError(RunbookError, ValueError):
    """A runbook parameter is undeclared or has the wrong type."""


class RulesError(ConfigError):
    """Rules cannot be generated from the configuration (e.g. an SLO threshold off the buckets)."""
