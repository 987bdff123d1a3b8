"""Drift of a frame against a baseline, from samples: :func:`compare` and its severities.

Severity (none/info/warning/critical) comes from the thresholds (:func:`thresholds_for`: each
test's registered default, then a ModelConfig's KS and PSI ones, then overrides). A test with a
p-value only counts as drift when its corrected p-value (Benjamini–Hochberg by default, over
every test of the comparison) is below ``alpha``: with 20 features and two tests, some would
cross a threshold by chance alone.

Honest small samples: NaN and inf are dropped and the missing share is its own signal (test
``missing``, on every feature); categories the baseline did not list fall into its
``__other__`` bin and their share is reported; fewer than ``min_samples`` values flag the row
``insufficient`` (severity none) instead of raising.

Every row carries the sizes behind its number and the reference's precision: KS and Wasserstein
are computed against the baseline's reference CDF (:mod:`.reference`), so their ``n_reference``
is the reference's real size (a schema-1 file's sample size) and ``reference_precision`` is
``exact``, ``sketch`` (within the sketch's rank error) or ``sample`` (an old file's random
sample); PSI, JS and chi-square use the baseline's shares of its ``n`` values. The KS p-values
of all features come from one vectorized :func:`~.stats.ks_pvalue` call.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..baseline import Baseline
from ..config import ModelConfig, Thresholds
from ..errors import DriftError
from .methods import DEFAULT_TESTS, MIN_SAMPLES, TESTS, DriftMethod, FeatureKind, Sample, Score, methods_for
from .stats import correct_pvalues, sorted_finite

__all__ = [
    "thresholds_for",
    "judge",
    "category_fractions",
    "compare",
    "COLUMNS",
]

COLUMNS = ["feature", "kind", "test", "statistic", "p_value", "p_value_corrected",
           "n_reference", "n_current", "reference_precision", "missing_share",
           "reference_missing_share", "unseen_share", "insufficient", "note", "severity"]
_KINDS = (FeatureKind.NUMERIC, FeatureKind.CATEGORICAL)  # what a frame's columns can be


def thresholds_for(model: ModelConfig | None = None,
                   overrides: Mapping[str, Thresholds] | None = None) -> dict[str, Thresholds]:
    """Severity thresholds: each test's default, then a ModelConfig's ``ks``/``psi``, then
    ``overrides`` (test → :class:`Thresholds`)."""
    out = {m.name: m.thresholds for m in TESTS.values()}
    if model is not None:
        out.update(ks=model.ks, psi=model.psi)
    out.update(overrides or {})
    return out


def judge(limits: Mapping[str, Thresholds], test: str, statistic: float,
          insufficient: bool = False) -> str:
    """The severity of one test's statistic: "none" when too few samples or no thresholds."""
    if insufficient or test not in limits:
        return "none"
    return limits[test].severity(float(statistic))


def category_fractions(values: pd.Series, labels: Sequence[str]) -> tuple[np.ndarray, int, int]:
    """Counts of ``values`` per baseline label (unknown ones in the last, ``__other__``, bin).

    Returns ``(counts, n, unseen)``: ``unseen`` is how many values were not a listed category.
    """
    known = list(labels[:-1])
    clean = values.dropna().astype(str)
    codes = pd.Index(known).get_indexer(pd.Index(clean))
    counts = np.bincount(np.where(codes < 0, len(known), codes), minlength=len(known) + 1)
    return counts.astype(float), int(clean.size), int((codes < 0).sum())


def _numeric_column(column: pd.Series) -> np.ndarray:
    """A column as floats (non-numbers NaN), without a copy when it already holds floats."""
    if column.dtype.kind not in "fiub":
        column = pd.to_numeric(column, errors="coerce")
    return column.to_numpy(dtype=float, na_value=np.nan)


def _tests_for(tests: Iterable[str] | Mapping[str, Iterable[str]] | None
               ) -> dict[str, tuple[str, ...]]:
    """``tests`` as ``{kind: names}``, checked against the registry."""
    if tests is None:
        return dict(DEFAULT_TESTS)
    if isinstance(tests, Mapping):
        chosen = {kind: tuple(names) for kind, names in tests.items()}
        names = [n for group in chosen.values() for n in group]
    else:
        names = [tests] if isinstance(tests, str) else list(tests)
    unknown = [n for n in names if n not in TESTS]
    if unknown:
        raise DriftError(f"unknown drift test(s) {unknown}; choose from {sorted(TESTS)}")
    if not isinstance(tests, Mapping):
        chosen = {kind: tuple(m.name for m in methods_for(kind, names)) for kind in _KINDS}
    for kind, group in chosen.items():
        bad = [n for n in group if not TESTS[n].applies_to(kind)]
        if bad:
            raise DriftError(f"test(s) {bad} do not apply to {kind} features; choose from "
                             f"{sorted(m.name for m in methods_for(kind))}")
    return chosen


def _numeric_sample(baseline: Baseline, frame: pd.DataFrame, f: str) -> tuple[Sample, dict]:
    spec = baseline.numeric[f]
    present = f in frame.columns
    total = len(frame)
    # one feature's sorted values at a time: the peak memory is a column, not the frame
    cur = sorted_finite(_numeric_column(frame[f])) if present else np.empty(0)
    missing = 1 - cur.size / total if total and present else (1.0 if total else 0.0)
    counts = np.diff(np.searchsorted(cur, spec.edges, side="right"), prepend=0, append=cur.size)
    # the shares were counted on the full data unless the reference is a sketch's
    shares = "sketch" if spec.reference.precision == "sketch" else "exact"
    sample = Sample(FeatureKind.NUMERIC, spec.fractions, counts, int(cur.size), total, missing,
                    spec.missing_share, spec.n, spec.reference, cur, spec.summary.get("std"),
                    shares)
    return sample, {"unseen_share": float("nan"), "present": present}


def _categorical_sample(baseline: Baseline, frame: pd.DataFrame, f: str) -> tuple[Sample, dict]:
    spec = baseline.categorical[f]
    total = len(frame)
    present = f in frame.columns
    if present:
        counts, n, unseen = category_fractions(frame[f], spec.labels)
        missing = 1 - n / total if total else 0.0
    else:
        counts, n, unseen = np.zeros(len(spec.labels)), 0, 0
        missing = 1.0 if total else 0.0
    sample = Sample(FeatureKind.CATEGORICAL, spec.fractions, counts, n, total, missing,
                    spec.missing_share, spec.n)
    return sample, {"unseen_share": unseen / n if n else float("nan"), "present": present}


def _base_row(feature: str, s: Sample, extra: dict, min_samples: int) -> dict:
    short = s.n < min_samples
    note = "" if extra["present"] else "column not in the data"
    return {"feature": feature, "kind": str(s.kind), "n_reference": s.n_reference,
            "n_current": s.n, "reference_precision": s.precision,
            "missing_share": s.missing_share,
            "reference_missing_share": s.reference_missing_share,
            "unseen_share": extra["unseen_share"],
            "insufficient": bool(short) or not extra["present"],
            "note": note or (f"only {s.n} values (< {min_samples})" if short else "")}


def _score(method: DriftMethod, s: Sample) -> Score:
    if s.n or not method.needs_values:
        return method.from_samples(s)
    return Score(float("nan"))  # no value to test: the row is flagged insufficient


def _sizes(score: Score) -> dict:
    """The row's sizes and precision where the test used other ones than the shares'."""
    out: dict = {}
    if score.sizes is not None:
        out.update(n_reference=score.sizes[0], n_current=score.sizes[1])
    if score.precision is not None:
        out.update(reference_precision=score.precision)
    return out


def _with_p_values(scored: list[tuple[DriftMethod, Score]]) -> list[Score]:
    """The scores, those of batched tests with their p-values (one vectorized call per test)."""
    out = [score for _, score in scored]
    for method in {m.name: m for m, _ in scored}.values():
        at = [i for i, (m, s) in enumerate(scored) if m is method and s.sizes is not None]
        if method.p_values is None or not at:
            continue
        sizes = np.array([out[i].sizes for i in at], dtype=float)
        p = method.p_values(np.array([out[i].statistic for i in at]), sizes[:, 0], sizes[:, 1])
        for i, value in zip(at, np.atleast_1d(p)):
            out[i] = replace(out[i], p_value=float(value))
    return out


def compare(baseline: Baseline, frame: pd.DataFrame, *,
            tests: Iterable[str] | Mapping[str, Iterable[str]] | None = None,
            correction: str | None = "bh", thresholds: Mapping[str, Thresholds] | None = None,
            features: Iterable[str] | None = None, alpha: float = 0.05,
            min_samples: int = MIN_SAMPLES) -> pd.DataFrame:
    """Drift of ``frame`` against ``baseline``: one row per feature and test.

    Columns (:data:`COLUMNS`): ``feature``, ``kind``, ``test``, ``statistic``, ``p_value``,
    ``p_value_corrected``, ``n_reference``, ``n_current``, ``reference_precision`` (what the
    statistic was computed against: ``exact``, ``sketch`` or ``sample``), ``missing_share``,
    ``reference_missing_share``, ``unseen_share`` (categorical), ``insufficient``, ``note``,
    ``severity``. ``tests`` is a list of test names from ``TESTS`` (each applied where it fits)
    or ``{kind: names}``; default ``DEFAULT_TESTS``. Every feature also gets the ``missing``
    row. ``thresholds`` maps test → :class:`Thresholds` (see :func:`thresholds_for`). A
    feature missing from ``frame`` gives rows flagged insufficient.
    """
    chosen = _tests_for(tests)
    limits = thresholds_for(None, thresholds)
    wanted = list(features) if features is not None else list(baseline.features)
    unknown = [f for f in wanted if f not in baseline.numeric and f not in baseline.categorical]
    if unknown:
        raise DriftError(f"feature(s) {unknown} are not in baseline {baseline.baseline_id}; it "
                         f"has {list(baseline.features)}")
    always = [m for m in TESTS.values() if m.always]
    bases: list[dict] = []
    scored: list[tuple[DriftMethod, Score]] = []
    features_by_kind = [(f, _numeric_sample) for f in wanted if f in baseline.numeric] + \
        [(f, _categorical_sample) for f in wanted if f in baseline.categorical]
    for f, build in features_by_kind:
        sample, extra = build(baseline, frame, f)
        base = _base_row(f, sample, extra, min_samples)
        asked = [TESTS[n] for n in chosen.get(sample.kind, ()) if not TESTS[n].always]
        for method in asked + [m for m in always if m.applies_to(sample.kind)]:
            bases.append(base)
            scored.append((method, _score(method, sample)))
    rows = [{**base, **_sizes(score), "test": method.name, "statistic": score.statistic,
             "p_value": score.p_value, "effect": score.judged,
             "insufficient": base["insufficient"] if score.insufficient is None
             else score.insufficient}
            for base, (method, _), score in zip(bases, scored, _with_p_values(scored))]
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_value_corrected",
                                                                      "severity")] + ["effect"])
    p = out["p_value"].astype(float)
    corrected = correct_pvalues(p.where(~out["insufficient"].astype(bool)).to_numpy(), correction)
    severity = [_severity(TESTS[t], e, pc, bool(short), limits, alpha)
                for t, e, pc, short in zip(out["test"], out["effect"], corrected,
                                           out["insufficient"])]
    return out.assign(p_value=p, p_value_corrected=corrected, severity=severity)[COLUMNS]


def _severity(method: DriftMethod, effect: float, p_corrected: float, insufficient: bool,
              limits: Mapping[str, Thresholds], alpha: float) -> str:
    if method.has_p_value and not p_corrected < alpha:
        return "none"
    return judge(limits, method.name, effect, insufficient)
