"""Confidence calibration: how often the model is right at each confidence, and what that
predicts for a window of live traffic before its labels arrive (CBPE).

The reliability curve is binned on the exported confidence histogram's buckets
(:data:`mlmon_nb.metrics.CONFIDENCE_BUCKETS`, then ``+Inf``), because that histogram is the only
confidence signal Prometheus holds: a finer curve could not be applied to live data. Within each
bucket the observed accuracy of labelled reference data (a validation set) is shrunk toward the
bucket's midpoint by a few pseudo-rows — so a bucket with three rows does not claim 0 % or
100 % — and then made non-decreasing across buckets by weighted isotonic regression
(pool-adjacent-violators), so noise cannot make higher confidence mean lower accuracy.

The estimate for a window is Σ (bucket count × bucket accuracy) / Σ count. It assumes no concept
shift: P(correct | confidence) is what it was on the reference data. Covariate shift — inputs
moving to regions where the model is less sure — is what it sees; a widening gap to realized
accuracy, once labels arrive, is the sign the assumption broke. Pure: arrays in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import BaselineError
from .metrics import CONFIDENCE_BUCKETS

__all__ = [
    "PRIOR_ROWS",
    "Calibration",
    "AccuracyEstimate",
    "bucket_index",
    "bucket_counts",
    "N_BUCKETS",
    "isotonic",
    "fit_calibration",
]

# pseudo-rows at the bucket midpoint that each bucket's observed accuracy is shrunk toward
PRIOR_ROWS = 2.0
_EDGES = np.array(CONFIDENCE_BUCKETS, dtype=float)
N_BUCKETS = _EDGES.size + 1  # the exported buckets, then +Inf


def bucket_index(confidence: np.ndarray) -> np.ndarray:
    """The histogram bucket of each confidence (``le`` semantics: a value on an edge belongs to
    the bucket that edge closes), as the exporter counts it."""
    return np.searchsorted(_EDGES, np.asarray(confidence, dtype=float), side="left")


def bucket_counts(confidence: np.ndarray) -> np.ndarray:
    """Non-cumulative counts per bucket of finite confidences."""
    values = np.asarray(confidence, dtype=float)
    return np.bincount(bucket_index(values[np.isfinite(values)]), minlength=N_BUCKETS)


def _midpoints() -> np.ndarray:
    lower = np.concatenate([[0.0], _EDGES])
    upper = np.concatenate([_EDGES, [1.0]])
    return np.clip((lower + upper) / 2, 0.0, 1.0)


def isotonic(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit (pool-adjacent-violators)."""
    blocks: list[list[float]] = []  # [mean, weight, length]
    for v, w in zip(np.asarray(values, dtype=float), np.asarray(weights, dtype=float)):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, n2 = blocks.pop()
            v1, w1, n1 = blocks.pop()
            total = w1 + w2
            mean = (v1 * w1 + v2 * w2) / total if total > 0 else (v1 + v2) / 2
            blocks.append([mean, total, n1 + n2])
    return np.concatenate([np.full(int(n), v) for v, _, n in blocks])


@dataclass(frozen=True)
class AccuracyEstimate:
    """Expected accuracy of a window of predictions, with the rows it rests on.

    ``stderr`` is the binomial spread of the window's outcomes given the curve (it shrinks with
    ``n``); it does not include the curve's own uncertainty, which ``Calibration.n`` bounds.
    """

    accuracy: float
    n: int
    stderr: float

    def __str__(self) -> str:
        if self.n == 0:
            return "no predictions"
        return f"{self.accuracy:.1%} ± {1.96 * self.stderr:.1%} (n={self.n:,})"


@dataclass(frozen=True)
class Calibration:
    """The reliability curve: per confidence bucket, the reference rows, how many were right,
    and the calibrated accuracy applied to live traffic.

    Arrays have one entry per bucket of ``CONFIDENCE_BUCKETS`` and a last one for ``+Inf``.
    """

    counts: np.ndarray
    correct: np.ndarray
    prior_rows: float = PRIOR_ROWS
    accuracy: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        counts = np.asarray(self.counts, dtype=float)
        correct = np.asarray(self.correct, dtype=float)
        if counts.shape != (N_BUCKETS,) or correct.shape != (N_BUCKETS,):
            raise BaselineError(f"a calibration needs {N_BUCKETS} buckets (the confidence "
                                f"histogram's and +Inf); got {counts.shape} and {correct.shape}; "
                                "rebuild the baseline with label=")
        if (not np.all(np.isfinite(counts)) or np.any(counts < 0) or np.any(correct < 0)
                or np.any(correct > counts)):
            raise BaselineError("calibration counts must be finite, non-negative, and the correct "
                                "rows at most the rows per bucket; rebuild the baseline with label=")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "correct", correct)
        if np.asarray(self.accuracy).size == 0:
            object.__setattr__(self, "accuracy", _fit(counts, correct, self.prior_rows))

    @property
    def n(self) -> int:
        """Labelled reference rows the curve was fitted on."""
        return int(self.counts.sum())

    @property
    def edges(self) -> tuple[float, ...]:
        """The buckets' upper edges (``le``), ``+Inf`` last."""
        return (*CONFIDENCE_BUCKETS, float("inf"))

    @property
    def reference_accuracy(self) -> float:
        """Accuracy of the labelled reference data itself."""
        return float(self.correct.sum() / max(self.counts.sum(), 1))

    def estimate(self, counts: np.ndarray) -> AccuracyEstimate:
        """Expected accuracy of a window whose confidence histogram has ``counts`` per bucket
        (non-cumulative, the same buckets)."""
        c = np.asarray(counts, dtype=float)
        if c.shape != (N_BUCKETS,):
            raise ValueError(f"expected {N_BUCKETS} bucket counts, got shape {c.shape}")
        n = float(c.sum())
        if n <= 0:
            return AccuracyEstimate(float("nan"), 0, float("nan"))
        acc = float(c @ self.accuracy / n)
        var = float(c @ (self.accuracy * (1 - self.accuracy))) / n ** 2
        return AccuracyEstimate(acc, int(round(n)), float(np.sqrt(var)))

    def table(self) -> list[dict[str, float]]:
        """One row per bucket: its edge, reference rows, observed and calibrated accuracy."""
        return [{"le": le, "rows": float(n), "observed": float(k / n) if n else float("nan"),
                 "calibrated": float(a)}
                for le, n, k, a in zip(self.edges, self.counts, self.correct, self.accuracy)]

    def to_dict(self) -> dict:
        """The baseline file's ``calibration`` entry."""
        return {"method": "binned-isotonic", "prior_rows": self.prior_rows,
                "edges": list(CONFIDENCE_BUCKETS), "counts": self.counts.tolist(),
                "correct": self.correct.tolist(), "accuracy": self.accuracy.tolist()}

    @classmethod
    def from_dict(cls, doc: dict) -> Calibration:
        """Read a ``calibration`` entry; the curve is refitted from the counts and must match."""
        try:
            edges = tuple(float(e) for e in doc["edges"])
            cal = cls(np.array(doc["counts"], dtype=float), np.array(doc["correct"], dtype=float),
                      float(doc.get("prior_rows", PRIOR_ROWS)))
            stored = np.array(doc["accuracy"], dtype=float)
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(f"the baseline's calibration is malformed ({exc}); rebuild the "
                                "baseline with label=") from exc
        if edges != CONFIDENCE_BUCKETS:
            raise BaselineError(f"the baseline's calibration has confidence buckets {edges}, the "
                                f"exporter uses {CONFIDENCE_BUCKETS}; rebuild the baseline")
        if stored.shape != cal.accuracy.shape or not np.allclose(stored, cal.accuracy, atol=1e-9):
            raise BaselineError("the baseline's calibrated accuracy does not match its counts; "
                                "the file was edited or is corrupt; rebuild the baseline")
        # the stored values, bit for bit: the file's id hashes them, and the rules write them
        return replace(cal, accuracy=stored)


def _fit(counts: np.ndarray, correct: np.ndarray, prior_rows: float) -> np.ndarray:
    shrunk = (correct + prior_rows * _midpoints()) / (counts + prior_rows)
    return np.clip(isotonic(shrunk, counts + prior_rows), 0.0, 1.0)


def fit_calibration(confidence: np.ndarray, correct: np.ndarray) -> Calibration:
    """The reliability curve of labelled reference predictions: each row's top-class confidence
    and whether the prediction was right. Rows with a non-finite confidence are ignored."""
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    if conf.shape != ok.shape:
        raise BaselineError(f"confidence and correctness differ in length ({conf.size} and "
                            f"{ok.size})")
    finite = np.isfinite(conf)
    idx = bucket_index(conf[finite])
    counts = np.bincount(idx, minlength=N_BUCKETS).astype(float)
    hits = np.bincount(idx, weights=ok[finite].astype(float), minlength=N_BUCKETS)
    if counts.sum() == 0:
        raise BaselineError("no labelled rows with a finite confidence to calibrate on")
    return Calibration(counts, hits)
