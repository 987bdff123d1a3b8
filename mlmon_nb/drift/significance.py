"""What chance alone gives: the critical values of the binned drift statistics for a sample size.

A drift alert fires only when its statistic exceeds both its effect threshold and the value a
sample of the window's size would exceed by chance with probability α (``drift.alpha``), so three
values an hour never look like drift. Pure: numbers in, numbers out; the recording rules write the
same formulas in PromQL (``expressions.ks_critical_expr``/``psi_critical_expr``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from ..errors import DriftError

__all__ = ["DEFAULT_ALPHA", "ks_coefficient", "ks_critical", "psi_chi2", "psi_critical",
           "mean_coefficient"]

DEFAULT_ALPHA = 0.01  # significance of the drift alerts' critical values (config: drift.alpha)


def ks_coefficient(alpha: float = DEFAULT_ALPHA) -> float:
    """c(α) = sqrt(−ln(α/2)/2) of the two-sample KS critical value c(α)·sqrt((n+m)/(n·m))."""
    if not 0 < alpha < 1:
        raise DriftError(f"alpha is a significance level between 0 and 1, got {alpha}")
    return math.sqrt(-math.log(alpha / 2) / 2)


def ks_critical(n: Any, m: Any, alpha: float = DEFAULT_ALPHA) -> np.ndarray | float:
    """The KS statistic chance alone exceeds with probability α for samples of n and m values
    (the large-sample two-sample critical value); ``inf`` where n or m is 0."""
    n, m = np.asarray(n, dtype=float), np.asarray(m, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ks_coefficient(alpha) * np.sqrt((n + m) / (n * m))
    out = np.where((n > 0) & (m > 0), out, np.inf)
    return float(out) if out.ndim == 0 else out


def mean_coefficient(alpha: float = DEFAULT_ALPHA) -> float:
    """z₁₋α, the one-sided normal quantile: a mean of n values exceeds the reference's by more
    than z₁₋α·σ·sqrt(1/n + 1/m) with probability α by chance alone."""
    if not 0 < alpha < 1:
        raise DriftError(f"alpha is a significance level between 0 and 1, got {alpha}")
    return float(stats.norm.ppf(1 - alpha))


def psi_chi2(bins: int, alpha: float = DEFAULT_ALPHA) -> float:
    """χ²₁₋α(bins − 1): the chi-square quantile behind :func:`psi_critical`."""
    if bins < 2:
        raise DriftError(f"PSI needs at least 2 bins, got {bins}")
    if not 0 < alpha < 1:
        raise DriftError(f"alpha is a significance level between 0 and 1, got {alpha}")
    return float(stats.chi2.ppf(1 - alpha, bins - 1))


def psi_critical(n: Any, m: Any, bins: int, alpha: float = DEFAULT_ALPHA) -> np.ndarray | float:
    """The PSI chance alone exceeds with probability α on ``bins`` bins for samples of n and m
    values: n·m/(n+m)·PSI ≈ χ²(bins−1), so χ²₁₋α(bins−1)·(1/n + 1/m); ``inf`` where n or m is 0."""
    n, m = np.asarray(n, dtype=float), np.asarray(m, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = psi_chi2(bins, alpha) * (1 / n + 1 / m)
    out = np.where((n > 0) & (m > 0), out, np.inf)
    return float(out) if out.ndim == 0 else out
