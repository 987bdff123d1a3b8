"""The console's only script: it refreshes the live part of the page (what fires, the
silences, the resolved runs and their "as of" line) in place, and never while a form is being
used — a field focused or typed in, or a silence form open — so nothing typed is lost. It is
allowed by its hash in the launcher's Content-Security-Policy; every other script stays
blocked."""

from __future__ import annotations

import base64
import hashlib

__all__ = ["CONSOLE_SCRIPT", "DEFAULT_REFRESH_SECONDS", "script_source"]

DEFAULT_REFRESH_SECONDS = 30

CONSOLE_SCRIPT = """(function () {
  var every = Number(document.body.getAttribute('data-refresh')) || 30;
  function busy() {
    var a = document.activeElement;
    if (a && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName) && a.type !== 'hidden') return true;
    var fields = document.querySelectorAll('input, textarea');
    for (var i = 0; i < fields.length; i++) {
      var f = fields[i];
      if (f.type !== 'hidden' && f.value !== f.defaultValue) return true;
    }
    return document.querySelector('#live .alert details[open]') !== null;
  }
  function swap() {
    var live = document.getElementById('live');
    if (!live || busy()) return;
    fetch(location.href, {credentials: 'same-origin', headers: {'Accept': 'text/html'}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (!text || busy()) return;
        var fresh = new DOMParser().parseFromString(text, 'text/html').getElementById('live');
        if (!fresh) return;
        var open = {};
        live.querySelectorAll('details.model-group').forEach(function (d) {
          open[d.getAttribute('data-model')] = d.open; });
        fresh.querySelectorAll('details.model-group').forEach(function (d) {
          var key = d.getAttribute('data-model');
          if (key in open) d.open = open[key]; });
        live.replaceWith(document.importNode(fresh, true));
      })
      .catch(function () {});
  }
  setInterval(swap, every * 1000);
})();"""


def script_source() -> str:
    """The CSP source that allows :data:`CONSOLE_SCRIPT` inline, and nothing else."""
    digest = hashlib.sha256(CONSOLE_SCRIPT.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"
