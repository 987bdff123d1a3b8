"""What the launcher executes and accepts: one frozen settings object, defaults for the demo."""

from __future__ import annotations

from dataclasses import dataclass

from ..runstore import DEFAULT_LEASE_SECONDS, DEFAULT_MAX_ATTEMPTS
from .refresh import DEFAULT_REFRESH_SECONDS
from .security import READ_TOKEN_ENV, WRITE_TOKEN_ENV, resolve_token

__all__ = ["LauncherSettings"]


@dataclass(frozen=True)
class LauncherSettings:
    """How the launcher executes and what it accepts."""

    workers: int = 2                 # runs executing at once
    warm_kernels: int = 2            # kernels kept started and ready
    run_timeout: float = 600.0       # seconds per run before its kernel is killed
    dedupe_window: float = 6 * 3600  # a link shows a run at most this old instead of a form
    token: str | None = None         # bearer token for POSTs (also $MLMON_LAUNCHER_TOKEN[_FILE])
    read_token: str | None = None    # token for the read routes ($MLMON_LAUNCHER_READ_TOKEN[_FILE])
    protect_reads: bool = False      # reads need a token even without a separate read token
    allowed_hosts: tuple[str, ...] = ()  # extra Host names, e.g. a reverse proxy's
    max_body_bytes: int = 1 << 20    # webhook bodies
    max_form_bytes: int = 64 << 10   # form bodies
    max_json_depth: int = 32         # JSON nesting (an Alertmanager webhook nests 3)
    max_alerts: int = 1000           # alerts per webhook notification
    body_timeout: float = 10.0       # seconds to receive a whole body
    header_timeout: float = 10.0     # seconds to receive the request line and headers
    keep_alive: float = 5.0          # seconds an idle connection is kept
    lease_seconds: float = DEFAULT_LEASE_SECONDS  # a dead launcher's runs are retaken after this
    max_attempts: int = DEFAULT_MAX_ATTEMPTS      # executions started per run
    drain_timeout: float = 30.0      # at shutdown, seconds to wait for running runs
    alertmanager_url: str | None = None  # the console's Alertmanager ($MLMON_ALERTMANAGER_URL,
    #                                      else the stack's port; "" for Prometheus only)
    source_timeout: float = 3.0      # seconds for a whole answer of Alertmanager or Prometheus
    console_refresh: float = DEFAULT_REFRESH_SECONDS  # the console refreshes itself this often

    def resolved_token(self) -> str | None:
        """The write token: the setting, else ``$MLMON_LAUNCHER_TOKEN``, else the file named
        by ``$MLMON_LAUNCHER_TOKEN_FILE``; ConfigError when that file is empty."""
        return resolve_token(self.token, WRITE_TOKEN_ENV)

    def resolved_read_token(self) -> str | None:
        """The read token, likewise from ``$MLMON_LAUNCHER_READ_TOKEN[_FILE]``."""
        return resolve_token(self.read_token, READ_TOKEN_ENV)
