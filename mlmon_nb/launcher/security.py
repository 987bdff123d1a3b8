"""Every rule the launcher applies before it trusts a request, in one place.

- **Host** allow-list on every route (DNS rebinding): the bind address, ``127.0.0.1``,
  ``localhost`` and ``[::1]`` with the launcher's port, the host of ``launcher_url``, and any
  configured names (a reverse proxy's).
- **One rule for state-changing routes** (``POST /alertmanager``, ``POST /runbook/<alert>``,
  ``POST /silences[/<id>/expire]``): refuse what a browser marks cross-site
  (``Sec-Fetch-Site: cross-site|same-site``, an ``Origin`` or ``Referer`` that is not the
  launcher's own; ``Origin: null`` only with ``Sec-Fetch-Site: same-origin``), require the
  route's content type (``application/json`` for the webhook, so a no-cors ``text/plain`` or
  form POST from any page is refused without being parsed), then the write token when one is
  configured.
- **Referrer policy** ``same-origin``: the launcher's own form posts carry its origin (with
  ``no-referrer`` Chromium sends ``Origin: null``), and no link leaks a URL to another site.
- **CSRF** for the forms: double-submit, the cookie's nonce signed with a secret kept in the
  state dir (HMAC), so a cookie planted by another port on 127.0.0.1 is not enough. Only an
  ``Authorization: Bearer`` header (which no browser sends by itself) stands in for it; HTTP
  Basic, which a browser caches and replays to any form post, never does.
- **Tokens**: the write token (``MLMON_LAUNCHER_TOKEN[_FILE]``) and an optional read token
  (``MLMON_LAUNCHER_READ_TOKEN[_FILE]``) for the run pages; an empty token file is an error.
- **Limits**: body size, a body read deadline, JSON nesting depth checked before the parser,
  and a header read deadline for the HTTP server (slow clients are closed).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..errors import ConfigError, RunbookError
from .refresh import script_source

__all__ = ["CSP", "CSRF_COOKIE", "READ_TOKEN_ENV", "WRITE_TOKEN_ENV", "ClientGone", "CsrfSigner",
           "Guard", "RequestError", "allowed_hosts", "header_deadline_protocol", "json_depth",
           "parse_json", "read_body", "resolve_token", "security_headers"]

WRITE_TOKEN_ENV = "MLMON_LAUNCHER_TOKEN"
READ_TOKEN_ENV = "MLMON_LAUNCHER_READ_TOKEN"
CSRF_COOKIE = "mlmon_csrf"
CSRF_MAX_AGE = 12 * 3600
REFERRER_POLICY = "same-origin"
_STAMP = re.compile(r"[0-9]{1,12}")
# no script but the console's refresh (allowed by its hash), which reads the console again
CSP = ("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
       f"script-src {script_source()}; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class RequestError(RunbookError):
    """A request the launcher refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, headers: Mapping[str, str] | None = None):
        self.status = status
        self.headers = dict(headers or {})
        super().__init__(message)


class ClientGone(Exception):
    """The client closed the connection before its body arrived (logged as one line)."""


def security_headers() -> dict[str, str]:
    """Headers on every HTML page: no script, no framing, no sniffing, and a referrer only to
    the launcher itself (so its form posts carry their origin)."""
    return {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": REFERRER_POLICY, "X-Frame-Options": "DENY"}


# -- tokens ---------------------------------------------------------------------------------------


def resolve_token(setting: str | None, env: str, environ: Mapping[str, str] = os.environ
                  ) -> str | None:
    """A token: the setting, else ``$<env>``, else the file named by ``$<env>_FILE`` (what
    Alertmanager's ``credentials_file`` reads). A named file that is empty or unreadable is a
    ConfigError: an operator who set a token must never get a launcher without one."""
    if setting:
        return setting
    if environ.get(env):
        return environ[env]
    path = environ.get(f"{env}_FILE")
    if not path:
        return None
    try:
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"${env}_FILE names {path!r}, which cannot be read ({exc}); fix the "
                          f"path or unset ${env}_FILE to run without a token") from exc
    if not text:
        raise ConfigError(f"${env}_FILE names {path!r}, which is empty; write the token into it "
                          f"(e.g. `openssl rand -hex 32 > {path}`) or unset ${env}_FILE")
    return text


def _credential(headers: Mapping[str, str], basic: bool = True) -> str | None:
    """The token a request presents: ``Authorization: Bearer <t>``, or (with ``basic``) HTTP
    Basic with the token as password (what a browser can send for the read routes)."""
    header = headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if basic and scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2]
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# -- hosts and origins ----------------------------------------------------------------------------


def allowed_hosts(bind_host: str, port: int, extra: Iterable[str] = ()) -> frozenset[str]:
    """``Host`` values the launcher answers: loopback names and the bind address with ``port``,
    plus ``extra`` names taken as given (``name`` or ``name:port``, e.g. a reverse proxy's)."""
    names = {"127.0.0.1", "localhost", "[::1]"}
    if bind_host and bind_host not in ("0.0.0.0", "::", ""):
        names.add(f"[{bind_host}]" if ":" in bind_host and not bind_host.startswith("[")
                  else bind_host)
    hosts = {f"{n}:{port}" for n in names}
    hosts.update(e.strip().lower() for e in extra if e and e.strip())
    return frozenset(h.lower() for h in hosts)


# -- JSON -----------------------------------------------------------------------------------------

_STEP = np.zeros(256, dtype=np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def json_depth(raw: bytes) -> int:
    """The deepest bracket nesting of ``raw`` outside strings, without parsing it: vectorized
    and linear (a few ms for a megabyte), checked before ``json.loads``, whose recursion a deep
    body would exhaust. A quote counts unless an odd run of backslashes precedes it."""
    data = np.frombuffer(raw, dtype=np.uint8)
    if data.size == 0:
        return 0
    index = np.arange(data.size)
    backslash = data == ord("\\")
    # length of the run of backslashes just before each position
    last_other = np.maximum.accumulate(np.where(backslash, -1, index))
    run_before = np.empty(data.size, dtype=np.int64)
    run_before[0] = 0
    run_before[1:] = index[:-1] - last_other[:-1]
    quote = (data == ord('"')) & (run_before % 2 == 0)
    outside = np.cumsum(quote) % 2 == 0  # even quotes so far: outside a string
    steps = _STEP[data].astype(np.int64) * outside
    return max(int(np.cumsum(steps).max()), 0)


def parse_json(raw: bytes, max_depth: int) -> Any:
    """The body as JSON, or RequestError(400) when it is not JSON or nests deeper than
    ``max_depth``; RecursionError never escapes."""
    depth = json_depth(raw)
    if depth > max_depth:
        raise RequestError(f"the JSON nests {depth} levels deep; at most {max_depth} "
                           f"(an Alertmanager webhook nests 3)")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise RequestError("the body is not JSON; Alertmanager sends a JSON webhook") from None


# -- bodies ---------------------------------------------------------------------------------------


async def read_body(request, limit: int, deadline: float) -> bytes:
    """The request body, at most ``limit`` bytes (413) within ``deadline`` seconds (408);
    ClientGone when the client disconnects first."""
    from starlette.requests import (
        ClientDisconnect,  # starlette is only needed with the app
    )

    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise RequestError(f"the body is larger than {limit} bytes", 413)

    async def collect() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(f"the body is larger than {limit} bytes", 413)
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(collect(), timeout=deadline)
    except TimeoutError:
        raise RequestError(f"the body did not arrive within {deadline:g}s", 408,
                           {"Connection": "close"}) from None
    except ClientDisconnect:
        raise ClientGone() from None


def header_deadline_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol that closes a connection whose request line and headers are not
    complete ``seconds`` after it opened or after its previous response (slow-header clients
    would otherwise hold a connection forever; uvicorn's keep-alive timeout covers idle ones)."""

    class HeaderDeadlineH11(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm_header_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_deadline()

        def connection_lost(self, exc) -> None:
            handle = getattr(self, "_header_deadline", None)
            if handle is not None:
                handle.cancel()
            super().connection_lost(exc)

        def _arm_header_deadline(self) -> None:
            old = getattr(self, "_header_deadline", None)
            if old is not None:
                old.cancel()
            self._header_deadline = self.loop.call_later(seconds, self._header_expired)

        def _header_expired(self) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                self.transport.close()

    return HeaderDeadlineH11


# -- CSRF -----------------------------------------------------------------------------------------


class CsrfSigner:
    """Double-submit CSRF bound to a server secret: the cookie holds a random nonce, the form
    holds ``<time>.<HMAC(secret, nonce|time)>``; a POST needs both, matching, and fresh."""

    def __init__(self, secret: bytes):
        self.secret = secret

    @classmethod
    def from_state_dir(cls, folder: Path) -> CsrfSigner:
        """The secret kept in ``folder/launcher-secret`` (0600, made once): launchers sharing a
        state dir accept each other's forms; nothing else knows it."""
        path = Path(folder) / "launcher-secret"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(secrets.token_bytes(32))
        for _ in range(50):  # another process may be writing it right now
            secret = path.read_bytes()
            if len(secret) >= 32:
                return cls(secret)
            time.sleep(0.02)
        raise ConfigError(f"{path} holds no secret; delete it and start the launcher again")

    def nonce(self) -> str:
        return secrets.token_urlsafe(24)

    def token(self, nonce: str, now: float | None = None) -> str:
        stamp = str(int(now if now is not None else time.time()))
        return f"{stamp}.{self._mac(nonce, stamp)}"

    def _mac(self, nonce: str, stamp: str) -> str:
        return hmac.new(self.secret, f"csrf|{nonce}|{stamp}".encode(), hashlib.sha256).hexdigest()

    def valid(self, nonce: str, token: str, now: float | None = None) -> bool:
        stamp, _, mac = token.partition(".")
        if not (nonce and _STAMP.fullmatch(stamp) and mac):  # ASCII digits, a sane length
            return False
        age = (now if now is not None else time.time()) - int(stamp)
        return 0 <= age <= CSRF_MAX_AGE and _equal(mac, self._mac(nonce, stamp))


# -- the guard ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    """The launcher's request rules, built once from its settings."""

    hosts: frozenset[str]
    write_token: str | None
    read_token: str | None
    protect_reads: bool
    csrf: CsrfSigner

    @property
    def reads_need_token(self) -> bool:
        return self.read_token is not None or (self.protect_reads and self.write_token is not None)

    def check_host(self, headers: Mapping[str, str]) -> None:
        """Every route: the ``Host`` must be one of the launcher's own names (421 otherwise)."""
        host = headers.get("host", "").strip().lower()
        if host not in self.hosts:
            raise RequestError(f"host {host[:80]!r} is not served here; the launcher answers "
                               f"{', '.join(sorted(self.hosts))} (add a name with --allow-host)",
                               421)

    def _own(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            return parts.scheme in ("http", "https") and parts.netloc.lower() in self.hosts
        except ValueError:
            return False

    def check_same_origin(self, headers: Mapping[str, str]) -> None:
        """State-changing routes: refuse what a browser marks as coming from another site, an
        ``Origin`` or ``Referer`` of another site, and ``Origin: null`` unless the browser says
        the request is ``same-origin`` (a sandboxed or ``data:`` page sends ``null`` too)."""
        site = headers.get("sec-fetch-site", "").lower()
        if site in ("cross-site", "same-site"):
            raise RequestError(f"refused a {site} request: the launcher only takes POSTs from "
                               f"its own pages or from non-browser clients", 403)
        origin = headers.get("origin")
        if origin is not None and not (self._own(origin)
                                       or (origin == "null" and site == "same-origin")):
            raise RequestError(f"refused a request from origin {origin[:80]!r}; the launcher "
                               f"only takes POSTs from its own pages", 403)
        referer = headers.get("referer")
        if referer is not None and not self._own(referer):
            raise RequestError(f"refused a request sent from {referer[:80]!r}; the launcher "
                               f"only takes POSTs from its own pages", 403)

    def check_write(self, headers: Mapping[str, str], content_type: str,
                    form_token: str | None = None) -> bool:
        """The one rule of every state-changing route: same origin, the route's content type,
        and the write token when one is configured (a bearer header, HTTP Basic's password, or
        ``form_token`` from the form's field). True only when a bearer header carried it: the
        one credential a browser never attaches by itself, so the only one that makes a CSRF
        token unnecessary."""
        self.check_same_origin(headers)
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != content_type:
            raise RequestError(f"send {content_type}, not {ctype or 'no content type'!r}", 415)
        if self.write_token is None:
            return False
        bearer = _credential(headers, basic=False)
        if bearer is not None and _equal(bearer, self.write_token):
            return True
        given = _credential(headers)
        if any(t is not None and _equal(t, self.write_token) for t in (given, form_token)):
            return False
        raise RequestError("missing or wrong bearer token (Alertmanager: set "
                           "http_config.authorization.credentials_file)", 401)

    def check_read(self, headers: Mapping[str, str]) -> None:
        """Read routes, when reads are protected: the read token or the write token, as a
        bearer token or as the password of HTTP Basic (a browser prompts for it)."""
        if not self.reads_need_token:
            return
        given = _credential(headers)
        if given is not None and any(t is not None and _equal(given, t)
                                     for t in (self.read_token, self.write_token)):
            return
        raise RequestError("this launcher's run pages need its read token: send "
                           "`Authorization: Bearer <token>` or log in with the token as "
                           "password", 401, {"WWW-Authenticate": 'Basic realm="mlmon launcher"'})
