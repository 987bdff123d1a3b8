"""Synthetic history for the demo model: days of the metric contract, with incidents.

The series carry the same names, labels and buckets the live demo service exports
(`mlmon_nb.metrics`, the baseline's edges), including the scrape labels ``job`` and
``instance``, so backfilled history and live scrapes join into one series each. The behaviour of
each regime (normal, drift, low confidence) comes from running the demo model on generated
texts, so history and live traffic agree. Deterministic from the seed.

Incidents: an error burst, a latency regression, a drift onset, a stretch of low confidence, an
accuracy drop (of the labels alone) and a covariate shift (inputs the model is less sure of and
less often right on: confidences and labels fall together) and a correlation break (every
marginal as usual, but ``word_count`` no longer goes with ``text_length``: only the
reconstruction error moves), placed at fixed fractions of the span.

Output is OpenMetrics text split into chunks that each fall within one 2-hour-aligned window:
promtool (2.42) re-reads its whole input once per 2-hour block, so one chunk per block makes the
backfill a single pass over the data (``mlmon_nb.stack.backfill``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

import numpy as np

from ... import metrics as m
from ...baseline import Baseline, bin_fractions
from ...instrument import RESIDUAL_STRIDE, baseline_series, serving_of
from .model import (
    CLASSES,
    COVARIATE_SHIFT,
    DEMO_JOB,
    MODEL_NAME,
    MODEL_VERSION,
    SentimentModel,
    generate_texts,
)

__all__ = ["Incident", "SyntheticHistory", "synthesize", "openmetrics_chunks",
           "DEFAULT_INCIDENTS", "BLOCK_SECONDS", "PREDICT_ENDPOINT", "FEEDBACK_ENDPOINT",
           "INJECTED_ERROR_TYPE"]

BLOCK_SECONDS = 2 * 3600
PREDICT_ENDPOINT = "/predict"
FEEDBACK_ENDPOINT = "/feedback"
INJECTED_ERROR_TYPE = "InjectedFault"
BASE_RPS = 5.0
BROKEN_FEATURE = "word_count"  # the feature a correlation break pairs with another request


@dataclass(frozen=True)
class Incident:
    """An incident: where it starts (a fraction of the span) and how long it lasts."""

    name: str
    at: float  # fraction of the span from its start
    seconds: float


DEFAULT_INCIDENTS = (
    Incident("accuracy", 0.12, 3 * 3600),
    Incident("low_confidence", 0.25, 2 * 3600),
    Incident("drift", 0.38, 6 * 3600),
    Incident("latency", 0.58, 3600),
    Incident("covariate_shift", 0.68, 2 * 3600),
    Incident("errors", 0.78, 45 * 60),
    Incident("correlation_break", 0.86, 3 * 3600),
)


@dataclass
class Series:
    family: str
    type: str
    name: str
    labels: dict
    values: np.ndarray


@dataclass
class SyntheticHistory:
    """The synthesized series and where the incidents are (unix seconds)."""

    start: float
    end: float
    step: float
    timestamps: np.ndarray
    series: list[Series] = field(default_factory=list)
    incidents: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return len(self.series) * len(self.timestamps)


@dataclass(frozen=True)
class _Regime:
    """Distributions of one behaviour of the demo model, measured on generated texts."""

    features: dict[str, np.ndarray]  # numeric feature -> bucket fractions at the baseline edges
    means: dict[str, float]
    categories: dict[str, np.ndarray]
    classes: np.ndarray
    confidence: np.ndarray
    mean_confidence: float
    low_confidence: float
    accuracy: dict[str, float]  # per channel (segment)
    # the multivariate check (a baseline with a joint structure): error bucket fractions, its
    # mean, each feature's mean squared residual
    reconstruction: np.ndarray | None = None
    reconstruction_mean: float = 0.0
    residual: np.ndarray | None = None
    # the class scores' mean purity (Σ score², what the demo service counts)
    mean_purity: float = 0.0


def _joint_rows(baseline: Baseline, preds: list) -> np.ndarray | None:
    joint = baseline.multivariate
    if joint is None:
        return None
    return np.array([[p.features.get(f, np.nan) for f in joint.features] for p in preds], float)


def _with_joint(regime: _Regime, baseline: Baseline, rows: np.ndarray | None) -> _Regime:
    """The regime with the reconstruction error of ``rows`` (the model's joint features)."""
    joint = baseline.multivariate
    if joint is None or rows is None:
        return regime
    errors = joint.errors(rows)
    z = np.nan_to_num((rows - joint.mean) / joint.scale)
    resid = z - (z @ joint.components.T) @ joint.components
    return replace(regime, reconstruction=bin_fractions(errors, joint.edges),
                   reconstruction_mean=float(errors.mean()),
                   residual=(resid ** 2).mean(axis=0))


def _measure(baseline: Baseline, model: SentimentModel, rng: np.random.Generator, n: int,
             low_confidence_threshold: float, **shift: float) -> _Regime:
    """Run the model on ``n`` generated texts (``shift``: ``generate_texts`` options)."""
    items = generate_texts(n, rng, **shift)
    preds = [model.predict(t.text, t.channel) for t in items]
    conf = np.array([p.confidence for p in preds])
    feats, means = {}, {}
    for name, f in baseline.numeric.items():
        vals = np.array([p.features[name] for p in preds], dtype=float)
        feats[name], means[name] = bin_fractions(vals, f.edges), float(vals.mean())
    cats = {}
    for name, c in baseline.categorical.items():
        cat_vals = [p.features.get(name) for p in preds]
        known: dict[str | None, int] = {v: i for i, v in enumerate(c.categories)}
        counts = np.bincount([known.get(v, len(c.categories)) for v in cat_vals],
                             minlength=len(c.categories) + 1)
        cats[name] = counts / counts.sum()
    classes = np.array([sum(p.label == k for p in preds) for k in CLASSES], float) / n
    channels = np.array([t.channel for t in items])
    correct = np.array([p.label == t.true_label for p, t in zip(preds, items)])
    accuracy = {ch: float(correct[channels == ch].mean()) for ch in np.unique(channels)}
    regime = _Regime(feats, means, cats, classes,
                     bin_fractions(conf, np.array(m.CONFIDENCE_BUCKETS)), float(conf.mean()),
                     float((conf < low_confidence_threshold).mean()), accuracy,
                     mean_purity=float(np.mean([sum(q * q for q in p.probabilities)
                                                for p in preds])))
    return _with_joint(regime, baseline, _joint_rows(baseline, preds))


def _correlation_break(baseline: Baseline, normal: _Regime, model: SentimentModel,
                       rng: np.random.Generator, n: int) -> _Regime:
    """Normal traffic whose ``word_count`` belongs to another request: every marginal as in
    ``normal``, only the joint structure (the reconstruction error) differs."""
    joint = baseline.multivariate
    rows = _joint_rows(baseline, [model.predict(t.text, t.channel) for t in generate_texts(n, rng)])
    if joint is not None and rows is not None and BROKEN_FEATURE in joint.features:
        j = joint.features.index(BROKEN_FEATURE)
        rows[:, j] = rng.permutation(rows[:, j])
    return _with_joint(normal, baseline, rows)


def _latency_fractions(median: float, sigma: float, buckets: np.ndarray) -> np.ndarray:
    from scipy.stats import lognorm
    cdf = lognorm.cdf(buckets, s=sigma, scale=median)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def _cumulative(counts: np.ndarray) -> np.ndarray:
    """Per-step bucket counts (T, K) -> cumulative-over-le, cumulative-over-time counters."""
    return np.cumsum(np.cumsum(counts, axis=1), axis=0)


def synthesize(baseline: Baseline, *, end: float, days: float = 7.0, step: float = 15.0,
               seed: int = 42, instance: str = "127.0.0.1:18000", job: str = DEMO_JOB,
               model_name: str = MODEL_NAME, model_version: str = MODEL_VERSION,
               low_confidence_threshold: float = 0.7,
               latency_buckets: tuple[float, ...] = m.DEFAULT_LATENCY_BUCKETS,
               incidents: tuple[Incident, ...] = DEFAULT_INCIDENTS,
               feedback_share: float = 0.2) -> SyntheticHistory:
    """Synthesize ``days`` of history ending at ``end`` (unix seconds), one point per ``step``."""
    rng = np.random.default_rng(seed)
    model = SentimentModel()
    end = float(np.floor(end / step) * step)
    ts = np.arange(end - days * 86400, end + step / 2, step)
    T = ts.size
    span = ts[-1] - ts[0]
    windows = {inc.name: (ts[0] + inc.at * span, ts[0] + inc.at * span + inc.seconds)
               for inc in incidents}

    def active(name: str) -> np.ndarray:
        if name not in windows:
            return np.zeros(T, bool)
        a, b = windows[name]
        return (ts >= a) & (ts < b)

    regimes = {
        "normal": _measure(baseline, model, rng, 3000, low_confidence_threshold),
        "drift": _measure(baseline, model, rng, 3000, low_confidence_threshold, drift=1.0),
        "low_confidence": _measure(baseline, model, rng, 3000, low_confidence_threshold,
                                   ambiguity=1.0),
        # its own stream, so the other regimes and the traffic are those of the same seed
        "covariate_shift": _measure(baseline, model, np.random.default_rng([seed, 1]), 3000,
                                    low_confidence_threshold, **COVARIATE_SHIFT),
    }
    regimes["correlation_break"] = _correlation_break(
        baseline, regimes["normal"], model, np.random.default_rng([seed, 2]), 3000)
    regime_of = np.zeros(T, int)  # index into regime_names
    regime_names = ["normal", "drift", "low_confidence", "covariate_shift", "correlation_break"]
    regime_of[active("drift")] = 1
    regime_of[active("low_confidence")] = 2
    regime_of[active("covariate_shift")] = 3
    regime_of[active("correlation_break")] = 4

    hours = (ts % 86400) / 3600
    rate = BASE_RPS * (1 + 0.35 * np.sin(2 * np.pi * (hours - 9) / 24)) * rng.lognormal(0, 0.08, T)
    n = rng.poisson(rate * step)
    err_share = np.where(active("errors"), 0.3, 0.003)
    errors = rng.binomial(n, err_share)
    served = n - errors
    fb_n = rng.binomial(served, feedback_share)

    base = {"job": job, "instance": instance}
    out = SyntheticHistory(ts[0], ts[-1], step, ts, incidents=windows)

    def add(spec: m.MetricSpec, labels: dict, values: np.ndarray, suffix: str = "") -> None:
        name = spec.series(suffix)
        out.series.append(Series(spec.name, spec.type, name, {**base, **labels}, values))

    def add_histogram(spec: m.MetricSpec, labels: dict[str, str], counts: np.ndarray,
                      edges: Iterable[float], sums: np.ndarray) -> None:
        cum = _cumulative(counts)
        for i, le in enumerate(list(edges) + [float("inf")]):
            add(spec, {**labels, "le": m.le_label(le)}, cum[:, i], "_bucket")
        add(spec, labels, np.cumsum(sums), "_sum")
        add(spec, labels, cum[:, -1], "_count")

    mv = {"model_name": model_name, "model_version": model_version}
    add(m.REQUESTS, {**mv, "endpoint": PREDICT_ENDPOINT}, np.cumsum(n))
    add(m.REQUESTS, {**mv, "endpoint": FEEDBACK_ENDPOINT}, np.cumsum(fb_n))
    add(m.ERRORS, {**mv, "endpoint": PREDICT_ENDPOINT, "error_type": INJECTED_ERROR_TYPE},
        np.cumsum(errors))

    lat_edges = np.array(latency_buckets)
    slow = active("latency")
    p_fast = _latency_fractions(0.045, 0.45, lat_edges)
    p_slow = _latency_fractions(0.55, 0.35, lat_edges)
    lat_counts = rng.multinomial(n, np.where(slow[:, None], p_slow, p_fast))
    lat_sum = n * np.where(slow, 0.55 * np.exp(0.35 ** 2 / 2), 0.045 * np.exp(0.45 ** 2 / 2))
    add_histogram(m.REQUEST_DURATION, {"model_name": model_name, "endpoint": PREDICT_ENDPOINT},
                  lat_counts, lat_edges, lat_sum)
    fb_counts = rng.multinomial(fb_n, np.broadcast_to(_latency_fractions(0.004, 0.3, lat_edges),
                                                      (T, lat_edges.size + 1)))
    add_histogram(m.REQUEST_DURATION, {"model_name": model_name, "endpoint": FEEDBACK_ENDPOINT},
                  fb_counts, lat_edges, fb_n * 0.004)
    add(m.IN_PROGRESS, {"model_name": model_name},
        rng.poisson(rate * np.where(slow, 0.6, 0.05)).astype(float))

    def per_regime(attr: str, key: str | None = None) -> np.ndarray:
        """A (T, K) matrix of the regime's fractions for each step."""
        rows = []
        for name in regime_names:
            v = getattr(regimes[name], attr)
            rows.append(v[key] if key is not None else v)
        return np.stack(rows)[regime_of]

    cls_counts = rng.multinomial(served, per_regime("classes"))
    for i, cls in enumerate(CLASSES):
        add(m.PREDICTIONS, {**mv, "predicted_class": cls},
            np.cumsum(cls_counts[:, i]))
    conf_counts = rng.multinomial(served, per_regime("confidence"))
    mean_conf = np.array([regimes[r].mean_confidence for r in regime_names])[regime_of]
    add_histogram(m.CONFIDENCE, mv, conf_counts, m.CONFIDENCE_BUCKETS,
                  served * mean_conf)
    low = np.array([regimes[r].low_confidence for r in regime_names])[regime_of]
    add(m.LOW_CONFIDENCE, mv, np.cumsum(rng.binomial(served, low)))
    mean_purity = np.array([regimes[r].mean_purity for r in regime_names])[regime_of]
    add(m.PURITY, mv, np.cumsum(served * mean_purity))

    for feat, spec in baseline.numeric.items():
        counts = rng.multinomial(served, per_regime("features", feat))
        mean = np.array([regimes[r].means[feat] for r in regime_names])[regime_of]
        labels = {"model_name": model_name, "feature": feat}
        add_histogram(m.FEATURE_VALUE, {**mv, "feature": feat}, counts, spec.edges, served * mean)
        add(m.FEATURE_INVALID, {**labels, "reason": "nan"},
            np.cumsum(rng.binomial(served, 0.0005)))
    for feat, cat_spec in baseline.categorical.items():
        counts = rng.multinomial(served, per_regime("categories", feat))
        for i, cat in enumerate(cat_spec.labels):
            add(m.FEATURE_CATEGORY, {"model_name": model_name, "feature": feat, "category": cat},
                np.cumsum(counts[:, i]))

    # ground truth: the reviewed share, per segment (channel), correct by the regime's accuracy
    bad_labels = active("accuracy")
    channel_share = per_regime("categories", "channel") if "channel" in baseline.categorical else None
    segments = list(regimes["normal"].accuracy)
    seg_counts = (rng.multinomial(fb_n, channel_share[:, :len(segments)] /
                                  channel_share[:, :len(segments)].sum(axis=1, keepdims=True))
                  if channel_share is not None else fb_n[:, None])
    for j, seg in enumerate(segments if channel_share is not None else ["all"]):
        acc = np.array([regimes[r].accuracy.get(seg, 0.9) for r in regime_names])[regime_of]
        acc = np.where(bad_labels, 0.55, acc)
        correct = rng.binomial(seg_counts[:, j], acc)
        add(m.GROUND_TRUTH, {**mv, "segment": seg, "outcome": "correct"},
            np.cumsum(correct))
        add(m.GROUND_TRUTH, {**mv, "segment": seg, "outcome": "incorrect"},
            np.cumsum(seg_counts[:, j] - correct))

    joint = baseline.multivariate
    if joint is not None:  # its own stream: the other series are those of the same seed
        jrng = np.random.default_rng([seed, 3])
        counts = jrng.multinomial(served, per_regime("reconstruction"))
        mean_error = np.array([regimes[r].reconstruction_mean for r in regime_names])[regime_of]
        add_histogram(m.RECONSTRUCTION_ERROR, mv, counts, joint.edges, served * mean_error)
        sampled = jrng.binomial(served, 1 / RESIDUAL_STRIDE)
        add(m.RESIDUAL_SAMPLES, {"model_name": model_name}, np.cumsum(sampled))
        residual = per_regime("residual")
        for j, feat in enumerate(joint.features):
            add(m.FEATURE_RESIDUAL, {"model_name": model_name, "feature": feat},
                np.cumsum(sampled * residual[:, j]))
    add(m.MODEL_INFO, {**mv, "baseline_id": baseline.baseline_id}, np.ones(T))
    for spec_, values, value in baseline_series(serving_of(baseline), mv["model_version"]):
        add(spec_, dict(zip(spec_.labels, values)), np.full(T, value))
    out.series.append(Series("up", "gauge", "up", dict(base), np.ones(T)))
    return out


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def openmetrics_chunks(history: SyntheticHistory,
                       block_seconds: int = BLOCK_SECONDS) -> Iterator[tuple[float, str]]:
    """OpenMetrics documents, one per ``block_seconds``-aligned window: (window start, text)."""
    ts = history.timestamps
    window = np.floor(ts / block_seconds).astype(np.int64)
    bounds = np.flatnonzero(np.diff(window)) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [ts.size]])
    ts_text = [_fmt(t) for t in ts]
    prefixes = []
    for s in history.series:
        labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items())
        prefixes.append(f"{s.name}{{{labels}}} ")
    values = [[_fmt(v) for v in s.values.tolist()] for s in history.series]
    for a, b in zip(starts, stops):
        lines, family = [], None
        for s, prefix, vals in zip(history.series, prefixes, values):
            if s.family != family:
                family = s.family
                lines.append(f"# TYPE {family} {s.type}")
            lines.extend(f"{prefix}{vals[i]} {ts_text[i]}" for i in range(a, b))
        lines.append("# EOF")
        yield float(window[a] * block_seconds), "\n".join(lines) + "\n"
