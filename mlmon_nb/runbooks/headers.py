"""The runbooks' headers and the alert table of docs/alerts.md, generated from the alert catalogue.

A runbook's first markdown cell opens with its alert's title, its meaning and a "Fires when"
paragraph rendered from the alert's firing rows and the configuration's defaults
(:func:`mlmon_nb.rules.catalogue.fires_when`); the paragraphs after them are the runbook's own.
The rows of the table under ``| alert | severity | fires when (defaults from the config) |`` in
docs/alerts.md are rendered the same way. :func:`stale_headers` names what differs from a fresh
rendering and :func:`write_headers` rewrites it (the ``.py`` source and its paired ``.ipynb``);
``mlmon-nb rules generate`` and ``rules check`` do both in a clone, where these files are.
"""

from __future__ import annotations

from pathlib import Path

import jupytext
from nbformat import NotebookNode

from ..rules import catalogue
from ..rules.catalogue import AlertSpec

__all__ = ["FIRES_WHEN", "TABLE_HEADER", "header", "docs_row", "refresh_runbook_source",
           "refresh_docs", "stale_headers", "write_headers"]

FIRES_WHEN = "**Fires when**"
TABLE_HEADER = "| alert | severity | fires when (defaults from the config) |\n|---|---|---|\n"
_SOURCE = "py:percent"  # the runbooks' sources, paired with their .ipynb


def header(spec: AlertSpec) -> str:
    """The generated opening of ``spec``'s runbook: title, meaning, and when it fires."""
    return (f"# Runbook: {spec.title} (`{spec.name}`)\n\n{spec.meaning}\n\n"
            f"{FIRES_WHEN} {catalogue.fires_when(spec)}.")


def docs_row(spec: AlertSpec) -> str:
    """``spec``'s row of the alert table in docs/alerts.md."""
    return (f"| {spec.name} | {' / '.join(spec.severities)} | "
            f"{catalogue.fires_when(spec)}. {spec.meaning} |")


def _header_cell(notebook: NotebookNode, spec: AlertSpec) -> str:
    """The notebook's first cell's source with its generated paragraphs replaced."""
    cell = notebook.cells[0] if notebook.cells else None
    if cell is None or cell.cell_type != "markdown":
        raise ValueError(f"the {spec.name} runbook does not open with a markdown cell")
    paragraphs = cell.source.split("\n\n")[2:]  # title and meaning
    if paragraphs and paragraphs[0].startswith(FIRES_WHEN):
        paragraphs = paragraphs[1:]
    return "\n\n".join([header(spec), *paragraphs])


def refresh_runbook_source(text: str, spec: AlertSpec) -> str:
    """A runbook's percent-format source with its header generated afresh."""
    notebook = jupytext.reads(text, fmt=_SOURCE)
    notebook.cells[0].source = _header_cell(notebook, spec)
    return str(jupytext.writes(notebook, fmt=_SOURCE))


def refresh_docs(text: str) -> str:
    """docs/alerts.md with the alert table's rows generated afresh (catalogue order)."""
    before, found, after = text.partition(TABLE_HEADER)
    if not found:
        raise ValueError(f"docs/alerts.md has no alert table headed {TABLE_HEADER.splitlines()[0]}")
    rest = after.split("\n\n", 1)[1] if "\n\n" in after else ""
    rows = "\n".join(docs_row(spec) for spec in catalogue.CATALOGUE)
    return f"{before}{TABLE_HEADER}{rows}\n\n{rest}"


def _fresh(repo: Path) -> dict[Path, str]:
    """Every generated file under ``repo`` that exists, with what it should hold."""
    out = {}
    for spec in catalogue.CATALOGUE:
        source = repo / "runbooks" / f"{spec.name}.py"
        if source.is_file():
            out[source] = refresh_runbook_source(source.read_text(), spec)
    docs = repo / "docs" / "alerts.md"
    if docs.is_file():
        out[docs] = refresh_docs(docs.read_text())
    return out


def stale_headers(repo: Path) -> list[str]:
    """The runbook sources and docs page under ``repo`` whose generated parts differ from a
    fresh rendering of the catalogue (paths relative to ``repo``)."""
    return sorted(str(path.relative_to(repo)) for path, text in _fresh(repo).items()
                  if path.read_text() != text)


def write_headers(repo: Path) -> list[Path]:
    """Rewrite the stale headers and table under ``repo``: each runbook's ``.py`` and the first
    cell of its paired ``.ipynb``, and docs/alerts.md. Returns the files written."""
    written = []
    for path, text in _fresh(repo).items():
        if path.read_text() == text:
            continue
        path.write_text(text)
        written.append(path)
        paired = path.with_suffix(".ipynb")
        if path.suffix == ".py" and paired.is_file():
            notebook = jupytext.read(paired)
            notebook.cells[0].source = jupytext.reads(text, fmt=_SOURCE).cells[0].source
            jupytext.write(notebook, paired, fmt="ipynb")
            written.append(paired)
    return written
