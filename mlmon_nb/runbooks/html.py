"""Run HTML: an executed runbook as a page that answers what, since when, why and what next.

:func:`run_body` reads back what the runbook recorded (its verdict, :data:`SUMMARY_MIME`, and
its findings, :data:`~mlmon_nb.findings.FINDING_MIME`) and lays them out: the verdict card
coloured by status and severity, the key numbers as tiles, the interesting findings with their
charts, the other checks folded, and the notebook itself (code and remaining outputs) behind a
``<details>`` toggle. The whole body goes through :func:`sanitize_html` (nh3: no script, event
handlers, styles, forms or frames; ``data:`` URLs only as images). :data:`RUN_CSS` is trusted
page chrome added after sanitizing: :func:`run_page` wraps body and style into the standalone
``output.html``; a page embedding a run puts ``<style>{RUN_CSS}</style>`` in its head and the
sanitized body of ``output.html`` (everything under ``.mlmon-run``) where the run goes.
"""

from __future__ import annotations

import copy
import html as _html
from typing import Any, Mapping

from ..findings import FINDING_MIME, SUMMARY_MIME, finding_card, read_findings, tiles_html, verdict_card

__all__ = ["RUN_CSS", "SUMMARY_MIME", "sanitize_html", "notebook_html",
           "read_summary", "run_body", "run_page", "escape"]

_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
         "details", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
         "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub",
         "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul",
         "var"}
_ATTRIBUTES = {"*": {"class", "title"}, "a": {"href"}, "img": {"src", "alt", "width", "height"},
               "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}, "details": {"open"}}

RUN_CSS = """
.mlmon-run{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2330;
max-width:1100px;margin:0 auto;line-height:1.4;overflow-wrap:break-word}
.mlmon-run *{box-sizing:border-box;max-width:100%}
.mlmon-run img{max-width:100%;height:auto}
.mlmon-run pre{white-space:pre-wrap;background:#f4f5f7;padding:.5rem .75rem;border-radius:4px;
font-size:.82rem;overflow-x:auto}
.mlmon-run table{border-collapse:collapse;display:block;overflow-x:auto;margin:.5rem 0}
.mlmon-run td,.mlmon-run th{border:1px solid #dde1e6;padding:.25rem .6rem;text-align:left;
font-size:.88rem;font-variant-numeric:tabular-nums}
.mlmon-verdict{border-radius:8px;padding:.8rem 1.1rem;color:#fff;margin:.25rem 0 .9rem}
.mlmon-verdict.critical{background:#b3261e}.mlmon-verdict.warning{background:#a85d00}
.mlmon-verdict.info{background:#2f5fb3}.mlmon-verdict.ok{background:#2e7d32}
.mlmon-verdict.unknown{background:#5f6670}
.mlmon-verdict-head{display:flex;gap:.75rem;align-items:center;flex-wrap:wrap}
.mlmon-badge{background:rgba(255,255,255,.22);border-radius:999px;padding:.1rem .65rem;
font-weight:700;text-transform:uppercase;font-size:.8rem;letter-spacing:.04em}
.mlmon-verdict-title{font-weight:600;font-size:1rem}
.mlmon-verdict-text{font-size:1.15rem;font-weight:600;margin:.45rem 0 .2rem}
.mlmon-since{margin-left:auto;font-size:.9rem;opacity:.95}
.mlmon-next{margin:.35rem 0 0;font-size:.98rem}
.mlmon-tiles{display:flex;flex-wrap:wrap;gap:.6rem;margin:0 0 1rem}
.mlmon-tile{flex:1 1 150px;border:1px solid #dde1e6;border-radius:8px;padding:.5rem .75rem;
background:#fff}
.mlmon-tile-value{font-size:1.45rem;font-weight:700;font-variant-numeric:tabular-nums}
.mlmon-tile-label{font-size:.85rem;color:#4a5260}
.mlmon-tile-detail{font-size:.75rem;color:#6b7380}
.mlmon-finding{border:1px solid #dde1e6;border-left:5px solid #aab1bb;border-radius:6px;
padding:.6rem .9rem;margin:0 0 .9rem;background:#fff}
.mlmon-finding.interesting{border-left-color:#d33a2c}
.mlmon-finding h3{margin:0 0 .25rem;font-size:1.02rem}
.mlmon-message{margin:.1rem 0 .5rem}
.mlmon-stats{display:flex;flex-wrap:wrap;gap:.4rem 1.4rem;margin:.2rem 0 .5rem}
.mlmon-stat-value{font-weight:700;font-variant-numeric:tabular-nums}
.mlmon-stat-name,.mlmon-stat-n{font-size:.78rem;color:#5b6370}
.mlmon-chart{display:block;margin:.3rem 0}
.mlmon-query summary,.mlmon-notebook>summary,.mlmon-quiet>summary{cursor:pointer;color:#3a5ea8}
.mlmon-run h2{font-size:1.1rem;margin:1.1rem 0 .5rem}
.mlmon-notebook{margin-top:1.2rem;border-top:1px solid #dde1e6;padding-top:.6rem}
.mlmon-empty{color:#4a5260}
"""

_PAGE_CSS = "body{margin:0;padding:16px 24px;background:#f6f7f9}"


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    # data: URLs only as images (a PNG or SVG in <img> cannot run script); never as links.
    if attribute == "src" and tag == "img":
        return value if value.startswith("data:image/") else None
    if attribute == "href" and value.lower().lstrip().startswith("data:"):
        return None
    return value


def sanitize_html(html: str) -> str:
    """HTML safe to embed in the launcher's pages: no script, handlers, styles, forms or frames."""
    import nh3  # only the launcher and execution need it, not notebooks importing the package
    return nh3.clean(html, tags=_TAGS, attributes=_ATTRIBUTES, attribute_filter=_attribute_filter,
                     clean_content_tags={"script", "style", "textarea", "title", "noscript"},
                     url_schemes={"http", "https", "mailto", "data"}, strip_comments=True)


def _nbconvert(nb) -> str:
    from nbconvert import HTMLExporter  # heavy (jinja, templates); only when a run finishes
    exporter = HTMLExporter(template_name="basic", exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    return body


def notebook_html(nb) -> str:
    """The executed notebook as a sanitized HTML fragment (nbconvert's ``basic`` template)."""
    return sanitize_html(_nbconvert(nb))


def read_summary(nb) -> dict[str, Any]:
    """The summary a runbook recorded (the last ``SUMMARY_MIME`` output), or {}."""
    found: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            if isinstance(data.get(SUMMARY_MIME), Mapping):
                found = dict(data[SUMMARY_MIME])
    return found


def _without_recorded(nb):
    """A copy of ``nb`` without the verdict and finding outputs (shown above it already)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.get("outputs"):
            cell["outputs"] = [o for o in cell["outputs"]
                               if not {SUMMARY_MIME, FINDING_MIME} & set(o.get("data") or {})]
    return nb


def _errors(nb) -> list[str]:
    return [f"{o.get('ename', 'Error')}: {o.get('evalue', '')}" for c in nb.cells
            for o in c.get("outputs", []) or [] if o.get("output_type") == "error"]


def run_body(nb, *, error: str = "", runbook: bool = True) -> str:
    """The run's sanitized HTML body (``<div class="mlmon-run">``): verdict, key numbers,
    findings (interesting first, each with its chart) and the notebook folded. A runbook
    (``runbook``: it declares ``alertname``) without a verdict says so; a dashboard notebook
    that finished owes none and shows its notebook open, one that failed shows its error."""
    summary = read_summary(nb)
    findings = read_findings(nb)
    parts = []
    problems = [error] if error else []
    problems += [e for e in _errors(nb) if e not in problems]
    if summary:
        parts.append(verdict_card(summary))
        parts.append(tiles_html(summary.get("tiles") or ()))
    elif not runbook:
        if problems:  # a notebook that stopped: why, above the (folded) notebook
            parts.append(verdict_card({"status": "no_data", "verdict": (
                f"The notebook stopped: {problems[0]}. Open the notebook below for the "
                f"traceback.")}))
    else:
        parts.append(verdict_card({"status": "no_data", "verdict": (
            "The runbook recorded no verdict" + (f": {problems[0]}" if problems else "")
            + ". The notebook below shows where it stopped"
            + (" (folded: open it for the traceback)." if problems else "."))}))
    loud = [f for f in findings if f.interesting]
    quiet = [f for f in findings if not f.interesting]
    if loud:
        parts.append("<h2>What the runbook found</h2>" + "".join(finding_card(f) for f in loud))
    if quiet:
        word = "check" if len(quiet) == 1 else "checks"
        parts.append(f"<details class='mlmon-quiet'{'' if loud else ' open'}><summary>"
                     f"{len(quiet)} other {word}, nothing unusual: "
                     f"{_html.escape(', '.join(f.name for f in quiet))}</summary>"
                     + "".join(finding_card(f) for f in quiet) + "</details>")
    # open only when there is nothing above it; a failure's traceback stays folded (its error
    # is the verdict's one line)
    opened = " open" if not summary and not problems else ""
    parts.append(f"<details class='mlmon-notebook'{opened}><summary>The notebook: code and "
                 f"every output</summary>{_nbconvert(_without_recorded(nb))}</details>")
    return sanitize_html(f"<div class='mlmon-run'>{''.join(parts)}</div>")


def run_page(body: str, title: str = "runbook run") -> str:
    """A complete standalone page around a sanitized :func:`run_body` (the CLI's output.html)."""
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{RUN_CSS}{_PAGE_CSS}</style></head>"
            f"<body>{body}</body></html>")


def escape(text: object) -> str:
    """``text`` escaped for HTML text and attribute values."""
    return _html.escape(str(text), quote=True)
