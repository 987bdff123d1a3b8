"""The per-prediction reconstruction error, in plain Python over the baseline's numbers.

A baseline with a joint structure (:mod:`mlmon_nb.baseline.joint`) keeps, for its numeric features,
the mean and scale that standardize them and the principal components (unit rows) that keep a
configured share of their variance. A prediction's error is the distance of its standardized
values ``z`` from the space those components span: ``sqrt(|z|² − Σ (vᵢ·z)²)``. A missing or
invalid value is imputed with the baseline's mean (``z = 0``), as the baseline was fitted.

This is the one definition of the error: the service computes it per prediction (lists and
``map``, no numpy: k·d multiplications, a few microseconds at 10 features), the baseline build
computes its reference distribution with it, and the benchmarks score with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import mul
from typing import Sequence

__all__ = ["JointStructure", "Z_LIMIT", "bounded", "reconstruction_error", "standardize",
           "residuals"]

#: How far (in baseline standard deviations) a standardized value may lie before it is clipped:
#: far beyond any error bucket, and small enough that squares of tens of them stay finite.
Z_LIMIT = 1e6


@dataclass(frozen=True)
class JointStructure:
    """What the serving side needs of a baseline's joint structure (all plain tuples).

    ``edges``/``cumulative``: the reference error's ``le`` bucket edges and the baseline's
    cumulative share at each; ``n``: the rows behind them; ``residual``: each feature's mean
    squared standardized residual on the baseline; ``reference_mean``/``reference_std``: the
    error's mean and standard deviation on the baseline.
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    components: tuple[tuple[float, ...], ...]
    edges: tuple[float, ...]
    cumulative: tuple[float, ...]
    n: int
    residual: tuple[float, ...]
    reference_mean: float = 0.0
    reference_std: float = 0.0


def standardize(values: Sequence[float | None], mean: Sequence[float],
                scale: Sequence[float]) -> list[float]:
    """``(x − mean) / scale`` per feature (as ``(x − mean) · (1 / scale)``, the service's
    arithmetic); ``None`` (missing or invalid) is imputed as 0."""
    return [0.0 if x is None else (x - mu) * (1.0 / s) for x, mu, s in zip(values, mean, scale)]


def bounded(z: Sequence[float]) -> list[float]:
    """``z`` clipped to ±:data:`Z_LIMIT`: what the error is computed on when a value so extreme
    (a finite 1e155, say) would overflow its square. The clipped error still lands beyond the
    last bucket, so the observation counts as the outlier it is."""
    return [max(-Z_LIMIT, min(Z_LIMIT, x)) for x in z]


def reconstruction_error(z: Sequence[float],
                         components: Sequence[Sequence[float]]) -> float:
    """The distance of standardized values ``z`` from the span of the unit ``components``:
    ``sqrt(|z|² − Σ (vᵢ·z)²)``; OverflowError where that is not finite (:func:`bounded` first)."""
    left = math.hypot(*z) ** 2
    for row in components:
        t = sum(map(mul, row, z))
        left -= t * t
    if not -math.inf < left < math.inf:  # an infinite z (a finite value × a large 1/scale)
        raise OverflowError("the reconstruction error of these values is not a finite number")
    return math.sqrt(left) if left > 0.0 else 0.0


def residuals(z: Sequence[float], components: Sequence[Sequence[float]]) -> list[float]:
    """Each feature's squared residual ``(z − Vᵀ V z)²``: what it adds to the squared error."""
    scores = [sum(map(mul, row, z)) for row in components]
    return [(x - sum(map(mul, column, scores))) ** 2 for x, column in zip(z, zip(*components))]
