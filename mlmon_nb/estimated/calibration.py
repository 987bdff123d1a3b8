"""Confidence calibration: how often the model is right at each confidence, and what that
predicts for a window of live traffic before its labels arrive (CBPE).

The reliability curve is binned on the exported confidence histogram's buckets
(:data:`mlmon_nb.metrics.CONFIDENCE_BUCKETS`, then ``+Inf``), because that histogram is what
Prometheus holds: a finer curve could not be applied to live data. The buckets are 0.1 wide, then
finer near 1 (edges at 0.95, 0.99 and 0.999), where a confident model's predictions crowd and an
overconfident one's gap changes fastest. Per bucket the labelled
reference data (a validation set) gives its rows, its correct rows and its mean confidence, and
so its observed calibration *gap*: accuracy − mean confidence (0 where the model is calibrated,
negative where it is overconfident). Observed gaps are noisy where a bucket has few rows, so each
is smoothed along the curve (:mod:`mlmon_nb.estimated.reliability`): the gaps are modelled as a
random walk in the logit of the confidence, whose strength the rows themselves choose (restricted
likelihood), so a thin bucket takes the gap of the part of the curve around it, and where the
rows show no shape beyond their noise every bucket gets one common gap — a model overconfident
everywhere keeps that bias even on a small validation set where no single bucket shows it — and
where they show a model over- or underconfident by a temperature, the walk goes around that
temperature's curve (shaped by the model's number of classes, ``classes``), which keeps the
shape one common gap would lose. Each
gap carries its standard error (``gap_stderr``), large where the curve is thin or empty, and the
larger the further a bucket is from the labelled rows.

The estimate for a window is (β Σ confidence + Σ bucket count × bucket offset) / Σ count, with
the offset ``o_b = g_b + (1 − β) m_b``: the live mean confidence — the histogram's ``_sum`` over
its ``_count``, exact, not a bucket midpoint — corrected bucket by bucket by how far the model's
confidence was from its accuracy on the reference data, and, through the common within-bucket
slope ``β`` (:func:`~mlmon_nb.estimated.reliability.fit_slope`, from per-bucket sums of squared
confidences and of confidence × correct), by how accuracy moves with confidence inside a bucket.
On calibrated scores (β near 1, gaps near 0) it is the mean confidence itself, however the confidences
move within a bucket; on miscalibrated ones the buckets and the slope correct it. A baseline
without those sums has β = 1: the estimate is (Σ confidence + Σ count × gap) / Σ count.
Fitted with every class's score (``fit_calibration(..., scores=)``, a baseline built with
``scores=``), the curve also has a slope ``γ`` on each prediction's :func:`purity` (Σ score²:
how the other classes share the rest, which a multiclass model's accuracy at a given top score
depends on), and the estimate adds γ × the window's purity sum (``ml_prediction_purity_total``)
to the numerator, the offsets taking − γ × the bucket's mean purity
(:mod:`~mlmon_nb.estimated.reliability` has the fit and its measurement).

Fitted with the class scores, the curve first *scales* them (:mod:`~mlmon_nb.estimated.scaling`):
the temperature the labelled rows choose, kept where it beats none by a likelihood-ratio test;
the curve is then over the scaled top scores (its buckets still the raw confidence's: the
histogram's), the window's sum is theirs (``ml_prediction_scaled_confidence_total``, which the
service counts under such a curve), and each gap's standard error adds the temperature's own
(its log's standard error, from the likelihood's curvature, times the bucket's mean change of
the scaled score per unit of log T, ``scaling_sensitivity``).

Kept from the alternatives measured on the CBPE benchmark (mean |error| over its 72 draws, in
accuracy points; NannyML's CBPE 0.64 on the same draws): gaps shrunk toward the row-weighted
pooled gap, 1.25; unshrunk gaps, 1.19; shrunk gaps with the common slope, 0.91; a slope
per bucket applied to the window's whole ``_sum`` split in proportion to each bucket's
variance, 0.93. On 0.1-wide buckets; with the edges 0.95 and 0.99 added, 0.84, and 0.999 too,
0.80 (kept); 0.97, 0.99 and 0.999, 0.79; 0.85 added as well, 0.84. On the finer buckets: the
gaps unshrunk, 0.72; shrunk toward a line in the confidence instead of the pooled gap, 0.74 (its
band covers fewer draws, 67 of 72); with the pooled gap as a prior worth 10 rows of each bucket,
0.66 (0.66 on 144 further draws, NannyML 0.69 there), but on calibrated scores under strong shift
(benchmarks/bench_cbpe.py, windows on thin low-confidence buckets) 1.7–2.5 points at worst
against 0.56–0.79: not made. Smoothed as a random walk instead of shrunk toward the pooled gap,
0.65 (kept; 0.70 and 0.65 on 288 fresh draws against 0.81 and 0.79, NannyML 0.70 and 0.69), the
calibrated scenarios under strong shift no worse (0.52–0.77 at worst); see
:mod:`~mlmon_nb.estimated.reliability` for it and the curves tried beside it. A baseline saved
with an earlier fit is refitted from its counts when read, by the library and the service alike
(the ``method`` of its ``calibration`` entry differs), to a new id.

A baseline saved with the earlier 0.1-wide buckets
(:data:`~mlmon_nb.metrics.LEGACY_CONFIDENCE_BUCKETS`) keeps them: its rows in 0.9–1.0 cannot be
split into the finer buckets, and mapping them (the bucket's gap repeated in each part) would
only look finer. Its curve, its estimate and the series the service exports from it are what
they were; its ``le`` edges are all edges of the live histogram, so the rules, which difference
the histogram at the edges a model's calibration series carry (``le`` and ``lower``), ignore the
finer ones for it, and the rerun (:mod:`mlmon_nb.estimated.accuracy`) reads the histogram at
:attr:`Calibration.edges`. Rebuilding the baseline gives it the finer buckets.

Its uncertainty (:attr:`AccuracyEstimate.margin`, a 95 % half-width) combines the curve's — Σ
count × gap standard error / Σ count, the buckets' errors taken as fully correlated (they share
the curve's level) — with the window's binomial noise, estimate × (1 − estimate) / Σ count::

    margin = 1.96 · sqrt((Σ c_b se_b / n)² + a (1 − a) / n)

It assumes no concept shift: P(correct | confidence) is what it was on the reference data.
Covariate shift — inputs moving to where the model is less sure — is what it sees; a widening
gap to realized accuracy, once labels arrive, is the sign the assumption broke. Pure: arrays in,
numbers out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Sequence

import numpy as np

from ..errors import BaselineError
from ..metrics import CONFIDENCE_BUCKETS, confidence_edges
from .reliability import (
    MAX_STDERR,
    METHOD,
    PURITY_KEYS,
    Z_95,
    Gaps,
    Slopes,
    checked_classes,
    fit_gaps,
    fit_slope,
    mean_purities,
    midpoints,
    offsets,
)
from .scaling import (
    SCALINGS,
    checked_scaling,
    choose_scaling,
    scaling_stderr,
    with_scaling_stderr,
)

__all__ = [
    "Calibration",
    "AccuracyEstimate",
    "bucket_index",
    "bucket_counts",
    "bucket_sums",
    "checked_confidences",
    "checked_correct",
    "checked_scores",
    "purity",
    "fewest_classes",
    "N_BUCKETS",
    "EDGES",
    "fit_calibration",
    "scaled_confidences",
    "scaling_sensitivities",
    "ScalingSums",
    "calibration_of_sums",
    "Z_95",
    "METHOD",
]


_EDGES = np.array(CONFIDENCE_BUCKETS, dtype=float)
# how far beyond [0, 1] a confidence or a class score may be (a rounding error) and be clipped
CONFIDENCE_SLACK = 1e-9
# the right predictions the labelled rows' confidences promise (their sum) beyond which none
# being right is a label column spelled unlike the predictions, not a model (at most e^-10 likely)
NONE_RIGHT = 10.0
N_BUCKETS = _EDGES.size + 1  # the exported buckets, then +Inf (a new calibration's)
# the buckets' upper edges (``le``) as floats, ``+Inf`` last
EDGES: tuple[float, ...] = (*CONFIDENCE_BUCKETS, float("inf"))


def bucket_index(confidence: np.ndarray, edges: Sequence[float] = CONFIDENCE_BUCKETS
                 ) -> np.ndarray:
    """The histogram bucket of each confidence (``le`` semantics: a value on an edge belongs to
    the bucket that edge closes), as the exporter counts it (``edges``: the upper edges without
    ``+Inf``; the exporter's by default)."""
    upper = _EDGES if edges is CONFIDENCE_BUCKETS else np.asarray(edges, dtype=float)
    return np.searchsorted(upper, np.asarray(confidence, dtype=float), side="left")


def bucket_counts(confidence: np.ndarray, edges: Sequence[float] = CONFIDENCE_BUCKETS
                  ) -> np.ndarray:
    """Non-cumulative counts per bucket of finite confidences."""
    values = np.asarray(confidence, dtype=float)
    return np.bincount(bucket_index(values[np.isfinite(values)], edges),
                       minlength=len(edges) + 1)


@dataclass(frozen=True)
class AccuracyEstimate:
    """Expected accuracy of a window of predictions, with the rows it rests on.

    ``stderr`` combines the window's binomial noise (it shrinks with ``n``) and the curve's own
    uncertainty where the window's confidences fall (it does not); ``margin`` is the 95 %
    half-width, ``lower``/``upper`` the band's edges within [0, 1].
    """

    accuracy: float
    n: int
    stderr: float

    @property
    def margin(self) -> float:
        return Z_95 * self.stderr

    @property
    def lower(self) -> float:
        return max(0.0, self.accuracy - self.margin)

    @property
    def upper(self) -> float:
        return min(1.0, self.accuracy + self.margin)

    def __str__(self) -> str:
        if self.n == 0:
            return "no predictions"
        return f"{self.accuracy:.1%} ± {self.margin:.1%} (n={self.n:,})"


@dataclass(frozen=True)
class Calibration:
    """The reliability curve: per confidence bucket, the labelled reference rows, how many were
    right, the sum of their confidences, and the smoothed calibration gap applied to live
    traffic with its standard error.

    Arrays have one entry per bucket of ``bucket_edges`` (``CONFIDENCE_BUCKETS``, or the
    ``LEGACY_CONFIDENCE_BUCKETS`` of a baseline saved with them) and a last one for ``+Inf``.
    """

    counts: np.ndarray
    correct: np.ndarray
    confidence_sum: np.ndarray
    gap: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gap_stderr: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # per bucket Σ confidence² and Σ confidence × correct: the within-bucket slope's data (None
    # in a baseline built before them: slope 1)
    square_sum: np.ndarray | None = None
    product_sum: np.ndarray | None = None
    # per bucket Σ purity, Σ purity², Σ purity × confidence and Σ purity × correct (4 rows; None:
    # a curve over the confidence alone, built without the class scores)
    purity_sums: np.ndarray | None = None
    # the buckets' upper edges without +Inf
    bucket_edges: tuple[float, ...] = CONFIDENCE_BUCKETS
    # the model's number of classes: the shape of the temperature curve the gaps are shrunk
    # toward (reliability.temperature_gap)
    classes: int = 2
    # the temperature each prediction's class scores are scaled by before the curve
    # (mlmon_nb.estimated.scaling; 1: none): where it is not 1, every confidence sum above is
    # of the scaled top scores (the buckets still of the confidences), and so is a window's;
    # with the standard error of its logarithm and per bucket the sum of the rows' change of
    # their scaled top score per unit of log T, which widen the gaps' standard errors
    scaling: float = 1.0
    scaling_stderr: float = 0.0
    scaling_sensitivity: np.ndarray | None = None

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "bucket_edges", confidence_edges(self.bucket_edges))
        except ValueError as exc:
            raise BaselineError(f"the calibration's {exc}; rebuild the baseline") from None
        size = self.n_buckets
        arrays = [np.asarray(a, dtype=float) for a in (self.counts, self.correct,
                                                       self.confidence_sum)]
        if any(a.shape != (size,) for a in arrays):
            raise BaselineError(f"a calibration needs {size} buckets (the confidence "
                                f"histogram's and +Inf) of rows, correct rows and confidence "
                                f"sums; got shapes {[a.shape for a in arrays]}; rebuild the "
                                "baseline with label=")
        counts, correct, conf_sum = arrays
        try:
            checked_classes(self.classes)
        except ValueError as exc:
            raise BaselineError(str(exc)) from None
        if (not all(np.all(np.isfinite(a)) for a in arrays) or np.any(counts < 0)
                or np.any(correct < 0) or np.any(correct > counts) or np.any(conf_sum < 0)
                or np.any(conf_sum > counts * 1.000001)):
            raise BaselineError("calibration counts must be finite and non-negative, with at "
                                "most as many correct rows as rows per bucket and confidences "
                                "in [0, 1]; rebuild the baseline with label=")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "correct", correct)
        object.__setattr__(self, "confidence_sum", conf_sum)
        if (self.square_sum is None) != (self.product_sum is None):
            raise BaselineError("a calibration's within-bucket sums come in pairs (square_sum "
                                "and product_sum); rebuild the baseline with label=")
        if self.square_sum is not None and self.product_sum is not None:
            extra = [np.asarray(a, dtype=float) for a in (self.square_sum, self.product_sum)]
            if (any(a.shape != (size,) or not np.all(np.isfinite(a)) or np.any(a < 0)
                    for a in extra)
                    or np.any(extra[0] > conf_sum * 1.000001 + 1e-12)
                    or np.any(extra[1] > np.minimum(conf_sum, correct) * 1.000001 + 1e-12)):
                raise BaselineError(f"a calibration's within-bucket sums need {size} finite "
                                    "non-negative values each, of confidences in [0, 1]; "
                                    "rebuild the baseline with label=")
            object.__setattr__(self, "square_sum", extra[0])
            object.__setattr__(self, "product_sum", extra[1])
        if self.purity_sums is not None:
            sums = np.asarray(self.purity_sums, dtype=float)
            if (self.square_sum is None or sums.shape != (4, size)
                    or not np.all(np.isfinite(sums)) or np.any(sums < 0)
                    or np.any(sums > counts * 1.000001 + 1e-12)):
                raise BaselineError(f"a calibration's purity sums need 4 × {size} finite "
                                    "non-negative values of purities in [0, 1], beside the "
                                    "within-bucket sums; rebuild the baseline with scores=")
            object.__setattr__(self, "purity_sums", sums)
        try:
            scaling, stderr, sensitivity = checked_scaling(
                self.scaling, self.scaling_stderr, self.scaling_sensitivity, size,
                self.purity_sums is not None)
        except ValueError as exc:
            raise BaselineError(str(exc)) from None
        object.__setattr__(self, "scaling", scaling)
        object.__setattr__(self, "scaling_stderr", stderr)
        object.__setattr__(self, "scaling_sensitivity",
                           None if sensitivity is None else np.array(sensitivity))
        if np.asarray(self.gap).size == 0 or np.asarray(self.gap_stderr).size == 0:
            fit = self._fit()
            object.__setattr__(self, "gap", np.array(fit.gaps))
            object.__setattr__(self, "gap_stderr", np.array(fit.stderr))

    def _fit(self) -> Gaps:
        fit = fit_gaps(self.counts.tolist(), self.correct.tolist(),
                       self.confidence_sum.tolist(), self.bucket_edges, self.classes)
        if self.scaling_sensitivity is None:  # unscaled
            return fit
        return fit._replace(stderr=with_scaling_stderr(
            fit.stderr, self.counts.tolist(), self.scaling_sensitivity.tolist(),
            self.scaling_stderr, MAX_STDERR))

    @cached_property
    def temperature(self) -> float:
        """The temperature the gaps were shrunk toward: what the model's top logit margin would
        be divided by to be calibrated (temperature scaling's: > 1 overconfident, < 1
        underconfident; 1 where the rows show none beyond their noise)."""
        return self._fit().temperature

    def confidences(self, confidence: np.ndarray, scores: np.ndarray | None = None
                    ) -> np.ndarray:
        """Each prediction's confidence as the curve weighs it: its top class score after the
        curve's :attr:`scaling` (``scores``: rows × classes, needed where it is not 1), what the
        service counts in ``ml_prediction_scaled_confidence_total``; the confidence itself for a
        curve without one. A window's sum of them is :meth:`estimate`'s ``confidence_sum``."""
        if self.scaling == 1.0:
            return np.asarray(confidence, dtype=float)
        if scores is None:
            raise ValueError("this calibration scales the class scores by a temperature: give "
                             "every class's score (scores=)")
        return scaled_confidences(scores, self.scaling)

    @property
    def miscalibration(self) -> str:
        """The temperature kept, in words ("underconfident: scores scaled by temperature 0.70",
        "overconfident: temperature 1.30"): the class scores' scaling, else the temperature
        curve the gaps were shrunk toward; "" where neither was kept."""
        value = self.scaling if self.scaling != 1.0 else self.temperature
        if value == 1.0:
            return ""
        how = "scores scaled by temperature" if self.scaling != 1.0 else "temperature"
        return f"{'overconfident' if value > 1 else 'underconfident'}: {how} {value:.2f}"

    @property
    def n(self) -> int:
        """Labelled reference rows the curve was fitted on."""
        return int(self.counts.sum())

    @property
    def n_buckets(self) -> int:
        """Its buckets, ``+Inf`` included."""
        return len(self.bucket_edges) + 1

    @property
    def edges(self) -> tuple[float, ...]:
        """The buckets' upper edges (``le``), ``+Inf`` last."""
        return (*self.bucket_edges, float("inf"))

    @property
    def mean_confidence(self) -> np.ndarray:
        """The reference rows' mean confidence per bucket (the midpoint where a bucket is empty)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.confidence_sum / self.counts
        return np.where(self.counts > 0, mean, np.array(midpoints(self.bucket_edges)))

    @cached_property
    def slopes(self) -> Slopes:
        """The common within-bucket slopes (on the confidence and on the scores' purity) and,
        fitted with the scores, their covariance."""
        return fit_slope(*(None if a is None else a.tolist() for a in (
            self.counts, self.correct, self.confidence_sum, self.square_sum,
            self.product_sum, self.purity_sums)))  # type: ignore[arg-type]

    @property
    def slope(self) -> float:
        """The common within-bucket slope of accuracy on confidence (1: none fitted)."""
        return self.slopes.slope

    @property
    def purity_slope(self) -> float:
        """The common within-bucket slope of accuracy on the scores' purity (0: none fitted)."""
        return self.slopes.purity

    @cached_property
    def mean_purity(self) -> np.ndarray | None:
        """The reference rows' mean purity per bucket (None without the purity sums)."""
        if self.purity_sums is None:
            return None
        return np.array(mean_purities(self.counts.tolist(), self.purity_sums[0].tolist(),
                                      self.mean_confidence.tolist()))

    @cached_property
    def offset(self) -> np.ndarray:
        """Each bucket's intercept of the piecewise-linear curve: gap + (1 − slope) × mean
        confidence − purity slope × mean purity (the gap itself when the slope is 1)."""
        mean_purity = self.mean_purity
        return np.array(offsets(np.asarray(self.gap).tolist(), self.mean_confidence.tolist(),
                                self.slope, self.purity_slope,
                                None if mean_purity is None else mean_purity.tolist()))

    @property
    def accuracy(self) -> np.ndarray:
        """Calibrated accuracy per bucket: mean confidence + smoothed gap."""
        return np.clip(self.mean_confidence + np.asarray(self.gap), 0.0, 1.0)

    @property
    def pooled_gap(self) -> float:
        """Accuracy − mean confidence over all reference rows (the binomial noise of each bucket's
        gap is taken at its mean confidence plus this)."""
        return float((self.correct.sum() - self.confidence_sum.sum()) / max(self.n, 1))

    @property
    def reference_accuracy(self) -> float:
        """Accuracy of the labelled reference data itself."""
        return float(self.correct.sum() / max(self.counts.sum(), 1))

    def estimate(self, counts: np.ndarray, confidence_sum: float,
                 purity_sum: float | None = None) -> AccuracyEstimate:
        """Expected accuracy of a window whose confidence histogram has ``counts`` per bucket
        (non-cumulative, the calibration's buckets) and ``confidence_sum`` (its ``_sum``), and
        whose predictions' purities sum to ``purity_sum`` (``ml_prediction_purity_total``; needed
        by a curve fitted with the class scores). For a curve with a :attr:`scaling`,
        ``confidence_sum`` is the window's sum of scaled top scores (:meth:`confidences`,
        ``ml_prediction_scaled_confidence_total``)."""
        c = np.asarray(counts, dtype=float)
        if c.shape != (self.n_buckets,):
            raise ValueError(f"expected {self.n_buckets} bucket counts, got shape {c.shape}")
        if not np.all(np.isfinite(c)):
            raise ValueError(f"bucket counts must be finite numbers of predictions, got "
                             f"{c.tolist()}")
        n = float(c.sum())
        if n <= 0:
            return AccuracyEstimate(float("nan"), 0, float("nan"))
        if self.purity_sums is not None and purity_sum is None:
            raise ValueError("this calibration was fitted with the class scores: give the "
                             "window's purity sum (purity_sum=, ml_prediction_purity_total)")
        scores = 0.0 if purity_sum is None else self.purity_slope * float(purity_sum)
        acc = float(np.clip((self.slope * float(confidence_sum) + scores + c @ self.offset) / n,
                            0.0, 1.0))
        curve = float(c @ self.gap_stderr) / n
        return AccuracyEstimate(acc, int(round(n)), float(np.sqrt(
            curve ** 2 + self._slopes_variance(c, confidence_sum, purity_sum)
            + acc * (1 - acc) / n)))

    def _slopes_variance(self, counts: np.ndarray, confidence_sum: float,
                         purity_sum: float | None) -> float:
        """The slopes' share of the estimate's variance (a curve fitted with the scores): their
        covariance weighed by how far the window's mean confidence and purity sit from the
        reference rows' in the same buckets."""
        cov, mean_purity = self.slopes.covariance, self.mean_purity
        if cov is None or mean_purity is None or purity_sum is None:
            return 0.0
        n = float(counts.sum())
        dx = (float(confidence_sum) - float(counts @ self.mean_confidence)) / n
        dz = (float(purity_sum) - float(counts @ mean_purity)) / n
        return cov[0] * dx * dx + 2 * cov[1] * dx * dz + cov[2] * dz * dz

    def thin_share(self, counts: np.ndarray, rows: int) -> float:
        """The share of a window's predictions (``counts`` per bucket) that fall where the curve
        rests on fewer than ``rows`` labelled rows (NaN for an empty window)."""
        c = np.asarray(counts, dtype=float)
        return float(c[self.counts < rows].sum() / c.sum()) if c.sum() > 0 else float("nan")

    def table(self) -> list[dict[str, float]]:
        """One row per bucket: its edge, reference rows, mean confidence (of the scaled top
        scores, for a curve with a :attr:`scaling`), observed accuracy, and the calibrated
        accuracy, gap and the gap's standard error."""
        return [{"le": le, "rows": float(n), "mean_confidence": float(m),
                 "observed": float(k / n) if n else float("nan"), "calibrated": float(a),
                 "gap": float(g), "gap_stderr": float(e)}
                for le, n, k, m, a, g, e in zip(self.edges, self.counts, self.correct,
                                                self.mean_confidence, self.accuracy, self.gap,
                                                self.gap_stderr)]

    def to_dict(self) -> dict:
        """The baseline file's ``calibration`` entry."""
        doc = {"method": METHOD, "edges": list(self.bucket_edges), "classes": self.classes,
               "counts": self.counts.tolist(), "correct": self.correct.tolist(),
               "confidence_sum": self.confidence_sum.tolist(),
               "gap": np.asarray(self.gap).tolist(),
               "gap_stderr": np.asarray(self.gap_stderr).tolist()}
        if self.square_sum is not None and self.product_sum is not None:
            doc["square_sum"] = self.square_sum.tolist()
            doc["product_sum"] = self.product_sum.tolist()
        if self.purity_sums is not None:
            doc["purity"] = dict(zip(PURITY_KEYS, self.purity_sums.tolist()))
        if self.scaling_sensitivity is not None:  # scaled
            doc.update(scaling=self.scaling, scaling_stderr=self.scaling_stderr,
                       scaling_sensitivity=self.scaling_sensitivity.tolist())
        return doc

    @classmethod
    def from_dict(cls, doc: dict, classes: int = 2) -> Calibration:
        """Read a ``calibration`` entry; the gaps are refitted from the counts and must match.
        An entry of another fit (another ``method``, e.g. the first one's gaps shrunk toward 0)
        is migrated, refitted from its counts, as the service reads it
        (:mod:`mlmon_nb.instrument`); one on the earlier 0.1-wide buckets keeps them (see the
        module text). ``classes``: the model's, for an entry written before they were stored
        (the baseline's predicted classes)."""
        try:
            edges = confidence_edges(doc["edges"])
            within = [None if doc.get(k) is None else np.array(doc[k], dtype=float)
                      for k in ("square_sum", "product_sum")]
            scores = doc.get("purity")
            cal = cls(np.array(doc["counts"], dtype=float), np.array(doc["correct"], dtype=float),
                      np.array(doc["confidence_sum"], dtype=float),
                      square_sum=within[0], product_sum=within[1], bucket_edges=edges,
                      classes=doc.get("classes", classes), scaling=doc.get("scaling", 1.0),
                      scaling_stderr=doc.get("scaling_stderr", math.nan),  # NaN: refused if scaled
                      scaling_sensitivity=doc.get("scaling_sensitivity"),
                      purity_sums=None if scores is None else np.array(
                          [scores[k] for k in PURITY_KEYS], dtype=float))
            if doc.get("method") != METHOD:
                stored, stored_se = cal.gap, cal.gap_stderr
            else:
                stored = np.array(doc["gap"], dtype=float)
                stored_se = np.array(doc["gap_stderr"], dtype=float)
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(f"the baseline's calibration is malformed ({exc!r}); rebuild "
                                "the baseline with label=") from exc
        if (stored.shape != cal.gap.shape or stored_se.shape != cal.gap_stderr.shape
                or not np.allclose(stored, cal.gap, atol=1e-9)
                or not np.allclose(stored_se, cal.gap_stderr, atol=1e-9)):
            raise BaselineError("the baseline's calibration gaps do not match its counts; "
                                "the file was edited or is corrupt; rebuild the baseline")
        # the stored values, bit for bit: the file's id hashes them, and the service exports them
        return replace(cal, gap=stored, gap_stderr=stored_se)


def purity(scores: np.ndarray) -> np.ndarray:
    """Each row's purity, Σ_k p_k² over its class scores (rows × classes, each row summing to
    1): how concentrated the scores are beyond the top one (1 for a one-hot row, 1/K for an
    even one; NaN for a row with no positive score, which a curve refuses:
    :func:`checked_scores`). What
    ``ModelMonitor.record_prediction(..., scores=)`` counts."""
    p = np.asarray(scores, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2:
        raise BaselineError(f"class scores need one column per class (at least 2); got shape "
                            f"{p.shape}")
    # a row without a positive score (all 0) has no top class to scale: NaN
    return np.where(p.max(axis=1) > 0, np.einsum("ij,ij->i", p, p), np.nan)


def bucket_sums(confidence: np.ndarray, correct: np.ndarray,
                edges: Sequence[float] = CONFIDENCE_BUCKETS,
                purities: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """Per bucket: rows, correct rows, the sum of confidences, of squared confidences and of the
    correct rows' confidences, of the rows with a finite confidence (what a
    :class:`Calibration` is made of; mergeable by addition); with ``purities`` (one per row, see
    :func:`purity`), also their sum, of their squares, of purity × confidence and of the
    correct rows' purities."""
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    z = None if purities is None else np.asarray(purities, dtype=float)
    if conf.shape != ok.shape or (z is not None and z.shape != conf.shape):
        raise BaselineError(f"confidence, correctness and purity differ in length ({conf.size}, "
                            f"{ok.size} and {conf.size if z is None else z.size})")
    finite = np.isfinite(conf) & (True if z is None else np.isfinite(z))
    x = checked_confidences(conf[finite])
    idx, y = bucket_index(x, edges), ok[finite].astype(float)
    size = len(edges) + 1
    weights = [None, y, x, x * x, x * y]
    if z is not None:
        zf = np.clip(z[finite], 0.0, 1.0)
        weights += [zf, zf * zf, zf * x, zf * y]
    return tuple(np.bincount(idx, weights=w, minlength=size).astype(float) for w in weights)


def checked_confidences(confidence: np.ndarray) -> np.ndarray:
    """Finite confidences as probabilities in [0, 1] (a rounding error beyond them clipped, as
    the service does), or a BaselineError saying what they look like instead: a percentage or a
    logit would put every row in the last bucket and read as certainty."""
    c = np.asarray(confidence, dtype=float)
    outside = c[(c < -CONFIDENCE_SLACK) | (c > 1 + CONFIDENCE_SLACK)]
    if outside.size:
        if outside.size <= 0.05 * c.size:  # the others are probabilities: bad rows
            hint = ("the others are probabilities: fix or drop those rows (a confidence is "
                    "the predicted class's probability)")
        elif outside.min() >= 0 and c.max() <= 100:
            hint = "they look like percentages: divide them by 100"
        else:
            hint = ("they look like logits or raw scores: give the predicted class's "
                    "probability (softmax or sigmoid of the logits)")
        raise BaselineError(f"{outside.size:,} of {c.size:,} confidences are outside [0, 1] "
                            f"(e.g. {outside[0]:g}); {hint}")
    return np.clip(c, 0.0, 1.0)


def checked_scores(confidence: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Class scores (rows × classes) whose rows with a finite confidence are all probabilities
    (finite, in [0, 1], one of them positive), or a BaselineError counting the rows that are
    not: a NaN score, a logit or an all-zero row is a broken model output, and leaving those
    rows out of the curve would bias it (a model that overflows does so at its surest rows)."""
    p = np.asarray(scores, dtype=float)
    conf = np.asarray(confidence, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2:
        raise BaselineError(f"class scores need one column per class (at least 2); got shape "
                            f"{p.shape}")
    if p.shape[0] != conf.shape[0]:
        raise BaselineError(f"{conf.shape[0]:,} confidences but {p.shape[0]:,} rows of class "
                            f"scores; give one row of scores per prediction")
    with np.errstate(invalid="ignore"):
        proper = (np.all(np.isfinite(p) & (p >= -CONFIDENCE_SLACK) & (p <= 1 + CONFIDENCE_SLACK),
                         axis=1) & (np.max(p, axis=1) > 0))
    bad = np.flatnonzero(np.isfinite(conf) & ~proper)
    if bad.size:
        example = ", ".join(f"{v:g}" for v in p[bad[0]][:6])
        raise BaselineError(f"{bad.size:,} of {int(np.isfinite(conf).sum()):,} rows have class "
                            f"scores that are not probabilities (NaN, below 0, above 1, or all "
                            f"0; e.g. row {bad[0]}: [{example}]): give every class's "
                            f"probability (the softmax of the logits), or drop those rows before "
                            f"fitting")
    return np.clip(p, 0.0, 1.0)


def _unknown(value: Any) -> bool:
    """A missing correctness value: None, NaN or pandas' NA."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:  # pandas.NA compares to NA, whose truth is ambiguous
        return True


def checked_correct(correct: Any) -> tuple[np.ndarray, np.ndarray]:
    """Whether each labelled prediction was right, and whether that is known: booleans or 0/1,
    a missing value (NaN, None) unknown; anything else (``"yes"``, 2) is a BaselineError, as
    NumPy would read any non-empty text as right."""
    c = np.asarray(correct)
    if c.dtype == bool:
        return c, np.ones(c.shape, dtype=bool)
    if c.dtype.kind in "iuf":  # numbers: vectorized
        v = c.astype(float)
        known = ~np.isnan(v)
        odd = v[known & (v != 0.0) & (v != 1.0)]
        if odd.size:
            raise BaselineError(f"{odd.size:,} of {int(known.sum()):,} correctness values are "
                                f"neither true/false nor 1/0 (e.g. {float(odd[0]):g}): give "
                                f"whether each prediction was right, e.g. prediction == label")
        return v == 1.0, known
    flat = c.ravel()
    known = np.array([not _unknown(x) for x in flat], dtype=bool).reshape(c.shape)
    bad = [x for x, k in zip(flat, known.ravel())
           if k and not (isinstance(x, (bool, np.bool_, int, float, np.integer, np.floating))
                         and x in (0, 1))]
    if bad:
        raise BaselineError(f"{len(bad):,} of {int(known.sum()):,} correctness values are "
                            f"neither true/false nor 1/0 (e.g. {bad[0]!r}): give whether each "
                            f"prediction was right, e.g. prediction == label")
    right = np.zeros(c.shape, dtype=bool)
    right[known] = np.asarray(c[known], dtype=float) == 1.0
    return right, known


def fit_calibration(confidence: np.ndarray, correct: np.ndarray,
                    edges: Sequence[float] = CONFIDENCE_BUCKETS,
                    scores: np.ndarray | None = None, classes: int | None = None) -> Calibration:
    """The reliability curve of labelled reference predictions: each row's top-class confidence
    and whether the prediction was right; with ``scores`` (rows × classes, every class's score)
    also a slope on the scores' :func:`purity`, which a multiclass model needs to see how the
    other classes share the rest (the service then needs them too:
    ``record_prediction(..., scores=)``). Rows with a non-finite confidence are ignored; the
    others' confidences must be in [0, 1] (:func:`checked_confidences`) and their class scores
    probabilities (:func:`checked_scores`); ``correct`` is booleans or 0/1, a missing one (NaN,
    None) leaving its row out (:func:`checked_correct`); a curve none of whose rows was right is refused
    as a label column spelled unlike the predictions (:func:`calibration_of_sums`).
    ``edges``: the buckets' upper edges, the exporter's (or, to compare, the earlier
    :data:`~mlmon_nb.metrics.LEGACY_CONFIDENCE_BUCKETS`). ``classes``: the model's number of
    classes (default: the scores' columns, else the fewest the confidences allow,
    :func:`fewest_classes`)."""
    correct, known = checked_correct(correct)
    if not known.all():  # rows without their label say nothing of the curve
        confidence, correct = np.asarray(confidence, dtype=float)[known], correct[known]
        scores = None if scores is None else np.asarray(scores, dtype=float)[known]
    if scores is not None:
        scores = checked_scores(confidence, scores)
    if classes is None:
        classes = np.shape(scores)[1] if scores is not None else fewest_classes(confidence)
    purities = None if scores is None else purity(scores)
    sums = bucket_sums(confidence, correct, edges, purities)
    if sums[0].sum() == 0:
        raise BaselineError("no labelled rows with a finite confidence to calibrate on")
    if scores is not None:
        return ScalingSums.of(confidence, correct, scores, edges, purities).calibration(
            sums, edges, int(classes))
    return calibration_of_sums(sums, edges, int(classes))


def calibration_of_sums(sums: Sequence[np.ndarray], edges: Sequence[float], classes: int,
                        **scaling: Any) -> Calibration:
    """The curve of :func:`bucket_sums`' sums: unscaled, or of a temperature's (``scaling``:
    the :class:`Calibration` fields ``scaling``, ``scaling_stderr`` and ``scaling_sensitivity``;
    :meth:`ScalingSums.calibration` chooses them)."""
    promised = float(np.sum(sums[2]))
    if float(np.sum(sums[1])) == 0 and promised >= NONE_RIGHT:
        raise BaselineError(f"none of the {int(np.sum(sums[0])):,} labelled predictions equals "
                            f"its label, though their confidences promise {promised:,.0f} right: "
                            f"the label column is likely spelled unlike the prediction column "
                            f"(1 against '1' or 'c1', 'Cat' against 'cat'); map the labels to the "
                            f"predicted classes' names")
    return Calibration(sums[0], sums[1], sums[2], square_sum=sums[3], product_sum=sums[4],
                       purity_sums=np.array(sums[5:]) if len(sums) > 5 else None,
                       bucket_edges=tuple(float(e) for e in edges), classes=classes, **scaling)


def scaled_confidences(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Each row's top class score after its logits are divided by ``temperature`` (rows ×
    classes; :func:`mlmon_nb.estimated.scaling.scaled_confidence` over rows, which the service
    counts)."""
    return _scaled(_margins(scores), temperature)[0]


def scaling_sensitivities(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Each row's change of its scaled top score per unit of log ``temperature`` (how much an
    error in the temperature moves it)."""
    return _scaled(_margins(scores), temperature)[1]


def _margins(scores: np.ndarray) -> np.ndarray:
    """Each class's log-score margin below the row's top one, ``d_k`` = log(top / p_k) (∞ for
    a score of 0), computed once for every temperature."""
    p = np.clip(np.asarray(scores, dtype=float), 0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(p.max(axis=1, keepdims=True)) - np.log(p)


def _scaled(margins: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """Each row's scaled top score ``t`` and its change per unit of log ``temperature``, from
    its :func:`_margins`: t = 1 / Σ exp(−d_k / T) and dt / dlog T = −t² Σ exp(−d_k / T) d_k / T."""
    with np.errstate(invalid="ignore", over="ignore"):
        powered = np.exp(-margins / temperature)
        t = 1.0 / np.sum(powered, axis=1)
        weighted = np.where(powered > 0, powered * margins, 0.0)
    return t, -t * t * np.sum(weighted, axis=1) / temperature


@dataclass(frozen=True)
class ScalingSums:
    """What choosing the class scores' temperature needs, mergeable by addition: per temperature
    of :data:`~mlmon_nb.estimated.scaling.SCALINGS`, the labelled rows' negative log-likelihood
    of their correctness with their scaled top score ``t`` as the chance of being right
    (``loss``), and per confidence bucket Σ t, Σ t², Σ t × correct and Σ t × purity (``sums``,
    temperatures × 5 × buckets: the sums :func:`bucket_sums` gives of the confidences, and
    Σ dt / dlog T, the temperature's sensitivity)."""

    loss: np.ndarray
    sums: np.ndarray

    @classmethod
    def of(cls, confidence: np.ndarray, correct: np.ndarray, scores: np.ndarray,
           edges: Sequence[float] = CONFIDENCE_BUCKETS,
           purities: np.ndarray | None = None) -> ScalingSums:
        """The sums of labelled rows: their confidences, correctness and class scores (rows ×
        classes; ``purities``: their :func:`purity`, where the caller has it); the rows
        :func:`bucket_sums` leaves out (a non-finite confidence) are left out; the others' scores
        must be probabilities (:func:`checked_scores`)."""
        conf = np.asarray(confidence, dtype=float)
        p = checked_scores(conf, scores)
        z = purity(p) if purities is None else np.asarray(purities, dtype=float)
        finite = np.isfinite(conf) & np.isfinite(z)
        idx, p, z = bucket_index(conf[finite], edges), p[finite], np.clip(z[finite], 0.0, 1.0)
        y = np.asarray(correct, dtype=bool)[finite].astype(float)
        size = len(edges) + 1
        loss, sums = np.zeros(len(SCALINGS)), np.zeros((len(SCALINGS), 5, size))
        margins = _margins(p)
        for i, temperature in enumerate(SCALINGS):
            t, change = _scaled(margins, temperature)
            t = np.clip(t, 0.0, 1.0)
            sure = np.clip(t, 1e-12, 1 - 1e-12)
            loss[i] = -float(np.sum(y * np.log(sure) + (1 - y) * np.log1p(-sure)))
            sums[i] = [np.bincount(idx, weights=w, minlength=size)
                       for w in (t, t * t, t * y, t * z, change)]
        return cls(loss, sums)

    @classmethod
    def empty(cls, size: int = N_BUCKETS) -> ScalingSums:
        """No rows yet (``size`` buckets, ``+Inf`` included)."""
        return cls(np.zeros(len(SCALINGS)), np.zeros((len(SCALINGS), 5, size)))

    def __add__(self, other: ScalingSums) -> ScalingSums:
        return ScalingSums(self.loss + other.loss, self.sums + other.sums)

    def calibration(self, sums: Sequence[np.ndarray], edges: Sequence[float], classes: int
                    ) -> Calibration:
        """The curve of :func:`bucket_sums`' ``sums`` (with the purity's) at the chosen
        temperature (:func:`~mlmon_nb.estimated.scaling.choose_scaling`): every confidence sum
        replaced by the scaled top scores' (the unscaled curve at 1)."""
        temperature = choose_scaling(self.loss.tolist())
        if temperature == 1.0:
            return calibration_of_sums(sums, edges, classes)
        scaled = self.sums[SCALINGS.index(temperature)]
        out = list(sums)
        out[2], out[3], out[4], out[7] = scaled[:4]
        return calibration_of_sums(out, edges, classes, scaling=temperature,
                                   scaling_stderr=scaling_stderr(self.loss.tolist(), temperature),
                                   scaling_sensitivity=scaled[4])


def fewest_classes(confidence: np.ndarray) -> int:
    """The fewest classes a model can have whose top-class confidences these are (a top score is
    at least 1/K): 2 when every one is at least 0.5."""
    c = np.asarray(confidence, dtype=float)
    c = c[np.isfinite(c) & (c > 0)]
    return 2 if c.size == 0 else int(min(max(2, math.ceil(1 / float(c.min()) - 1e-9)), 1000))
