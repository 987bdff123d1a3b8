"""The reliability curve's fit from per-bucket sums: standard library only, so the model service
(which exports the curve as series, :mod:`mlmon_nb.instrument`) and :mod:`mlmon_nb.estimated.calibration`
compute the same numbers from a baseline's counts.

Per confidence bucket ``b`` the labelled reference rows give ``n_b`` rows, ``k_b`` correct ones
and ``s_b`` the sum of their confidences, so an observed gap ``y_b = k_b/n_b − s_b/n_b``
(accuracy − mean confidence) with binomial noise ``v_b`` (at the bucket's mean confidence plus
the pooled gap, all correct rows minus all confidences over all rows). The true gaps are modelled
as a *random walk along the curve*: at ``t_b``, the logit of the bucket's mean confidence (its
midpoint where it is empty), the gap is an unknown level plus a Brownian motion of strength
``τ²`` (Var(g_b − g_c) = τ² |t_b − t_c|). A bucket is thus shrunk toward its neighbours rather than
toward one gap for the whole curve: a thin bucket takes the gap of the part of the curve around
it, a model over- or underconfident by different amounts at different confidences keeps that
shape, and at ``τ² = 0`` every bucket gets the one level (the precision-weighted mean gap), as
the fit before did toward the pooled gap. The logit spreads the buckets near 1 (0.95, 0.99,
0.999), where the gap changes fastest, as far apart as the 0.1-wide ones in the middle. ``τ²`` is
the one that maximises the restricted likelihood (the level integrated out) over 0 and
:data:`STRENGTHS`; the gaps are that fit's posterior means, an empty bucket's the curve
interpolated between its filled neighbours, or the nearest one's beyond them.

*Toward a temperature curve.* On a small validation set the likeliest strength is often 0, and
then every bucket gets one level, which loses the shape of a model over- or underconfident by a
*temperature* (its logits scaled): its gap is 0 near a confidence of 1 and widest lower down,
so one level set by the many rows near 1 misses the gap where a shifted window's confidences
fall (a 3-class model underconfident ×0.7, 500 validation rows, 50 draws: −2.1 points on
average). The gaps are
therefore modelled as a temperature curve plus the level and the random walk around it: the gap
of a ``K``-class model whose top logit margin, the rest spread evenly, must be divided by ``T``
to be calibrated (temperature scaling's ``T``: above 1 overconfident, below 1 underconfident;
:func:`temperature_gap`; ``K`` the model's classes; at ``T = 1``, calibrated, the curve is 0).
``T`` is the likeliest of :data:`TEMPERATURES` under a N(0, 1/8) prior on ``log T``, kept only
where it beats ``T = 1`` by the likelihood-ratio test at 5 %, so a
calibrated model's curve is what it was (in the suite's 20 draws of one, all 20); where one is
kept the band averages over the temperatures too. Measured on 300 draws at 500 validation rows
(benchmarks/cbpe_cases.py's cases, seeds 200–219 and 300–329; mean |error| in points): 1.26 →
1.11, more than 2 points off in 75 → 58 draws (NannyML 81), within 1 point of NannyML where it
is within 2 in 156 → 163 of 219, the band's coverage 90.3 % → 92.7 %; the mean error of the
underconfident 3-class model −2.11 → −0.45, of the overconfident ones +0.96 → +0.82 (3-class
×1.3) and +0.97 → +0.94 (binary ×1.5: the test rarely tells ×1.5 from a level on 500 rows);
at 5,000 rows 0.36 → 0.34, at 50,000 0.166 → 0.172; on the table's 72 draws 0.61 → 0.58 (within
1 point of NannyML 63 → 61 of 66, coverage 69 both), on 288 fresh ones (seeds 100–107 and
200–207) 0.67 → 0.64 and 0.59 → 0.53. Tried and not kept: a gap linear in the logit instead
(1.20 at 500 rows, but a calibrated binary model 0.65 → 1.30); the temperature without the test,
its likeliest or averaged over all (1.10–1.15 at 500 rows, but the calibrated binary model 0.65
→ 1.24–1.45).

The standard error of each gap is its posterior spread around that gap averaged over the
strengths, weighted by their likelihood (a log-uniform prior on ``τ²``): on a small validation set
``τ² = 0`` is often the likeliest, yet larger strengths remain possible, and a window on a part of
the curve no labelled row reached must not get the filled buckets' band: an empty bucket's error
grows with its distance from the labelled rows. A filled bucket's error adds how far the gap
moves within it: a window's confidences need not sit where the reference rows' did inside a
bucket (the live histogram cannot say where), so the gap's slope across the neighbouring buckets
times the bucket's width / √12 (the spread of a uniform position in it) is part of its
uncertainty — large near 1 for an overconfident model, 0 on a flat curve. No error exceeds
:data:`MAX_STDERR`. Pure Python (a Cholesky factor per strength, at most 14 buckets): a few
milliseconds per fit.

Measured on the CBPE benchmark (benchmarks/cbpe_cases.py; mean |error| in accuracy points, the
band's coverage): shrinking toward the pooled gap, 0.80 on its 72 draws and 0.81 and 0.79 on 288
fresh ones (seeds 100–107 and 200–207, not used to choose), coverage 69/72 and 273/288; the
random walk, 0.65, 0.70 and 0.65 (NannyML's CBPE 0.64, 0.70 and 0.69 on the same draws), coverage
69/72 and 278/288. On benchmarks/bench_cbpe.py's calibrated scenarios under strong shift, the
worst window is no worse (0.56, 0.77, 0.52 points against 0.57, 0.79, 0.56), on its overconfident
one better (2.90 against 3.51). Also tried and not kept: shrinking toward a Platt curve fitted on
the buckets (0.71 on the 72 draws, 0.87 on fresh ones: its two parameters' noise hurt calibrated
models on small sets), the same with its slope pulled toward 1 (0.67–0.71, fresh 0.83–0.85), and
the random walk's gaps averaged over the strengths instead of the likeliest one (0.69–0.72).

*Within* the buckets, accuracy need not rise with confidence one for one: an overconfident model's
accuracy rises faster than its confidence near 1 (its gap deepens as the confidence falls from
0.99 to 0.96), an underconfident one's more slowly. Where the reference rows also give per bucket
the sums of squared confidences ``q_b`` and of confidence × correct ``r_b``, one *common slope*
``β`` of correctness on confidence is fitted within the buckets (the pooled within-bucket
regression: Σ_b (r_b − s_b k_b/n_b) / Σ_b (q_b − s_b²/n_b)), shrunk toward 1 (calibrated) by its
own noise with a N(1, 1) prior, and kept in [0, 2]. The curve is then piecewise linear, bucket
``b`` giving ``β · x + o_b`` at confidence ``x`` with ``o_b = g_b + (1 − β) m_b`` (``m_b`` the
reference rows' mean confidence), so a window's accuracy is (β Σ confidence + Σ_b c_b o_b) / Σ c
— exactly, from the histogram's ``_sum`` and counts, wherever inside its buckets the window's
confidences sit. A per-bucket slope would fit better but needs each bucket's own confidence sum,
which the live histogram does not have; a common slope needs only the one ``_sum``. Measured on
the CBPE benchmark's 72 draws (benchmarks/cbpe_cases.py) the mean error fell from 1.25 to 0.91
accuracy points. Without those sums (a baseline built before them) ``β`` is 1 and ``o_b = g_b``:
the earlier estimate, unchanged.

*Beyond the top score*: for a multiclass model, how often it is right at a given top-class
confidence also depends on how the other classes share the rest — one close runner-up or the
rest spread thin — and covariate shift moves that share (inputs drifting toward where two
classes meet, or all three). A curve over the top-class confidence alone cannot see it (NannyML's
CBPE, calibrating every class's score, does). Where the reference rows also give per bucket the
sums of each row's *purity* ``z`` = Σ_k p_k² over its class scores (:data:`PURITY_KEYS`: Σ z,
Σ z², Σ z × confidence and Σ z × correct), the within-bucket regression takes it as a second
covariate: slopes ``(β, γ)`` on (confidence, purity), the pooled within-bucket least squares
shrunk toward a calibrated, purity-blind curve (β toward 1 as above, γ toward 0), and the
offsets become ``o_b = g_b + (1 − β) m_b − γ z̄_b``. Within a bucket confidence and purity move
together, so γ is noisy: on a *calibrated* 3-class model (true γ = 0) 20,000 validation rows
still give γ between −0.76 and 0.44 over six draws (its sampling deviation, by bootstrap and by
the sandwich below alike, 0.32), and applied to a window whose scores sit far from the
reference's within the buckets such a γ moves the estimate by up to 2.3 points. Hence: γ's prior
variance is chosen by the rows (type-II maximum likelihood: γ̂² less its sampling variance),
kept only where γ̂ passes the Wald test at 5 % (γ̂² over :data:`PURITY_SLOPE_TEST` sampling
variances; otherwise γ = 0 and β is the curve-alone fit); that sampling variance is
the sandwich ``B⁻¹ M B⁻¹`` with each bucket's rows at their own binomial noise (a pooled noise
underestimated it twofold: the slopes are learnt from the low-confidence buckets, where the rows
are noisiest); and the estimate's band adds the slopes' covariance weighed by how far the
window's mean confidence and purity sit from the reference rows' in the same buckets
(:class:`Slopes` ``.covariance``). The estimate then needs the window's Σ z beside its ``_sum``
(``ml_prediction_purity_total``, one counter per model and version). Measured on the CBPE
benchmark's 72 draws: mean error 0.65 → 0.61 points, within 1 point of NannyML where NannyML
is within 2 in 60 → 63 of 66 draws, the band's coverage unchanged (69); 3-class underconfident
at 5,000 and 50,000 validation rows 0.88 → 0.56 and 0.42 → 0.07 (NannyML 0.27 and 0.12); on 144
fresh draws (seeds 100–107) 0.70 → 0.67, of NannyML 114 → 118 of 130. The Wald test came
later: without it a slope from noise was kept on a third of *calibrated* models — 14 of 40
draws of a 3-class linear-softmax model (not the benchmark's generator; 2,000 validation rows,
the window's inputs shrunk to 0.15 of their spread), whose estimates were then 0.89 points off
the window's expected accuracy on average (3.97 at worst); with it, 2 of 40 and 0.60 (3.21)
(tests/unit/test_estimated_cases.py). On benchmarks/cbpe_cases.py's draws it changes little
(mean |error| against the truth: the table's 72 draws 0.505 → 0.496, 144 fresh ones at seeds
100–107 0.587 → 0.585 and at 200–207 0.485 → 0.485, 300 at 500 rows 0.981 → 0.983; the band's
coverage 69/72, 281/288, 283 → 281 of 300). Purity was chosen over the
runner-up's score and over its share of the rest (unshrunk fits, the 3-class underconfident
draws at 5,000 rows: 0.27, 0.35 and 0.52 points); the share is undefined at confidence 1 and
constant on a binary model. Without the sums ``γ`` is 0 and nothing changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

__all__ = ["fit_gaps", "Gaps", "fit_slope", "Slopes", "offsets", "mean_confidences", "mean_purities",
           "binary_purity", "midpoints", "temperature_gap", "even_rest_scaled", "checked_classes",
           "METHOD", "PURITY_KEYS", "PURITY_SLOPE_TEST", "TEMPERATURES", "Z_95", "MAX_STDERR"]

# the fit's name in a baseline file: an entry of another fit (or none: the first one, gaps
# shrunk toward 0) is refitted from its counts when read, by the service and by the library
METHOD = "binned-gap-temperature-walk/4"
# the random-walk strengths τ² (gap² per unit of logit confidence) the band averages over, on a
# log scale; the gaps take the likeliest of them or 0
STRENGTHS: tuple[float, ...] = tuple(10 ** (-6 + 6 * i / 32) for i in range(33))
# the temperatures of the curve the gaps are shrunk toward (the top logit margin divided by 0.30
# to 3.3; 1: calibrated, no curve), with a N(0, 1/TEMPERATURE_PRECISION) prior on their logarithm, and
# the likelihood-ratio test's 95 % χ² (one degree of freedom) a temperature must pass
TEMPERATURES: tuple[float, ...] = tuple(math.exp(i / 10) for i in range(-12, 13))
TEMPERATURE_PRECISION = 8.0
TEMPERATURE_TEST = 3.841458820694124
_EPS = 1e-6  # confidences kept off 0 and 1 for their logit
# a gap's standard error at most: an accuracy anywhere in [0, 1] at a given confidence has a
# spread of at most 1/2, however far the bucket is from the labelled rows
MAX_STDERR = 0.5
# the prior variance of the two slopes (on the confidence around 1, on the purity around 0)
SLOPES_PRIOR_VARIANCE = 1.0
# the Wald test's 95 % χ² (one degree of freedom) the purity slope must pass to be kept
PURITY_SLOPE_TEST = 3.841458820694124
# the names of a baseline file's per-bucket purity sums (``calibration.purity``): Σ purity,
# Σ purity², Σ purity × confidence and Σ purity × correct
PURITY_KEYS = ("sum", "square_sum", "confidence_product_sum", "correct_sum")
# the normal quantile of a two-sided 95 % band (the estimate's band, the rules' and the rerun's)
Z_95 = 1.96


def midpoints(edges: Sequence[float]) -> list[float]:
    """Each bucket's midpoint in [0, 1] (bucket upper edges ``edges``, then ``+Inf``)."""
    lower = [0.0, *edges]
    upper = [*edges, 1.0]
    return [min(max((a + b) / 2, 0.0), 1.0) for a, b in zip(lower, upper)]


class Gaps(NamedTuple):
    """The curve's fit: per bucket the smoothed gap and its standard error, and the temperature
    the gaps were shrunk toward (1: none kept; > 1 overconfident, < 1 underconfident)."""

    gaps: list[float]
    stderr: list[float]
    temperature: float = 1.0


def fit_gaps(counts: Sequence[float], correct: Sequence[float], confidence_sum: Sequence[float],
             edges: Sequence[float], classes: int = 2) -> Gaps:
    """The smoothed calibration gap and its standard error per bucket (see the module text);
    ``classes``: the model's number of classes, which shapes the temperature curve."""
    n = [float(v) for v in counts]
    total = sum(n)
    if total <= 0:
        return Gaps([0.0] * len(n), [0.0] * len(n))
    mean = mean_confidences(n, confidence_sum, edges)
    pooled = (sum(correct) - sum(confidence_sum)) / total
    filled = [i for i, c in enumerate(n) if c > 0]
    observed = [correct[i] / n[i] - mean[i] for i in filled]
    noise = []
    for i in filled:  # the binomial variance at the bucket's prior accuracy, kept off 0 and 1
        p = min(max(mean[i] + pooled, 0.5 / (n[i] + 1)), 1 - 0.5 / (n[i] + 1))
        noise.append(p * (1 - p) / n[i])
    logits = [math.log(min(max(m, _EPS), 1 - _EPS) / (1 - min(max(m, _EPS), 1 - _EPS)))
              for m in mean]
    position = [x - min(logits) for x in logits]
    walks = [_Walk(s, position, filled, noise) for s in (0.0, *STRENGTHS)]
    # per temperature: its curve, the observed gaps beyond it, and its log prior
    shapes = {t: [temperature_gap(m, t, classes) for m in mean] for t in TEMPERATURES}
    beyond = {t: [y - shapes[t][i] for y, i in zip(observed, filled)] for t in TEMPERATURES}
    prior = {t: -TEMPERATURE_PRECISION / 2 * math.log(t) ** 2 for t in TEMPERATURES}
    # the temperature: the likeliest under its prior, kept only where it beats 1 (no curve)
    # by the test's margin
    scored = [(walk.loglik(beyond[t]) + prior[t], t) for t in TEMPERATURES for walk in walks]
    best = max(scored)
    calibrated = max(score for score, t in scored if t == 1.0)
    temperature = best[1] if best[0] - calibrated > TEMPERATURE_TEST / 2 else 1.0
    fits = [walk.fit(beyond[temperature]) for walk in walks]
    best_fit = max(fits, key=lambda f: f[0])  # the first of equals: 0 when the data cannot tell
    gaps = [g + h for g, h in zip(best_fit[1], shapes[temperature])]
    # the band averages over the strengths (and, a temperature kept, the temperatures) by their
    # likelihood under their priors: each fit's spread plus its distance from the gaps
    spread = []
    for t in (TEMPERATURES if temperature != 1.0 else (temperature,)):
        at = fits[1:] if t == temperature else [walk.fit(beyond[t]) for walk in walks[1:]]
        spread += [(f[0] + prior[t], f[1], f[2], shapes[t]) for f in at]
    top = max(f[0] for f in spread)
    likelihood = [math.exp(f[0] - top) for f in spread]
    scale = sum(likelihood)
    weights = [w / scale for w in likelihood]
    variance = [sum(w * (f[2][i] + (f[1][i] + f[3][i] - gaps[i]) ** 2)
                    for w, f in zip(weights, spread)) for i in range(len(n))]
    widths = [b - a for a, b in zip([0.0, *edges], [*edges, 1.0])]
    stderr = [min((v + (_slope(gaps, mean, filled, i) * max(w, 0.0) / 12 ** 0.5) ** 2) ** 0.5
                  if n[i] > 0 else v ** 0.5, MAX_STDERR)
              for i, (v, w) in enumerate(zip(variance, widths))]
    return Gaps(gaps, stderr, temperature)


def checked_classes(value: object) -> int:
    """A calibration's number of classes as read from a file: a whole number of at least 2
    (ValueError otherwise, with what to do)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ValueError(f"a calibration's classes must be a whole number of at least 2, not "
                         f"{value!r}; rebuild the baseline with label=")
    return value


def even_rest_scaled(confidence: float, temperature: float, classes: int) -> float:
    """The top score of a ``classes``-class prediction with top-class ``confidence`` and the
    rest spread evenly, after its top logit margin is divided by ``temperature`` (temperature
    scaling; the confidence kept off 0 and 1)."""
    c = min(max(confidence, _EPS), 1 - _EPS)
    rest = max(classes, 2) - 1
    margin = math.log(c * rest / (1 - c)) / temperature
    return 1 / (1 + rest * math.exp(-margin)) if margin > -700 else 0.0


def temperature_gap(confidence: float, temperature: float, classes: int) -> float:
    """The gap (accuracy − confidence) at a top-class ``confidence`` of a ``classes``-class model
    whose top logit margin, the rest spread evenly, must be divided by ``temperature`` to be
    calibrated (temperature scaling: > 1 overconfident, < 1 underconfident; 1 calibrated: 0)."""
    if temperature == 1.0:
        return 0.0
    c = min(max(confidence, _EPS), 1 - _EPS)
    return even_rest_scaled(c, temperature, classes) - c


class _Walk:
    """The random walk at one strength ``τ²`` over the filled buckets: the covariance's inverse
    and each bucket's weights, computed once, for the observed gaps of any temperature curve."""

    def __init__(self, strength: float, position: list[float], filled: list[int],
                 noise: list[float]) -> None:
        self.strength, self.position = strength, position
        cov = [[strength * min(position[a], position[b]) + (noise[i] if i == j else 0.0)
                for j, b in enumerate(filled)] for i, a in enumerate(filled)]
        lower = _cholesky(cov)
        self.logdet = 2 * sum(math.log(lower[i][i]) for i in range(len(filled)))
        self.inverse = _inverse(lower)
        self.ones = [sum(row) for row in self.inverse]  # K⁻¹ 1
        self.total = sum(self.ones)  # 1' K⁻¹ 1
        self.cross = [[strength * min(x, position[b]) for b in filled] for x in position]
        self.kc = [[sum(r * v for r, v in zip(row, c)) for row in self.inverse]
                   for c in self.cross]  # K⁻¹ c per bucket

    def _residual(self, observed: list[float]) -> tuple[float, list[float], list[float]]:
        level = sum(o * y for o, y in zip(self.ones, observed)) / self.total
        residual = [y - level for y in observed]
        alpha = [sum(r * x for r, x in zip(row, residual)) for row in self.inverse]
        return level, residual, alpha  # alpha: K⁻¹ (y − level 1)

    def loglik(self, observed: list[float]) -> float:
        """The restricted log-likelihood of the observed gaps (the level integrated out)."""
        _, residual, alpha = self._residual(observed)
        return self._loglik(residual, alpha)

    def _loglik(self, residual: list[float], alpha: list[float]) -> float:
        return -0.5 * (self.logdet + math.log(self.total)
                       + sum(r * a for r, a in zip(residual, alpha)))

    def fit(self, observed: list[float]) -> tuple[float, list[float], list[float]]:
        """The log-likelihood, and every bucket's posterior gap and variance (the level
        estimated, not known)."""
        level, residual, alpha = self._residual(observed)
        loglik = self._loglik(residual, alpha)
        gaps, variance = [], []
        for x, c, kc in zip(self.position, self.cross, self.kc):
            gaps.append(level + sum(a * v for a, v in zip(alpha, c)))
            left = 1 - sum(kc)  # the level's share in this bucket's posterior
            variance.append(max(self.strength * x - sum(a * v for a, v in zip(kc, c))
                                + left * left / self.total, 0.0))
        return loglik, gaps, variance


def _cholesky(matrix: list[list[float]]) -> list[list[float]]:
    """The lower-triangular L with L L' = ``matrix`` (symmetric positive definite)."""
    size = len(matrix)
    lower = [[0.0] * size for _ in range(size)]
    for i in range(size):
        for j in range(i + 1):
            s = matrix[i][j] - sum(lower[i][k] * lower[j][k] for k in range(j))
            lower[i][j] = math.sqrt(max(s, 1e-300)) if i == j else s / lower[j][j]
    return lower


def _inverse(lower: list[list[float]]) -> list[list[float]]:
    """(L L')⁻¹ from the Cholesky factor L."""
    size = len(lower)
    inv_lower = [[0.0] * size for _ in range(size)]  # L⁻¹, lower triangular
    for i in range(size):
        inv_lower[i][i] = 1 / lower[i][i]
        for j in range(i):
            inv_lower[i][j] = -sum(lower[i][k] * inv_lower[k][j] for k in range(j, i)) / lower[i][i]
    return [[sum(inv_lower[k][i] * inv_lower[k][j] for k in range(max(i, j), size))
             for j in range(size)] for i in range(size)]


@dataclass(frozen=True)
class Slopes:
    """The curve's common within-bucket slopes: on the confidence (1: calibrated), on the class
    scores' purity (0: none), and for a curve fitted with the scores their sampling covariance
    as (β β, β γ, γ γ), which the estimate's band weighs by how far a window sits from the
    reference rows inside their buckets (None without the scores: no such term)."""

    slope: float = 1.0
    purity: float = 0.0
    covariance: tuple[float, float, float] | None = None


def fit_slope(counts: Sequence[float], correct: Sequence[float], confidence_sum: Sequence[float],
              square_sum: Sequence[float] | None, product_sum: Sequence[float] | None,
              purity: Sequence[Sequence[float]] | None = None) -> Slopes:
    """The common within-bucket slopes of correctness on confidence, shrunk toward 1, and on the
    scores' purity, shrunk toward 0 (see the module text); ``Slopes()`` without the sums.
    ``purity``: per bucket Σ purity, Σ purity², Σ purity × confidence and Σ purity × correct
    (None: a curve over the confidence alone, purity slope 0)."""
    if square_sum is None or product_sum is None:
        return Slopes()
    total = sum(counts)
    sxx = sxy = 0.0
    for n, k, s, q, r in zip(counts, correct, confidence_sum, square_sum, product_sum):
        if n > 1:
            sxx += max(q - s * s / n, 0.0)
            sxy += r - s * k / n
    if sxx <= 1e-12 or total <= 0:
        return Slopes(covariance=None if purity is None else (0.0, 0.0, 0.0))
    accuracy = min(max(sum(correct) / total, 0.5 / (total + 1)), 1 - 0.5 / (total + 1))
    noise = accuracy * (1 - accuracy)  # of one row's correctness around the curve
    # β alone: the posterior mean under its prior around 1, (Sxy + σ²/v) / (Sxx + σ²/v)
    ridge = noise / SLOPES_PRIOR_VARIANCE
    alone = min(max((sxy + ridge) / (sxx + ridge), 0.0), 2.0)
    if purity is None:
        return Slopes(alone)
    szz = sxz = szy = 0.0
    meat = [0.0, 0.0, 0.0]  # Σ_b p_b (1 − p_b) × the bucket's scatter (xx, xz, zz)
    for n, k, s, q, z, zz, zx, zy in zip(counts, correct, confidence_sum, square_sum, *purity):
        if n > 1:
            p = (k + 0.5) / (n + 1)
            scatter = (max(q - s * s / n, 0.0), zx - s * z / n, max(zz - z * z / n, 0.0))
            meat = [w + p * (1 - p) * c for w, c in zip(meat, scatter)]
            szz += scatter[2]
            sxz += scatter[1]
            szy += zy - z * k / n
    # γ's prior variance from the rows themselves (type-II maximum likelihood: its estimate's
    # square beyond its sampling variance, each bucket's rows with their own binomial noise),
    # kept only where the estimate passes the Wald test at 5 % (its square over
    # PURITY_SLOPE_TEST sampling variances), so a slope the rows cannot tell from 0 is 0
    raw = _ridge((sxx, sxz, szz), sxy, szy, ridge, 0.0)
    sampling = _sandwich((sxx + ridge, sxz, szz), meat)[2]
    prior = raw[1] ** 2 - sampling if raw[1] ** 2 > PURITY_SLOPE_TEST * sampling else 0.0
    if prior <= 0.0:
        return Slopes(alone, 0.0, (meat[0] / (sxx + ridge) ** 2, 0.0, 0.0))
    bread = (sxx + ridge, sxz, szz + noise / prior)
    slope, purity_slope = _ridge((sxx, sxz, szz), sxy, szy, ridge, noise / prior)
    return Slopes(min(max(slope, 0.0), 2.0), min(max(purity_slope, -2.0), 2.0),
                  _sandwich(bread, meat))


def _ridge(scatter: tuple[float, float, float], sxy: float, szy: float, ridge_x: float,
           ridge_z: float) -> tuple[float, float]:
    """The posterior mean of (β, γ) from the within-bucket scatter (xx, xz, zz) and
    cross-products, under a prior centred on (1, 0) with precisions ``ridge_x``, ``ridge_z``
    (in units of the rows' noise)."""
    a, b, d = scatter[0] + ridge_x, scatter[1], scatter[2] + ridge_z
    det = a * d - b * b
    if det <= 1e-300:
        return 1.0, 0.0
    return (d * (sxy + ridge_x) - b * szy) / det, (a * szy - b * (sxy + ridge_x)) / det


def _sandwich(bread: tuple[float, float, float], meat: list[float]
              ) -> tuple[float, float, float]:
    """B⁻¹ M B⁻¹ as (xx, xz, zz), of ``bread`` B and ``meat`` M, symmetric 2 × 2 matrices given
    the same way: the slopes' sampling covariance with each bucket's own noise."""
    a, b, d = bread
    det = a * d - b * b
    if det <= 1e-300:
        return math.inf, 0.0, math.inf
    x_row, z_row = (d / det, -b / det), (-b / det, a / det)  # B⁻¹'s rows

    def quad(u: tuple[float, float], v: tuple[float, float]) -> float:
        return (u[0] * v[0] * meat[0] + (u[0] * v[1] + u[1] * v[0]) * meat[1]
                + u[1] * v[1] * meat[2])
    return quad(x_row, x_row), quad(x_row, z_row), quad(z_row, z_row)


def offsets(gaps: Sequence[float], mean_confidence: Sequence[float], slope: float,
            purity_slope: float = 0.0, mean_purity: Sequence[float] | None = None) -> list[float]:
    """Each bucket's intercept ``o_b = g_b + (1 − β) m_b − γ p_b`` of the piecewise-linear curve
    (``γ`` the purity slope, ``p_b`` the reference rows' mean purity)."""
    purity = mean_purity if mean_purity is not None else [0.0] * len(gaps)
    return [g + (1 - slope) * m - purity_slope * p
            for g, m, p in zip(gaps, mean_confidence, purity)]


def binary_purity(confidence: float) -> float:
    """The purity of a binary model's scores at ``confidence`` (the rest on one class): what a
    prediction without its class scores counts, and an empty bucket's reference mean."""
    return confidence * confidence + (1 - confidence) ** 2


def mean_purities(counts: Sequence[float], purity_sum: Sequence[float],
                  mean_confidence: Sequence[float]) -> list[float]:
    """The reference rows' mean purity per bucket; where a bucket is empty, that of a binary
    model at its mean confidence (the rest of the score on one class)."""
    return [z / c if c > 0 else binary_purity(m)
            for z, c, m in zip(purity_sum, counts, mean_confidence)]


def mean_confidences(counts: Sequence[float], confidence_sum: Sequence[float],
                     edges: Sequence[float]) -> list[float]:
    """The reference rows' mean confidence per bucket, the midpoint where a bucket is empty."""
    return [s / c if c > 0 else m for s, c, m in zip(confidence_sum, counts, midpoints(edges))]


def _slope(gaps: list[float], mean: list[float], filled: list[int], i: int) -> float:
    """How steeply the gap changes with the confidence around bucket ``i``: between the nearest
    filled buckets on either side (``i`` itself at an end), 0 with no neighbour."""
    left = max((j for j in filled if j < i), default=i)
    right = min((j for j in filled if j > i), default=i)
    if right == left or mean[right] == mean[left]:
        return 0.0
    return abs((gaps[right] - gaps[left]) / (mean[right] - mean[left]))
