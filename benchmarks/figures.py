"""Figures the docs quote, as the benchmarks last measured them.

A benchmark records what it measured with :func:`record` into ``results/figures.json``; a page
quotes a figure as ``<!-- figure bench_drift.speedup -->12.3×<!-- /figure -->`` and the text
between the markers is what this module renders from that file. ``python benchmarks/figures.py``
rewrites README.md and docs/*.md from the file; ``--check`` exits 1 when a page quotes a figure
other than the recorded one (the suite runs it), so a number in the docs is the benchmark's, not
typed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIGURES = REPO / "benchmarks" / "results" / "figures.json"
FIGURE = re.compile(r"<!-- figure ([\w.]+) -->(.*?)<!-- /figure -->", re.DOTALL)

__all__ = ["record", "recorded", "render", "pages", "stale"]


def recorded(path: Path = FIGURES) -> dict[str, dict[str, str]]:
    """Benchmark name -> figure name -> its text (plus ``measured``, the UTC date)."""
    return json.loads(path.read_text()) if path.exists() else {}


def record(bench: str, path: Path = FIGURES, **figures: str) -> None:
    """Store ``bench``'s figures (replacing its previous ones) with today's date."""
    data = recorded(path)
    data[bench] = {**figures, "measured": dt.datetime.now(dt.UTC).date().isoformat()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def _value(key: str, data: dict[str, dict[str, str]]) -> str:
    bench, _, name = key.partition(".")
    try:
        return data[bench][name]
    except KeyError:
        raise KeyError(f"no recorded figure {key!r}: run benchmarks/{bench}.py") from None


def render(text: str, data: dict[str, dict[str, str]]) -> str:
    """``text`` with every quoted figure replaced by its recorded value."""
    return FIGURE.sub(lambda m: f"<!-- figure {m.group(1)} -->{_value(m.group(1), data)}"
                                f"<!-- /figure -->", text)


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def stale(data: dict[str, dict[str, str]] | None = None) -> list[str]:
    """Each quoted figure that differs from its recorded value, as ``page: key``."""
    data = recorded() if data is None else data
    out = []
    for page in pages():
        for m in FIGURE.finditer(page.read_text()):
            if m.group(2) != _value(m.group(1), data):
                out.append(f"{page.relative_to(REPO)}: {m.group(1)} says {m.group(2)!r}, "
                           f"measured {_value(m.group(1), data)!r}")
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        problems = stale()
        print("\n".join(problems) or "every quoted figure is the recorded one")
        return 1 if problems else 0
    data = recorded()
    for page in pages():
        text = page.read_text()
        if (new := render(text, data)) != text:
            page.write_text(new)
            print(f"updated {page.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
