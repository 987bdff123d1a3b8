"""When a signal left its normal band: change-point detection on an alert's own series.

Pure functions over pandas Series (time index, values at scrape resolution); nothing here
queries anything. :func:`normal_band` takes the median and a robust scale (MAD) of a reference
period; :func:`detect_onset` standardizes the series against that band, runs a one-sided CUSUM
on the clipped scores (a single spike cannot raise an alarm, a sustained shift of about 1.5
robust sigmas does), picks the excursion the alert belongs to, and refines its start with a
two-segment mean-shift fit whose profile likelihood gives the onset's uncertainty. A series
that never leaves its band yields ``None``: no onset is claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

__all__ = ["Direction", "Band", "Onset", "normal_band", "detect_onset"]

MAD_TO_SIGMA = 1.4826
REFINE_CLIP = 50.0  # scores beyond this are outliers even for the change-point fit
_TAILS = ((0.99, 2.326), (0.999, 3.090))  # (quantile, its distance from the median in sigmas)


class Direction(StrEnum):
    """Which way a signal goes bad."""

    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Band:
    """The normal band of a signal: the reference's median and robust scale (sigma units)."""

    median: float
    scale: float
    n: int  # reference points behind it
    k: float = 4.0  # the band's half-width in scales

    @property
    def low(self) -> float:
        return self.median - self.k * self.scale

    @property
    def high(self) -> float:
        return self.median + self.k * self.scale


@dataclass(frozen=True)
class Onset:
    """When a signal left its band: ``time`` ± ``uncertainty`` seconds.

    ``time`` is midway between the last normal sample and the first abnormal one; ``ongoing``
    is False when the signal came back into its band before the series ends (then ``ended`` is
    the last abnormal sample). ``level`` is the median of the signal during the excursion.
    """

    time: pd.Timestamp
    uncertainty: float
    first_abnormal: pd.Timestamp
    step: float
    band: Band
    ongoing: bool
    ended: pd.Timestamp | None
    level: float
    points: int  # samples from onset to the end of the excursion


def _step(index: pd.DatetimeIndex) -> float:
    if len(index) < 2:
        return 0.0
    return float(np.median(np.diff(index).astype("timedelta64[ns]").astype(np.int64)) / 1e9)


def normal_band(reference: pd.Series | np.ndarray, *, direction: Direction | str = "up",
                k: float = 4.0, min_scale: float = 0.0) -> Band:
    """The median and robust scale of ``reference`` (NaNs dropped), on the bad side.

    The scale is the larger of 1.4826 × MAD and the distance from the median to the 99th and
    99.9th (or, going down, the 1st and 0.1st) percentiles in normal sigmas: they agree for
    normal noise, and the tails keep skewed or heavy-tailed references (an error ratio that is
    mostly zero with sporadic errors) from calling their own tail an onset. ``min_scale`` floors
    it (a fraction of the distance to the alert's threshold keeps tiny wiggles from counting).
    """
    values = np.asarray(reference, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Band(float("nan"), float("nan"), 0, k)
    median = float(np.median(values))
    mad = MAD_TO_SIGMA * float(np.median(np.abs(values - median)))
    up = Direction(direction) == Direction.UP
    tails = [(float(np.quantile(values, q)) - median if up
              else median - float(np.quantile(values, 1 - q))) / z for q, z in _TAILS]
    scale = max(mad, *tails)
    if scale <= 0:
        scale = float(values.std())
    floor = max(min_scale, 1e-9 * max(abs(median), 1.0))
    return Band(median, max(scale, floor), int(values.size), k)


def _epochs(s: np.ndarray, h: float) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of positive CUSUM that crossed ``h`` (stop exclusive)."""
    out, start = [], None
    for i, v in enumerate(np.append(s, 0.0)):
        if v > 0 and start is None:
            start = i
        elif v <= 0 and start is not None:
            if s[start:i].max() > h:
                out.append((start, i))
            start = None
    return out


def _refine(z: np.ndarray, lo: int, hi: int, mass: float) -> tuple[int, int, int]:
    """The split of ``z[lo:hi]`` into two constant-mean segments (unit variance) with the
    highest likelihood, and the range of splits holding ``mass`` of its posterior."""
    seg = z[lo:hi]
    n = seg.size
    taus = np.arange(2, n - 1) if n >= 5 else np.arange(1, max(n, 2))
    if taus.size == 0:
        return lo, lo, lo
    csum, csq = np.cumsum(seg), np.cumsum(seg ** 2)
    left_n, right_n = taus, n - taus
    left_s, right_s = csum[taus - 1], csum[-1] - csum[taus - 1]
    sse = csq[-1] - left_s ** 2 / left_n - right_s ** 2 / right_n
    rising = right_s / right_n > left_s / left_n
    ll = np.where(rising, -sse / 2.0, -np.inf)
    if not np.isfinite(ll).any():
        return lo, lo, lo
    p = np.exp(ll - ll.max())
    p /= p.sum()
    best = int(taus[np.argmax(p)])
    order = np.argsort(-p)
    keep = order[: int(np.searchsorted(np.cumsum(p[order]), mass)) + 1]
    return lo + best, lo + int(taus[keep].min()), lo + int(taus[keep].max())


def detect_onset(series: pd.Series, reference: pd.Series | np.ndarray | None = None, *,
                 direction: Direction | str = Direction.UP, at: pd.Timestamp | None = None,
                 band: Band | None = None, min_scale: float = 0.0, drift: float = 1.0,
                 h: float = 10.0, clip: float = 4.0, window: int = 20,
                 mass: float = 0.9, lag: float = 0.0) -> Onset | None:
    """When ``series`` left the normal band of ``reference`` (default: its first half).

    ``direction`` says which way is bad; ``at`` (the alert's start) picks the excursion the
    alert belongs to (the one holding ``at``, else the last one that began before it, else the
    last one); without ``at`` the last excursion. Scores are ``(x - median) / scale`` clipped to
    ``±clip``; the CUSUM with allowance ``drift`` alarms above ``h``. The onset is refined over
    ``window`` samples either side and its uncertainty is the half-width of the ``mass``
    credible range of the change-point (never under half a sample interval). ``lag`` is the
    trailing window each point summarizes, in seconds (a ``rate()`` over 38s): a change at T
    moves such a series from T to T + lag and the fit finds the middle of that ramp, so the
    onset is placed ``lag / 2`` earlier and its uncertainty widened by ``lag / 2`` (measured
    on injected faults in the README). ``None`` when the series never left its band.
    """
    series = series.dropna().sort_index()
    if series.size < 5:
        return None
    index = pd.DatetimeIndex(series.index)
    x = series.to_numpy(dtype=float)
    if band is None:
        ref = reference if reference is not None else x[: x.size // 2]
        band = normal_band(ref, direction=direction, min_scale=min_scale)
    if not np.isfinite(band.median) or band.n < 3:
        return None
    sign = -1.0 if Direction(direction) == Direction.DOWN else 1.0
    z = np.clip(sign * (x - band.median) / band.scale, -clip, clip)
    s = np.empty_like(z)
    acc = 0.0
    for i, v in enumerate(z):
        acc = max(0.0, acc + v - drift)
        s[i] = acc
    epochs = _epochs(s, h)
    if not epochs:
        return None
    chosen = epochs[-1]
    pos = -1
    if at is not None:
        pos = int(index.searchsorted(pd.Timestamp(at)))
        holding = [e for e in epochs if e[0] <= pos < e[1]]
        earlier = [e for e in epochs if e[0] <= pos]
        chosen = holding[-1] if holding else earlier[-1] if earlier else epochs[-1]
    start, stop = chosen
    alarm = start + int(np.argmax(s[start:stop] > h))
    # refined from before the excursion began to past its alarm (and the alert), on scores
    # clipped far less:
    # a wander inside the band's tails before a real jump must not look like the jump
    lo = max(0, start - window)
    hi = min(stop, max(alarm, pos if start <= pos < stop else -1) + window + 1)
    wide = np.clip(sign * (x - band.median) / band.scale, -REFINE_CLIP, REFINE_CLIP)
    best, first, last = _refine(wide, lo, hi, mass)
    step = _step(index)
    onset = index[best] - pd.Timedelta(seconds=step / 2 + lag / 2)
    spread = max((index[best] - index[first]).total_seconds(),
                 (index[last] - index[best]).total_seconds()) + lag / 2
    back = _recovery(z, best, window, drift, h)
    ended = None if back is None else index[back - 1]
    last = x.size if back is None else back
    return Onset(onset, max(step / 2 + lag / 2, spread), index[best], step, band, back is None, ended,
                 float(np.median(x[best:last])), int(last - best))


def _recovery(z: np.ndarray, start: int, window: int, drift: float, h: float) -> int | None:
    """The first sample back in band after an excursion starting at ``start`` (None: still
    out): a CUSUM for a fall from the excursion's own level, which a long excursion's
    accumulated score cannot delay."""
    level = float(np.median(z[start:start + window]))
    allowance = max(drift, level / 2)
    acc, begun = 0.0, None
    for i in range(start, z.size):
        acc = max(0.0, acc + (level - z[i]) - allowance)
        if acc <= 0:
            begun = None
        elif begun is None:
            begun = i
        if acc > h:
            return begun
    return None
