"""The synthetic classifier of the CBPE benchmark (benchmarks/bench_cbpe.py): known truth by
construction.

The Bayes posterior of a Gaussian mixture with one cluster per class IS the true conditional
class probability; labels are drawn from it, so a model scoring with it is calibrated, and one
scoring with sharpened logits is overconfident by a known amount. Covariate shift moves the
inputs toward the mixture's centre, where the classes meet: the model is less sure there, and
P(label | input) does not change — the assumption confidence-based estimation rests on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Classifier", "make_classifier", "Sample", "sample"]


@dataclass(frozen=True)
class Classifier:
    """The Bayes posterior of a reference mixture — cluster ``k`` is N(centers[k], I) with equal
    weights, so P(label=k | x) ∝ exp(c_k·x − |c_k|²/2) — and a model scoring with the same
    logits times ``sharpness`` (1: calibrated by construction; above 1: overconfident)."""

    centers: np.ndarray  # (classes, features), centred on the origin
    sharpness: float = 1.0

    @property
    def classes(self) -> int:
        return self.centers.shape[0]

    def proba(self, x: np.ndarray, sharpness: float = 1.0) -> np.ndarray:
        """The true class probabilities (or the model's scores with its ``sharpness``)."""
        logits = (x @ self.centers.T - 0.5 * np.sum(self.centers ** 2, axis=1)) * sharpness
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


def make_classifier(classes: int, features: int, radius: float, seed: int = 0,
                    sharpness: float = 1.0) -> Classifier:
    """Cluster centres at ``radius`` from their centroid, in random directions."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(classes, features))
    c -= c.mean(axis=0)
    c *= radius / np.linalg.norm(c, axis=1, keepdims=True)
    return Classifier(c, sharpness)


@dataclass(frozen=True)
class Sample:
    """Predictions on ``n`` rows: the inputs, the model's class scores, the drawn true labels
    and the true probability that each prediction is right."""

    features: np.ndarray
    proba: np.ndarray
    label: np.ndarray
    p_correct: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        return self.proba.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.proba.max(axis=1)

    @property
    def correct(self) -> np.ndarray:
        return self.predicted == self.label

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def expected_accuracy(self) -> float:
        """The accuracy a perfect CBPE would report: the mean true probability that the
        predictions are right (the mean confidence, for a calibrated model)."""
        return float(self.p_correct.mean())


def sample(clf: Classifier, n: int, shift: float, rng: np.random.Generator,
           contract: bool = True) -> Sample:
    """``n`` rows shifted toward the mixture's centre by ``shift`` (0 = the reference): the
    cluster means pulled in, and with ``contract`` their spread too (1 = every row at the
    centre); labels drawn from the true probabilities, whatever the shift (no concept shift)."""
    cluster = rng.integers(clf.classes, size=n)
    noise = rng.normal(size=(n, clf.centers.shape[1]))
    x = clf.centers[cluster] * (1.0 - shift) + noise * ((1.0 - shift) if contract else 1.0)
    p = clf.proba(x)
    scores = p if clf.sharpness == 1.0 else clf.proba(x, clf.sharpness)
    label = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return Sample(x, scores, label, p[np.arange(n), scores.argmax(axis=1)])
