"""KS and Wasserstein of a current sample against a baseline's reference CDF (pure).

The reference is a :class:`~mlmon_nb.baseline.sketch.ReferenceCDF`: linear between knots, with exact
jumps at atoms. Between consecutive points of (current values ∪ knots) the current ECDF is
constant and the reference CDF linear, so

- KS, sup |F_ref − F_cur|, is attained at those points, as a right limit or a left limit: both
  are evaluated, which makes ties and atoms (integer data, a spike of zeros) exact;
- Wasserstein-1, ∫ |F_ref − F_cur| dx, is a sum of exact integrals of |linear − constant|.

:func:`evaluate` computes both CDFs at those points once; KS and Wasserstein read the same
:class:`CDFPoints` (the ``ks`` and ``wasserstein`` tests of :mod:`.methods` share it). The
p-value uses the reference's real size ``ReferenceCDF.n`` (a schema-1 file's sample size), with
the vectorized :func:`~mlmon_nb.drift.stats.ks_pvalue`. Measured against ``scipy.stats.ks_2samp``
and ``wasserstein_distance`` on the full 200,000-row reference: see ``tests/unit/test_reference.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..baseline.sketch import ReferenceCDF
from .stats import ks_pvalue

__all__ = [
    "CDFPoints",
    "ReferenceDrift",
    "compare_numeric",
    "evaluate",
    "reference_ks",
    "reference_wasserstein",
]


@dataclass(frozen=True)
class ReferenceDrift:
    """One numeric feature against its reference: KS (statistic, p-value), Wasserstein / scale,
    and the sizes behind them (``n_reference`` is the reference's real size)."""

    ks: float
    p_value: float
    wasserstein: float
    n_reference: int
    n_current: int
    precision: str  # the reference's: exact | sketch | sample


def _limits_tables(ref: ReferenceCDF) -> tuple[np.ndarray, ...]:
    """Knots and values whose ``numpy.interp`` is the reference CDF's right limit, and those
    whose ``numpy.interp`` is its left limit, at any point.

    Between knots the CDF runs linearly from ``le[j]`` to ``lt[j + 1]``. At an atom the two
    limits differ, so the right-limit table gets a knot one float below the atom (value
    ``lt``) and the left-limit table one float above (value ``le``): no float lies between, and
    each table is strictly increasing as ``numpy.interp`` requires.
    """
    x, le, jump = ref.x, ref.le, ref.jump
    lt = le - jump
    atoms = np.flatnonzero(jump > 0)
    below = np.nextafter(x[atoms], -np.inf)
    above = np.nextafter(x[atoms], np.inf)
    room_below = (atoms == 0) | (below > x[np.maximum(atoms - 1, 0)])
    room_above = (atoms == x.size - 1) | (above < x[np.minimum(atoms + 1, x.size - 1)])
    a, b = atoms[room_below], atoms[room_above]
    xr, fr = np.insert(x, a, below[room_below]), np.insert(le, a, lt[a])
    xl, fl = np.insert(x, b + 1, above[room_above]), np.insert(lt, b + 1, le[b])
    return xr, fr, xl, fl


@dataclass(frozen=True, eq=False)
class CDFPoints:
    """Both CDFs where KS and Wasserstein are decided: at the distinct current values ``u``
    (the reference's right and left limits ``ref``, ``ref_left``; the current ECDF's ``cur``,
    ``cur_left``) and at the reference's knots (``knot_cur``, ``knot_cur_left``; the
    reference's are its ``le`` and ``lt``)."""

    reference: ReferenceCDF
    u: np.ndarray
    ref: np.ndarray
    ref_left: np.ndarray
    cur: np.ndarray
    cur_left: np.ndarray
    knot_cur: np.ndarray
    knot_cur_left: np.ndarray

    def ks(self) -> float:
        """sup |F_ref − F_cur|, over right and left limits at every point."""
        r = self.reference
        return float(max(np.abs(self.ref - self.cur).max(),
                         np.abs(self.ref_left - self.cur_left).max(),
                         np.abs(r.le - self.knot_cur).max(),
                         np.abs(r.lt - self.knot_cur_left).max()))

    def merged(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The distinct points ascending, with F_ref, F_ref(−) and F_cur there."""
        r = self.reference
        x = np.concatenate([self.u, r.x])
        order = np.argsort(x, kind="stable")  # two sorted runs: merged
        x = x[order]
        keep = np.concatenate([[True], x[1:] != x[:-1]])  # a knot at a current value: once
        pick = order[keep]
        fr, fr_left, fc = (np.concatenate(pair)[pick] for pair in (
            (self.ref, r.le), (self.ref_left, r.lt), (self.cur, self.knot_cur)))
        return x[keep], fr, fr_left, fc

    def wasserstein(self, scale: float | None = None) -> float:
        """∫ |F_ref − F_cur| dx divided by ``scale``; None: the plain distance; a scale of 0
        gives 0 for a distance of 0, else inf."""
        x, fr, fr_left, fc = self.merged()
        g0 = fr[:-1] - fc[:-1]  # just right of each point
        g1 = fr_left[1:] - fc[:-1]  # just left of the next (the reference is linear between)
        a0, a1 = np.abs(g0), np.abs(g1)
        with np.errstate(divide="ignore", invalid="ignore"):
            crossing = (g0 ** 2 + g1 ** 2) / (2 * (a0 + a1))  # |linear| through a zero
        mean_abs = np.where(g0 * g1 >= 0, (a0 + a1) / 2, np.nan_to_num(crossing))
        distance = float(np.dot(mean_abs, np.diff(x)))
        if scale is None:
            return distance
        return distance / scale if scale > 0 else (0.0 if distance == 0 else float("inf"))


def evaluate(ref: ReferenceCDF, current: np.ndarray) -> CDFPoints:
    """Both CDFs at the points where KS and Wasserstein are decided; ``current`` sorted, finite
    and not empty.

    The reference's limits at the current values are two ``numpy.interp`` passes (one where the
    reference has no atom); the current ECDF at the knots is a binary search of the knots only.
    No search or sort per current value.
    """
    c = np.asarray(current, dtype=float)
    m = c.size
    new = c[1:] != c[:-1]
    if new.all():  # no ties: every value its own step
        u, cur_left = c, np.arange(m) / m
        cur = cur_left + 1 / m
    else:
        starts = np.flatnonzero(np.concatenate([[True], new]))
        u, cur_left = c[starts], starts / m
        cur = np.append(starts[1:], m) / m
    xr, fr, xl, fl = _limits_tables(ref)
    right = np.interp(u, xr, fr, left=0.0, right=1.0)
    left = np.interp(u, xl, fl, left=0.0, right=1.0) if ref.jump.any() else right
    return CDFPoints(ref, u, right, left, cur, cur_left,
                     np.searchsorted(c, ref.x, side="right") / m,
                     np.searchsorted(c, ref.x, side="left") / m)


def reference_ks(ref: ReferenceCDF, current: np.ndarray) -> float:
    """sup |F_ref − F_cur| over right and left limits; ``current`` sorted and finite."""
    if current.size == 0:
        return float("nan")
    return evaluate(ref, current).ks()


def reference_wasserstein(ref: ReferenceCDF, current: np.ndarray, scale: float | None = None
                          ) -> float:
    """∫ |F_ref − F_cur| dx divided by ``scale`` (e.g. the reference's std); ``current`` sorted
    and finite. ``scale`` None gives the plain distance; 0 gives 0 for 0, else inf."""
    if current.size == 0:
        return float("nan")
    return evaluate(ref, current).wasserstein(scale)


def compare_numeric(spec: Any, current: np.ndarray, *, method: str = "auto") -> ReferenceDrift:
    """KS (with its p-value at the reference's real size) and Wasserstein / reference std of a
    sorted finite ``current`` sample against a baseline's
    :class:`~mlmon_nb.baseline.NumericFeature`.

    ``method`` is passed to :func:`~mlmon_nb.drift.stats.ks_pvalue` (``auto``: exact up to
    10,000 values per side, like scipy). An empty ``current`` gives NaNs.
    :func:`~mlmon_nb.drift.compare` computes the same numbers for every feature of a frame (one
    p-value call for all).
    """
    ref: ReferenceCDF = spec.reference
    cur = np.asarray(current, dtype=float)
    if cur.size == 0:
        return ReferenceDrift(float("nan"), float("nan"), float("nan"), int(ref.n), 0,
                              ref.precision)
    points = evaluate(ref, cur)  # shared by both statistics
    d = points.ks()
    p = float(ks_pvalue(d, ref.n, cur.size, method))
    return ReferenceDrift(d, p, points.wasserstein(spec.summary.get("std")), int(ref.n),
                          int(cur.size), ref.precision)
