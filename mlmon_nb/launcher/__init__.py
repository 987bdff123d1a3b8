"""The runbook launcher: alert links, the Alertmanager webhook, run history and run pages.

``create_app(config)`` returns the ASGI app; ``serve(config, port)`` runs it with uvicorn on
127.0.0.1. Routes:

- ``GET /``: the incident console: the alerts firing now (Alertmanager's API v2, else
  Prometheus's alerts API), each with its runbook run or a button to run it, and a silence form
  or what silences or inhibits it; Alertmanager's active silences, each with an expire button;
  recently resolved runs below.
- ``POST /silences``: create an Alertmanager silence (form with its signed CSRF token).
- ``POST /silences/<id>/expire``: expire it (the same rules).
- ``GET /runbook/<AlertName>?<labels>``: the latest matching run (within the dedupe window), else
  a launch form pre-filled from the link. A GET never executes (chat previews fetch links).
- ``POST /runbook/<AlertName>``: execute (form with its signed CSRF token, or a bearer token).
- ``POST /alertmanager``: Alertmanager webhook v4 (``application/json`` only); each firing
  alert's runbook runs once per alert occurrence; resolved alerts mark their run.
- ``GET /runs`` (filters ``model_name``, ``alertname``, ``status``; ``?format=json``),
  ``GET /runs/<id>``, ``GET /runs/<id>/output.ipynb``, ``GET /healthz``, ``GET /metrics``.

Accepted runs are committed to the SQLite queue before the answer and executed by a bounded
pool of workers under a lease, so one process executes each run (``mlmon_nb.runstore``).

Modules: ``security`` (every rule a request passes), ``webhook`` (the payload as data),
``engine`` (workers and queue), ``console`` (live alerts, run matching, silences), ``pages``
(HTML), ``app`` (routes and ``serve``), ``settings``.
"""

from .app import create_app, serve, server_limits
from .engine import Launcher
from .security import RequestError
from .settings import LauncherSettings
from .webhook import WEBHOOK_VERSION

__all__ = ["WEBHOOK_VERSION", "Launcher", "LauncherSettings", "RequestError", "create_app",
           "serve", "server_limits"]
