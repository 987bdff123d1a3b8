"""Numbers the docs quote are the benchmarks' own: each quoted figure equals the value its
benchmark last recorded in benchmarks/results/figures.json."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import figures  # noqa: E402


def test_every_quoted_figure_is_the_recorded_one():
    assert figures.stale() == [], "run python benchmarks/figures.py after the benchmark"


def test_the_docs_quote_figures_at_all():
    quoted = [m.group(1) for page in figures.pages()
              for m in figures.FIGURE.finditer(page.read_text())]
    assert {"bench_drift.speedup", "bench_drift.ties_speedup"} <= set(quoted)


def test_a_figure_is_rendered_from_the_record_and_an_unknown_one_is_named(tmp_path):
    data = {"bench_x": {"speedup": "9.9×"}}
    text = "faster: <!-- figure bench_x.speedup -->1×<!-- /figure --> here"
    assert figures.render(text, data) == \
        "faster: <!-- figure bench_x.speedup -->9.9×<!-- /figure --> here"
    with pytest.raises(KeyError, match="run benchmarks/bench_y.py"):
        figures.render("<!-- figure bench_y.a -->1<!-- /figure -->", data)
    figures.record("bench_z", path=tmp_path / "f.json", ratio="2.0×")
    assert figures.recorded(tmp_path / "f.json")["bench_z"]["ratio"] == "2.0×"
