"""A training baseline read for serving: what :class:`ModelMonitor` needs, with the standard
library only.

:class:`mlmon_nb.Baseline` (numpy, pandas) builds and analyses baselines; a model service needs
only the bucket edges, the cumulative fractions, the top categories and the id of the same file.
:func:`load_baseline` reads them and checks the file as ``Baseline.load`` does (kind, schema
version, consistent shapes, content matching its ``baseline_id``), so a service can load its
baseline from a base install (``pip install mlmon_nb``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import astuple, dataclass, replace
from itertools import accumulate
from pathlib import Path
from typing import Any, Iterable

from .. import metrics as m
from ..errors import BaselineError
from ..estimated.reliability import (
    MAX_STDERR,
    METHOD,
    PURITY_KEYS,
    checked_classes,
    fit_gaps,
    fit_slope,
    mean_confidences,
    mean_purities,
    offsets,
)
from ..estimated.scaling import checked_scaling, with_scaling_stderr
from ._reconstruction import JointStructure

__all__ = ["ServingBaseline", "ServingNumeric", "ServingCategorical", "load_baseline",
           "serving_of", "baseline_series", "content_id", "valid_shares", "CONTENT_KEYS",
           "OPTIONAL_CONTENT_KEYS"]

KIND = "mlmon_nb.baseline"  # as written by mlmon_nb.baseline
SCHEMA_VERSIONS = (1, 2)  # as written by mlmon_nb.baseline (2: reference CDFs; 1: samples)


@dataclass(frozen=True)
class ServingNumeric:
    """A numeric feature's ``le`` bucket edges, the baseline's cumulative share at each, and how
    many values it counted."""

    edges: tuple[float, ...]
    cumulative: tuple[float, ...]
    n: int = 0


@dataclass(frozen=True)
class ServingCategorical:
    """A categorical feature's top categories (others are exported as ``__other__``)."""

    categories: tuple[str, ...]


@dataclass(frozen=True)
class ServingBaseline:
    """The serving side of a baseline file: enough for ``ModelMonitor(baseline=...)``."""

    model_name: str
    baseline_id: str
    numeric: dict[str, ServingNumeric]
    categorical: dict[str, ServingCategorical]
    n_rows: int = 0
    # over confidence_edges, then +Inf; None without a confidence column
    confidence_fractions: tuple[float, ...] | None = None
    # the reliability curve's shrunk gap per confidence bucket; None without a calibration
    calibration_gap: tuple[float, ...] | None = None
    # the standard error of each gap (same buckets)
    calibration_gap_stderr: tuple[float, ...] | None = None
    # the piecewise-linear curve: accuracy = slope × confidence + offset in each bucket
    calibration_offset: tuple[float, ...] | None = None
    calibration_slope: float = 1.0
    # the labelled reference rows per confidence bucket
    calibration_rows: tuple[float, ...] | None = None
    # the numeric features' joint structure (the multivariate check); None in older baselines
    joint: JointStructure | None = None
    # the confidence buckets' upper edges of the confidence shares and of the calibration:
    # metrics.CONFIDENCE_BUCKETS, or the LEGACY_CONFIDENCE_BUCKETS of a file saved with them
    confidence_edges: tuple[float, ...] = m.CONFIDENCE_BUCKETS
    calibration_edges: tuple[float, ...] = m.CONFIDENCE_BUCKETS
    # fitted with the class scores (else None): the curve's slope on their purity, the reference
    # rows' mean confidence and purity per bucket, and the slopes' covariance (SLOPE_COVARIANCE_TERMS)
    calibration_purity_slope: float | None = None
    calibration_mean: tuple[float, ...] | None = None
    calibration_mean_purity: tuple[float, ...] | None = None
    calibration_slope_covariance: tuple[float, float, float] | None = None
    # the temperature each prediction's class scores are scaled by before the curve (1: none),
    # and the model's classes (how a prediction without its scores is scaled)
    calibration_scaling: float = 1.0
    calibration_classes: int = 2

    @property
    def features(self) -> tuple[str, ...]:
        """All feature names, numeric first."""
        return tuple(self.numeric) + tuple(self.categorical)


# What a baseline's id hashes: the document without its metadata (kind, version, id, when and
# from what it was made). One definition, for the service's loader and for mlmon_nb.Baseline.
CONTENT_KEYS = ("model_name", "n_rows", "numeric", "categorical", "prediction", "confidence")
# Content hashed only when present, so a baseline without it keeps the id it always had: the
# reliability curve of a labelled validation set (``mlmon_nb.estimated.calibration``),
# and the numeric features' joint structure (``mlmon_nb.baseline.joint``).
OPTIONAL_CONTENT_KEYS = ("calibration", "multivariate")


def content_id(doc: dict) -> str:
    """The ``baseline_id`` a baseline document's content hashes to."""
    content = {k: doc.get(k) for k in CONTENT_KEYS}
    content.update({k: doc[k] for k in OPTIONAL_CONTENT_KEYS if doc.get(k) is not None})
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def _floats(values: Any) -> list[float]:
    return [float(v) for v in values]


def load_baseline(path: str | Path) -> ServingBaseline:
    """Read a baseline file for serving; a missing, corrupt, edited or foreign file is a
    :class:`~mlmon_nb.errors.BaselineError` naming the file."""
    where = str(path)
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise BaselineError("no such file; build one with `mlmon-nb baseline build`",
                            where) from None
    except OSError as exc:
        raise BaselineError(f"cannot be read ({exc.strerror or exc})", where) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BaselineError(f"not a valid baseline file (corrupt or truncated: {exc})",
                            where) from exc
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise BaselineError("not an mlmon_nb baseline file", where)
    if doc.get("schema_version") not in SCHEMA_VERSIONS:
        raise BaselineError(f"schema version {doc.get('schema_version')!r} is not supported "
                            f"(this mlmon_nb reads {SCHEMA_VERSIONS}); rebuild the baseline with "
                            f"`mlmon-nb baseline build`", where)
    if doc.get("baseline_id") != content_id(doc):
        raise BaselineError("content does not match its baseline_id (edited or corrupt); "
                            "rebuild the baseline with `mlmon-nb baseline build`", where)
    try:
        return _serving(doc, where)
    except BaselineError as exc:  # already says what is wrong; name the file once
        if exc.path is not None:
            raise
        raise BaselineError(str(exc), where) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineError(f"malformed baseline content ({exc!r})", where) from exc


def valid_shares(fractions: Iterable[float]) -> bool:
    """Whether ``fractions`` are a distribution's shares: finite, non-negative, summing to 1.
    One definition, for the service's loader and for mlmon_nb.Baseline."""
    values = [float(f) for f in fractions]
    return (all(math.isfinite(f) and f >= 0 for f in values)
            and math.isclose(sum(values), 1.0, abs_tol=1e-6))


def _serving(doc: dict, where: str) -> ServingBaseline:
    numeric = {}
    for name, v in doc["numeric"].items():
        edges, fractions = _floats(v["edges"]), _floats(v["fractions"])
        n = int(v["n"])
        if (len(fractions) != len(edges) + 1 or any(b <= a for a, b in zip(edges, edges[1:]))
                or not all(map(math.isfinite, edges)) or not valid_shares(fractions) or n < 1):
            raise BaselineError(f"feature {name!r} has inconsistent edges, fractions or "
                                f"reference", where)
        numeric[name] = ServingNumeric(tuple(edges), tuple(accumulate(fractions))[:-1], n)
    categorical = {name: ServingCategorical(tuple(str(c) for c in v["categories"]))
                   for name, v in doc["categorical"].items()}
    for name, v in doc["categorical"].items():
        shares = _floats(v["fractions"])
        if (len(shares) != len(v["categories"]) + 1
                or not all(math.isfinite(f) and f >= 0 for f in shares)):
            raise BaselineError(f"categorical feature {name!r} needs one finite, non-negative "
                                f"fraction per category plus {m.OTHER_CATEGORY}", where)
    confidence = doc.get("confidence")
    conf_fractions = None if confidence is None else tuple(_floats(confidence["fractions"]))
    conf_edges = m.CONFIDENCE_BUCKETS if confidence is None else _edges(confidence, where)
    if conf_fractions is not None and len(conf_fractions) != len(conf_edges) + 1:
        raise BaselineError("the confidence distribution does not match the confidence buckets",
                            where)
    if conf_fractions is not None and not valid_shares(conf_fractions):
        raise BaselineError("the confidence distribution's shares must be finite, non-negative "
                            "and sum to 1; rebuild it with `mlmon-nb baseline build`", where)
    if int(doc.get("n_rows") or 0) < 0:
        raise BaselineError(f"n_rows {int(doc['n_rows'])} is negative; rebuild it with "
                            f"`mlmon-nb baseline build`", where)
    predicted = max(2, len((doc.get("prediction") or {}).get("classes") or ()))
    scaling, classes = _scaling(doc.get("calibration"), where, predicted)  # before the refit
    calibration = _calibration(doc.get("calibration"), predicted)
    cal_edges = m.CONFIDENCE_BUCKETS if calibration is None else _edges(calibration, where)
    gap = None if calibration is None else tuple(_floats(calibration["gap"]))
    stderr = None if calibration is None else tuple(_floats(calibration["gap_stderr"]))
    if gap is not None and (len(gap) != len(cal_edges) + 1 or stderr is None
                            or len(stderr) != len(gap)):
        raise BaselineError("the calibration does not match the confidence buckets", where)
    # a migrated calibration: the id of the migrated content, as mlmon_nb.Baseline reports it
    baseline_id = (str(doc["baseline_id"]) if calibration is doc.get("calibration")
                   else content_id({**doc, "calibration": calibration}))
    offset, slope, scored = ((None, 1.0, ScoredCurve()) if calibration is None or gap is None
                             else _linear(calibration, gap))
    rows = None if calibration is None else tuple(_floats(calibration["counts"]))
    return replace(ServingBaseline(str(doc["model_name"]), baseline_id, numeric, categorical,
                                   int(doc.get("n_rows") or 0), conf_fractions, gap, stderr,
                                   offset, slope, rows, _joint(doc.get("multivariate"), where),
                                   conf_edges, cal_edges, *astuple(scored)),
                   calibration_scaling=scaling, calibration_classes=classes)


def _scaling(calibration: dict | None, where: str, predicted: int) -> tuple[float, int]:
    """A calibration entry's scaling temperature (1 where it has none) and classes (``predicted``
    where it does not say), refused here as ``Calibration`` refuses them."""
    if calibration is None:
        return 1.0, 2
    try:
        scaling, _, _ = checked_scaling(
            calibration.get("scaling", 1.0), calibration.get("scaling_stderr"),
            calibration.get("scaling_sensitivity"), len(calibration["counts"]),
            calibration.get("purity") is not None)
        return scaling, checked_classes(calibration.get("classes", predicted))
    except ValueError as exc:
        raise BaselineError(str(exc), where) from None


def _edges(entry: dict, where: str) -> tuple[float, ...]:
    """The confidence edges of a ``confidence`` or ``calibration`` entry: the current buckets
    or the earlier 0.1-wide ones (a file saved with them keeps them)."""
    try:
        return m.confidence_edges(entry["edges"])
    except ValueError as exc:
        raise BaselineError(f"{exc}; rebuild the baseline with `mlmon-nb baseline build`",
                            where) from None


@dataclass(frozen=True)
class ScoredCurve:
    """What a curve fitted with the class scores exports beyond the others (None without)."""

    purity_slope: float | None = None
    mean: tuple[float, ...] | None = None
    mean_purity: tuple[float, ...] | None = None
    slope_covariance: tuple[float, float, float] | None = None


def _linear(calibration: dict, gap: tuple[float, ...]
            ) -> tuple[tuple[float, ...], float, ScoredCurve]:
    """The per-bucket offsets, the common slope and, fitted with the class scores, the rest of
    the scored curve of a calibration entry, as ``Calibration`` computes them."""
    counts, sums = _floats(calibration["counts"]), _floats(calibration["confidence_sum"])
    within = [None if calibration.get(k) is None else _floats(calibration[k])
              for k in ("square_sum", "product_sum")]
    scores = calibration.get("purity")
    purity = None if scores is None else [_floats(scores[k]) for k in PURITY_KEYS]
    slopes = fit_slope(counts, _floats(calibration["correct"]), sums, within[0], within[1],
                       purity)
    mean = mean_confidences(counts, sums, m.confidence_edges(calibration["edges"]))
    mean_purity = None if purity is None else mean_purities(counts, purity[0], mean)
    scored = (ScoredCurve() if mean_purity is None else
              ScoredCurve(slopes.purity, tuple(mean), tuple(mean_purity), slopes.covariance))
    return (tuple(offsets(gap, mean, slopes.slope, slopes.purity, mean_purity)), slopes.slope,
            scored)


def _joint(doc: dict | None, where: str) -> JointStructure | None:
    """The serving view of a ``multivariate`` entry (``mlmon_nb.baseline.joint.JointModel``)."""
    if doc is None:
        return None
    features = tuple(str(f) for f in doc["features"])
    components = tuple(tuple(_floats(row)) for row in doc["components"])
    fractions = _floats(doc["fractions"])
    joint = JointStructure(features, tuple(_floats(doc["mean"])), tuple(_floats(doc["scale"])),
                           components, tuple(_floats(doc["edges"])),
                           tuple(accumulate(fractions))[:-1], int(doc["n"]),
                           tuple(_floats(doc["residual"])), float(doc["reference_mean"]),
                           float(doc["reference_std"]))
    d = len(features)
    if (len(joint.mean) != d or len(joint.scale) != d or any(s <= 0 for s in joint.scale)
            or any(len(row) != d for row in components) or len(joint.residual) != d
            or len(fractions) != len(joint.edges) + 1):
        raise BaselineError("the multivariate entry has inconsistent shapes; rebuild the "
                            "baseline with `mlmon-nb baseline build`", where)
    return joint


def _calibration(doc: dict | None, classes: int) -> dict | None:
    """A calibration entry; one of another fit (another ``method``) refitted from its counts,
    as ``Calibration.from_dict`` and ``to_dict`` do (``classes``: the model's, where the entry
    does not say: the baseline's predicted classes)."""
    if doc is None:
        return None
    try:  # refused here as the library refuses it, whether the entry is refitted or not
        classes = checked_classes(doc.get("classes", classes))
    except ValueError as exc:
        raise BaselineError(str(exc)) from None
    counts, correct, sums = (_floats(doc[k]) for k in ("counts", "correct", "confidence_sum"))
    if not all(math.isfinite(c) and math.isfinite(r) and math.isfinite(s) and 0 <= r <= c
               and 0 <= s <= c * 1.000001 for c, r, s in zip(counts, correct, sums)):
        raise BaselineError("calibration counts must be finite and non-negative, with at most as "
                            "many correct rows as rows per bucket and confidences in [0, 1]; "
                            "rebuild the baseline with label=")
    gap, stderr, _ = fit_gaps(counts, correct, sums, _floats(doc["edges"]), classes)
    if doc.get("scaling", 1.0) != 1.0:  # its temperature's uncertainty, as Calibration adds it
        stderr = with_scaling_stderr(stderr, counts, _floats(doc["scaling_sensitivity"]),
                                     float(doc["scaling_stderr"]), MAX_STDERR)
    if doc.get("method") == METHOD:  # its gaps must be its counts' (Calibration.from_dict)
        stored = (_floats(doc["gap"]), _floats(doc["gap_stderr"]))
        if not all(len(a) == len(b) and all(abs(x - y) <= 1e-9 + 1e-5 * abs(y)
                                            for x, y in zip(a, b))
                   for a, b in zip(stored, (gap, stderr))):
            raise BaselineError("the baseline's calibration gaps do not match its counts; the "
                                "file was edited or is corrupt; rebuild the baseline")
        return doc
    return {"method": METHOD, "edges": _floats(doc["edges"]), "classes": classes,
            "counts": counts, "correct": correct, "confidence_sum": sums,
            "gap": gap, "gap_stderr": stderr,
            **{k: doc[k] for k in ("square_sum", "product_sum", "purity", "scaling",
                                   "scaling_stderr", "scaling_sensitivity")
               if doc.get(k) is not None}}


def serving_of(baseline: Any) -> ServingBaseline:
    """The serving view of a baseline: a :class:`ServingBaseline` as it is, or one read off an
    ``mlmon_nb.Baseline`` (or anything with its attributes: per numeric feature ``edges`` and
    ``cumulative``, optionally ``n``)."""
    if isinstance(baseline, ServingBaseline):
        return baseline
    numeric = {}
    for feature, spec in baseline.numeric.items():
        numeric[feature] = ServingNumeric(tuple(_floats(spec.edges)),
                                          tuple(_floats(spec.cumulative)),
                                          int(getattr(spec, "n", 0)))
    categorical = {feature: ServingCategorical(tuple(str(c) for c in spec.categories))
                   for feature, spec in baseline.categorical.items()}
    conf = getattr(baseline, "confidence_fractions", None)
    calibration = getattr(baseline, "calibration", None)
    joint = getattr(baseline, "multivariate", None)
    return replace(ServingBaseline(
        str(getattr(baseline, "model_name", "")), str(getattr(baseline, "baseline_id", "")),
        numeric, categorical, int(getattr(baseline, "n_rows", 0) or 0),
        None if conf is None else tuple(_floats(conf)),
        None if calibration is None else tuple(_floats(calibration.gap)),
        None if calibration is None else tuple(_floats(calibration.gap_stderr)),
        None if calibration is None else tuple(_floats(calibration.offset)),
        1.0 if calibration is None else float(calibration.slope),
        None if calibration is None else tuple(_floats(calibration.counts)),
        None if joint is None else joint.serving(),
        tuple(getattr(baseline, "confidence_edges", m.CONFIDENCE_BUCKETS)),
        tuple(getattr(calibration, "bucket_edges", m.CONFIDENCE_BUCKETS)),
        *astuple(_scored(calibration))),
        calibration_scaling=float(getattr(calibration, "scaling", 1.0)),
        calibration_classes=int(getattr(calibration, "classes", 2)))


def _scored(calibration: Any) -> ScoredCurve:
    """The scored part of an ``mlmon_nb.estimated.calibration.Calibration`` (or none)."""
    if calibration is None or calibration.mean_purity is None:
        return ScoredCurve()
    return ScoredCurve(float(calibration.purity_slope),
                       tuple(_floats(calibration.mean_confidence)),
                       tuple(_floats(calibration.mean_purity)),
                       calibration.slopes.covariance)


def _bins(edges: tuple[float, ...]) -> list[tuple[str, str]]:
    """Each bin's ``(le, lower)`` labels: its upper edge as the histogram writes it, and the
    upper edge of the bin below (``-Inf`` for the first), so rules can difference cumulative
    buckets without knowing the edges."""
    uppers = [m.le_label(e) for e in edges] + ["+Inf"]
    return list(zip(uppers, ["-Inf", *uppers[:-1]]))


def baseline_series(baseline: ServingBaseline, model_version: str = ""
                    ) -> list[tuple[m.MetricSpec, tuple[str, ...], float]]:
    """Every series a service exports from its baseline, as ``(metric, label values, value)``,
    labelled with the ``model_version`` it serves: a canary retrained on other data has its own
    baseline, and the rules judge each version against its own.

    What the label-generic rules join on instead of literals: per numeric feature its cumulative
    share at each bucket edge with the edge below (``ml_feature_baseline_ratio``: KS, and PSI's
    bins) and its value count (the critical values' m); the same for the confidences (concept
    drift); the calibration gap, its standard error and the piecewise-linear curve's offset per
    confidence bucket, and its slope (estimated accuracy and its band), and the labelled rows
    per bucket (the share of a window on a thin curve); with a joint structure, the reference
    error's cumulative shares and its row count (the multivariate KS), its mean and standard
    deviation (the mean test) and each feature's mean squared residual. One definition for
    the service, the synthetic history and the tests.
    """
    name, version = baseline.model_name, str(model_version)
    out: list[tuple[m.MetricSpec, tuple[str, ...], float]] = []
    for feature, spec in baseline.numeric.items():
        for (le, lower), cum in zip(_bins(spec.edges), (*spec.cumulative, 1.0)):
            out.append((m.FEATURE_BASELINE_RATIO, (name, version, feature, le, lower), float(cum)))
        out.append((m.FEATURE_BASELINE_VALUES, (name, version, feature), float(spec.n)))
    if baseline.confidence_fractions is not None:
        for (le, lower), cum in zip(_bins(baseline.confidence_edges),
                                    accumulate(baseline.confidence_fractions)):
            out.append((m.CONFIDENCE_BASELINE_RATIO, (name, version, le, lower),
                        1.0 if le == "+Inf" else cum))
        out.append((m.CONFIDENCE_BASELINE_VALUES, (name, version), float(baseline.n_rows)))
    bins = _bins(baseline.calibration_edges)
    if baseline.calibration_gap is not None:
        for (le, lower), gap in zip(bins, baseline.calibration_gap):
            out.append((m.CALIBRATION_GAP, (name, version, le, lower), float(gap)))
    if baseline.calibration_gap_stderr is not None:
        for (le, lower), se in zip(bins, baseline.calibration_gap_stderr):
            out.append((m.CALIBRATION_GAP_STDERR, (name, version, le, lower), float(se)))
    if baseline.calibration_offset is not None:
        for (le, lower), offset in zip(bins, baseline.calibration_offset):
            out.append((m.CALIBRATION_OFFSET, (name, version, le, lower), float(offset)))
        out.append((m.CALIBRATION_SLOPE, (name, version), float(baseline.calibration_slope)))
        if baseline.calibration_purity_slope is not None:
            out.append((m.CALIBRATION_PURITY_SLOPE, (name, version),
                        float(baseline.calibration_purity_slope)))
        for family, values in ((m.CALIBRATION_MEAN, baseline.calibration_mean),
                               (m.CALIBRATION_MEAN_PURITY, baseline.calibration_mean_purity)):
            for (le, lower), value in zip(bins, values or ()):
                out.append((family, (name, version, le, lower), float(value)))
        for term, value in zip(m.SLOPE_COVARIANCE_TERMS,
                               baseline.calibration_slope_covariance or ()):
            out.append((m.CALIBRATION_SLOPE_COVARIANCE, (name, version, term), float(value)))
        if baseline.calibration_scaling != 1.0:
            out.append((m.CALIBRATION_SCALING, (name, version), float(baseline.calibration_scaling)))
    if baseline.calibration_rows is not None:
        for (le, lower), rows in zip(bins, baseline.calibration_rows):
            out.append((m.CALIBRATION_ROWS, (name, version, le, lower), float(rows)))
    joint = baseline.joint
    if joint is not None:
        for (le, lower), cum in zip(_bins(joint.edges), (*joint.cumulative, 1.0)):
            out.append((m.RECONSTRUCTION_BASELINE_RATIO, (name, version, le, lower), float(cum)))
        out.append((m.RECONSTRUCTION_BASELINE_VALUES, (name, version), float(joint.n)))
        out.append((m.RECONSTRUCTION_BASELINE_MEAN, (name, version), float(joint.reference_mean)))
        out.append((m.RECONSTRUCTION_BASELINE_STDDEV, (name, version), float(joint.reference_std)))
        for feature, residual in zip(joint.features, joint.residual):
            out.append((m.FEATURE_RESIDUAL_BASELINE, (name, version, feature), float(residual)))
    return out
