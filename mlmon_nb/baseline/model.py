"""Training baselines: the reference statistics drift is measured against.

A baseline is built once from training data and stored as one versioned JSON file. Per numeric
feature it keeps quantile bucket edges (the ``le`` buckets of the exported ``ml_feature_value``
histogram), the fraction of training rows in each bucket, the reference CDF
(:class:`~mlmon_nb.baseline.sketch.ReferenceCDF`: ~2,000 knots, exact atoms and tails) from which KS and
Wasserstein against the full training data are computed, and summary statistics; per categorical
feature its top-k categories; the prediction class and confidence distributions; and, when
built with ``label=`` (or given one with :meth:`Baseline.with_calibration`), the reliability
curve of the confidences (:class:`~mlmon_nb.estimated.calibration.Calibration`), from which the accuracy
of live traffic is estimated before its labels arrive; and, with two or more numeric features,
their joint structure (:class:`~mlmon_nb.baseline.joint.JointModel`: standardization, principal
components and the reference distribution of the reconstruction error) for the multivariate
drift check. Its
``baseline_id`` is a hash of the content (not of the creation time), so the same data gives the
same id.

Every build goes through :class:`BaselineBuilder`: mergeable sketches (:mod:`mlmon_nb.baseline.sketch`)
fed batch by batch, so a pandas frame, a stream of record batches from files of any size
(:mod:`mlmon_nb.baseline.build`) and Dask partitions give the same kind of baseline. Up to
65,536 values per column everything is exact; beyond, ranks are within the sketch's error.

Schema version 1 files (a 5,000-value random sample per feature) still load: the sample becomes
the reference CDF, marked ``precision="sample"`` (its p-values use the sample's size). Files
whose confidence distribution and calibration are over the earlier 0.1-wide confidence buckets
(:data:`~mlmon_nb.metrics.LEGACY_CONFIDENCE_BUCKETS`, before the finer edges near 1) load with
those buckets and the same id: rows cannot be split into finer buckets, and every edge of theirs
is one of the live histogram's, so drift and the estimate compare them at their own edges.

Bucket semantics follow Prometheus: bucket ``i`` holds values ``<= edges[i]`` and above the
previous edge; the last bucket (``+Inf``) holds values above the last edge.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from ..errors import BaselineError
from ..estimated.calibration import (
    N_BUCKETS,
    Calibration,
    ScalingSums,
    bucket_counts,
    bucket_sums,
    calibration_of_sums,
    checked_confidences,
    purity,
)
from ..instrument import content_id, valid_shares
from ..metrics import (
    CONFIDENCE_BUCKETS,
    OTHER_CATEGORY,
    RESERVED_FEATURES,
    confidence_edges,
    model_name_problem,
)
from .joint import DEFAULT_VARIANCE, JointModel, RowSample, fit_joint
from .sketch import CategorySketch, QuantileSketch, ReferenceCDF, reference_from_sketch

__all__ = [
    "Baseline",
    "BaselineBuilder",
    "NumericFeature",
    "CategoricalFeature",
    "SCHEMA_VERSION",
    "quantile_edges",
    "bin_fractions",
    "read_training_data",
    "build_from_file",
]

SCHEMA_VERSION = 2
KIND = "mlmon_nb.baseline"
SAMPLE_CAP = 5000  # size of the quantile sample :attr:`NumericFeature.sample` offers
TOP_K = 20
SUMMARY_DIGITS = 10  # mean/std rounded: beyond the exact limit they are merged per batch
REBUILD = "rebuild it with `mlmon-nb baseline build`"


def _round_sig(values: np.ndarray, digits: int = 6) -> np.ndarray:
    """Round to significant digits so edges print as stable ``le`` label values."""
    out = np.asarray(values, dtype=float).copy()
    nz = (out != 0) & np.isfinite(out)
    mags = np.floor(np.log10(np.abs(out[nz])))
    scale = 10.0 ** (digits - 1 - mags)
    out[nz] = np.round(out[nz] * scale) / scale
    return out


def _edges_from_quantiles(qs: np.ndarray, first: float) -> np.ndarray:
    edges = np.unique(_round_sig(qs))
    return edges if edges.size else _round_sig(np.array([first]))


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Interior quantile edges (at most ``bins - 1``) of finite ``values``, rounded and unique."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        raise BaselineError("a numeric feature has no finite values to take quantiles of")
    return _edges_from_quantiles(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]), finite[0])


def bin_fractions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fraction of finite ``values`` in each ``le`` bucket of ``edges`` plus the ``+Inf`` one."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    counts = np.bincount(np.searchsorted(edges, finite, side="left"), minlength=edges.size + 1)
    return counts / max(finite.size, 1)


@dataclass(frozen=True, eq=False)
class NumericFeature:
    """Reference statistics of one numeric feature.

    ``reference`` is the distribution KS and Wasserstein are computed against (see
    :mod:`mlmon_nb.drift.reference`); ``n`` the finite training values behind it.
    """

    edges: np.ndarray  # interior bucket edges, ascending; buckets are le=edges..., +Inf
    fractions: np.ndarray  # len(edges) + 1 bucket fractions, summing to 1
    reference: ReferenceCDF
    n: int
    missing_share: float = 0.0
    summary: dict = field(default_factory=dict)
    legacy_sample: np.ndarray | None = None  # the random sample of a schema-1 file

    @property
    def cumulative(self) -> np.ndarray:
        """Baseline cumulative fraction at each edge (``ml_feature_baseline_ratio``)."""
        return np.cumsum(self.fractions)[:-1]

    @property
    def precision(self) -> str:
        """``exact``, ``sketch`` (within the sketch's rank error) or ``sample`` (old file)."""
        return self.reference.precision

    @property
    def sample(self) -> np.ndarray:
        """Sorted reference values: the old file's sample, else up to 5,000 evenly spaced
        quantiles of the reference CDF (for plots and callers that want values)."""
        if self.legacy_sample is not None:
            return self.legacy_sample
        size = min(self.n, SAMPLE_CAP)
        return self.reference.quantile((np.arange(size) + 0.5) / size)


@dataclass(frozen=True)
class CategoricalFeature:
    """Reference statistics of one categorical feature: its top-k categories."""

    categories: tuple[str, ...]
    fractions: np.ndarray  # one per category, then OTHER_CATEGORY
    n: int
    missing_share: float = 0.0

    @property
    def labels(self) -> tuple[str, ...]:
        """The category labels as exported, the overflow one last."""
        return self.categories + (OTHER_CATEGORY,)


@dataclass(frozen=True)
class Baseline:
    """A model's training baseline. Build with :meth:`from_frame` (or stream files with
    :func:`mlmon_nb.baseline.build.build_from_dataset`), store with :meth:`save`."""

    model_name: str
    numeric: dict[str, NumericFeature]
    categorical: dict[str, CategoricalFeature]
    prediction_classes: tuple[str, ...] = ()
    prediction_fractions: np.ndarray | None = None
    confidence_fractions: np.ndarray | None = None  # over confidence_edges, then +Inf
    n_rows: int = 0
    source: str = ""
    created_at: str = ""
    baseline_id: str = ""
    calibration: Calibration | None = None  # P(correct | confidence bucket), for estimates
    multivariate: JointModel | None = None  # the numeric features' joint structure
    # the confidence buckets' upper edges: metrics.CONFIDENCE_BUCKETS, or the
    # LEGACY_CONFIDENCE_BUCKETS of a file saved with them
    confidence_edges: tuple[float, ...] = CONFIDENCE_BUCKETS

    @property
    def features(self) -> tuple[str, ...]:
        """All feature names, numeric first."""
        return tuple(self.numeric) + tuple(self.categorical)

    def describe(self) -> pd.DataFrame:
        """One row per feature: kind, rows behind it, missing share, bins/categories, summary."""
        rows = [{"feature": k, "kind": "numeric", "n": v.n, "missing_share": v.missing_share,
                 "bins": v.edges.size + 1, "precision": v.precision,
                 "knots": v.reference.x.size, **v.summary}
                for k, v in self.numeric.items()]
        rows += [{"feature": k, "kind": "categorical", "n": v.n,
                  "missing_share": v.missing_share, "bins": len(v.labels),
                  "top": ", ".join(v.categories[:5])}
                 for k, v in self.categorical.items()]
        if self.calibration is not None:  # the curve behind the estimated accuracy
            rows.append({"feature": "confidence", "kind": "calibration", "n": self.calibration.n,
                         "bins": self.calibration.n_buckets,
                         "reference_accuracy": self.calibration.reference_accuracy,
                         "temperature": self.calibration.temperature,
                         "scaling": self.calibration.scaling,
                         "purity_slope": (self.calibration.purity_slope
                                          if self.calibration.purity_sums is not None
                                          else float("nan"))})
        if self.multivariate is not None:  # the multivariate check's reference
            joint = self.multivariate
            rows.append({"feature": "reconstruction error", "kind": "multivariate", "n": joint.n,
                         "bins": joint.edges.size + 1, "components": len(joint.components),
                         "explained": joint.explained, "mean": joint.reference_mean})
        return pd.DataFrame(rows)

    def with_calibration(self, calibration: Calibration | None) -> Baseline:
        """The same baseline with another reliability curve (e.g. fitted on a validation set
        with :func:`mlmon_nb.estimated.calibration.fit_calibration`); a new ``baseline_id``."""
        if calibration is not None and not isinstance(calibration, Calibration):
            raise BaselineError(f"with_calibration needs a Calibration, not "
                                f"{type(calibration).__name__}; fit one with fit_calibration")
        return replace(self, calibration=calibration)._with_id()

    @classmethod
    def from_frame(cls, df: pd.DataFrame, model_name: str, *, categorical: Iterable[str] = (),
                   prediction: str | None = None, confidence: str | None = None,
                   bins: int = 20, exclude: Iterable[str] = (), source: str = "",
                   top_k: int = TOP_K, label: str | None = None, scores: Iterable[str] = (),
                   variance: float | None = DEFAULT_VARIANCE) -> Baseline:
        """Build a baseline from training data in memory (the same sketches as any build).

        Every column not named categorical, prediction, confidence, label or in ``exclude`` is a
        numeric feature. ``bins`` is the number of quantile buckets per numeric feature.
        ``label`` (with ``prediction`` and ``confidence``): the true-label column; the baseline
        then carries the reliability curve (rows without a label are left out of it).
        ``scores``: every class's score column (a multiclass model's probabilities), for the
        curve's slope on the scores' purity (the service then records them too, ``scores=``).
        ``variance``: the share of the numeric features' variance the joint structure's
        components keep (None: no multivariate check).
        """
        builder = BaselineBuilder(model_name, categorical=categorical, prediction=prediction,
                                  confidence=confidence, bins=bins, exclude=exclude, top_k=top_k,
                                  label=label, scores=scores, variance=variance)
        if len(df) == 0:
            raise BaselineError("the training frame is empty")
        return builder.update_frame(df).build(source)

    # -- storage -------------------------------------------------------------------------------

    def _content(self) -> dict:
        """Everything that defines the baseline (not when it was made): what the id hashes."""
        return {
            "model_name": self.model_name,
            "n_rows": self.n_rows,
            "numeric": {k: {"edges": v.edges.tolist(), "fractions": v.fractions.tolist(),
                            "n": v.n, "missing_share": v.missing_share, "summary": v.summary,
                            "reference": v.reference.to_dict()}
                        for k, v in self.numeric.items()},
            "categorical": {k: {"categories": list(v.categories), "fractions": v.fractions.tolist(),
                                "n": v.n, "missing_share": v.missing_share}
                            for k, v in self.categorical.items()},
            "prediction": None if self.prediction_fractions is None else {
                "classes": list(self.prediction_classes),
                "fractions": self.prediction_fractions.tolist()},
            "confidence": None if self.confidence_fractions is None else {
                "edges": list(self.confidence_edges),
                "fractions": self.confidence_fractions.tolist()},
            # only when there is one: a baseline without it keeps its id and file
            **({} if self.calibration is None else {"calibration": self.calibration.to_dict()}),
            **({} if self.multivariate is None else
               {"multivariate": self.multivariate.to_dict()}),
        }

    def _with_id(self) -> Baseline:
        return replace(self, baseline_id=content_id(self._content()))

    def to_dict(self) -> dict:
        """The file's JSON document: metadata first, then the statistics; its id is its
        content's (an older file's, loaded with the id it carried, gets its own)."""
        content = self._content()
        return {"kind": KIND, "schema_version": SCHEMA_VERSION,
                "baseline_id": content_id(content), "created_at": self.created_at,
                "source": self.source,
                "features": {"numeric": list(self.numeric), "categorical": list(self.categorical)},
                **content}

    def save(self, path: str | Path) -> Path:
        """Write the baseline atomically; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=False))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        """Read a baseline file; a corrupt, truncated or foreign file is a BaselineError."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise BaselineError("no such file; build one with `mlmon-nb baseline build`",
                                str(path)) from None
        except OSError as exc:
            raise BaselineError(f"cannot be read ({exc.strerror or exc})", str(path)) from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BaselineError(f"not a valid baseline file (corrupt or truncated: {exc})",
                                str(path)) from exc
        return cls.from_dict(doc, str(path))

    @classmethod
    def from_dict(cls, doc: dict, where: str | None = None) -> Baseline:
        """Map a baseline document to a Baseline, checking version, shape and id.

        A schema-1 document (random sample per feature) is checked against its own id, then
        migrated: the sample becomes a ``precision="sample"`` reference; it keeps the file's id,
        which a service loading the file exports (``ml_model_info``), so the two name it alike
        (saved again, it is a schema-2 file with the id of its content).
        """
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise BaselineError("not an mlmon_nb baseline file", where)
        version = doc.get("schema_version")
        if version not in (1, SCHEMA_VERSION):
            raise BaselineError(f"schema version {version!r} is not supported (this mlmon_nb "
                                f"reads 1 and {SCHEMA_VERSION}); {REBUILD}", where)
        try:
            numeric = {k: _numeric_from_doc(v, version) for k, v in doc["numeric"].items()}
            cats = {k: CategoricalFeature(tuple(v["categories"]), np.array(v["fractions"], float),
                                          int(v["n"]), float(v.get("missing_share", 0.0)))
                    for k, v in doc["categorical"].items()}
            pred, conf = doc.get("prediction"), doc.get("confidence")
            base = cls(str(doc["model_name"]), numeric, cats,
                       tuple(pred["classes"]) if pred else (),
                       np.array(pred["fractions"], float) if pred else None,
                       np.array(conf["fractions"], float) if conf else None,
                       int(doc["n_rows"]), str(doc.get("source", "")), str(doc.get("created_at", "")),
                       confidence_edges=confidence_edges(conf["edges"]) if conf
                       else CONFIDENCE_BUCKETS)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BaselineError(f"malformed baseline content ({exc!r}); {REBUILD}", where) from exc
        if doc.get("calibration") is not None:
            try:
                base = replace(base, calibration=Calibration.from_dict(
                    doc["calibration"], max(2, len(base.prediction_classes))))
            except (BaselineError, AttributeError) as exc:
                reason = exc.args[0] if isinstance(exc, BaselineError) else f"malformed ({exc})"
                raise BaselineError(reason, where) from exc
        if doc.get("multivariate") is not None:  # older baselines have none: no such check
            try:
                base = replace(base, multivariate=JointModel.from_dict(doc["multivariate"]))
            except (BaselineError, AttributeError) as exc:
                raise BaselineError(str(exc.args[0]), where) from exc
        for name, feat in numeric.items():
            if (feat.fractions.size != feat.edges.size + 1 or np.any(np.diff(feat.edges) <= 0)
                    or not np.all(np.isfinite(feat.edges)) or not valid_shares(feat.fractions)
                    or feat.n < 1):
                raise BaselineError(f"feature {name!r} has inconsistent edges, fractions or "
                                    f"reference", where)
        for name, cat in cats.items():
            if (cat.fractions.size != len(cat.categories) + 1
                    or not np.all(np.isfinite(cat.fractions)) or np.any(cat.fractions < 0)):
                raise BaselineError(f"categorical feature {name!r} needs one finite, "
                                    f"non-negative fraction per category plus {OTHER_CATEGORY}",
                                    where)
        if base.confidence_fractions is not None and \
                base.confidence_fractions.size != len(base.confidence_edges) + 1:
            raise BaselineError("the confidence distribution does not match the confidence "
                                "buckets", where)
        if base.confidence_fractions is not None and not valid_shares(base.confidence_fractions):
            raise BaselineError(f"the confidence distribution's shares must be finite, "
                                f"non-negative and sum to 1; {REBUILD}", where)
        if base.n_rows < 0:
            raise BaselineError(f"n_rows {base.n_rows} is negative; {REBUILD}", where)
        if doc.get("baseline_id") != content_id(doc):
            raise BaselineError(f"content does not match its baseline_id (edited or corrupt); "
                                f"{REBUILD}", where)
        if version == 1:  # the id the file carries: the one a service serving it exports
            return replace(base, baseline_id=str(doc["baseline_id"]))
        return base._with_id()


def _numeric_from_doc(v: dict, version: int) -> NumericFeature:
    edges, fractions = np.array(v["edges"], float), np.array(v["fractions"], float)
    n, missing_share = int(v["n"]), float(v.get("missing_share", 0.0))
    summary = dict(v.get("summary", {}))
    if version == 1:
        sample = np.array(v["sample"], float)
        if sample.size == 0 or np.any(np.diff(sample) < 0) or not np.isfinite(sample).all():
            raise ValueError("the sample is empty, unsorted or not finite")
        return NumericFeature(edges, fractions, ReferenceCDF.from_sorted(sample, "sample"), n,
                              missing_share, summary, legacy_sample=sample)
    return NumericFeature(edges, fractions, ReferenceCDF.from_dict(v["reference"]), n,
                          missing_share, summary)


# -- building ------------------------------------------------------------------------------------

def _unique(columns: list[str]) -> list[str]:
    """``columns``, refused when the data names one twice (which copy would be read?)."""
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise BaselineError(f"the data names columns more than once: {repeated}; rename or "
                            f"drop the copies")
    return columns


class BaselineBuilder:
    """Accumulates training data batch by batch into mergeable sketches; :meth:`build` makes the
    :class:`Baseline`. Frames, record batches and other builders (partitions) can be mixed; the
    column roles are fixed by the first batch."""

    def __init__(self, model_name: str, *, categorical: Iterable[str] = (),
                 prediction: str | None = None, confidence: str | None = None, bins: int = 20,
                 exclude: Iterable[str] = (), top_k: int = TOP_K, label: str | None = None,
                 scores: Iterable[str] = (),
                 variance: float | None = DEFAULT_VARIANCE):
        if problem := model_name_problem(model_name):
            raise BaselineError(f"model_name {problem}: name the baseline after the model's "
                                f"model_name label")
        if bins < 2:
            raise BaselineError(f"bins must be at least 2, got {bins}")
        if top_k < 1:
            raise BaselineError(f"top_k must keep at least 1 category per feature, got {top_k} "
                                f"(with none, every value would count as {OTHER_CATEGORY!r})")
        if label and not (prediction and confidence):
            raise BaselineError("a calibration (label=) needs the prediction and confidence "
                                "columns too (prediction=, confidence=)")
        self.model_name, self.bins, self.top_k = model_name, bins, top_k
        self.categorical_names = tuple(categorical)
        self.prediction, self.confidence, self.label = prediction, confidence, label
        self.scores = tuple(scores)
        roles: dict[str, list[str]] = {}  # column -> the roles it is named for
        for role, columns in (("prediction", [prediction]), ("confidence", [confidence]),
                              ("label", [label]), ("scores", self.scores),
                              ("categorical", self.categorical_names)):
            for column in filter(None, columns):
                roles.setdefault(column, []).append(role)
        twice = {c: rs for c, rs in sorted(roles.items()) if len(rs) > 1}
        if twice:  # one column in two roles would be read as both, silently
            said = "; ".join(f"{c!r} as {' and '.join(dict.fromkeys(rs))}"
                             + (" twice" if len(set(rs)) == 1 else "") for c, rs in twice.items())
            raise BaselineError(f"a column is named for more than one role: {said}; give each "
                                f"column one role")
        if self.scores and (not label or len(self.scores) < 2):
            raise BaselineError("class scores (scores=) are for the calibration: give label= "
                                "and at least two score columns, one per class")
        self.exclude = tuple(exclude)
        self.skip: set[str | None] = {*self.categorical_names, *self.exclude, prediction,
                                      confidence, label, *self.scores}
        self.numeric_names: tuple[str, ...] | None = None
        self.rows = 0
        self.numeric: dict[str, QuantileSketch] = {}
        self.categories: dict[str, CategorySketch] = {}
        self.classes = CategorySketch()
        self.confidence_counts = np.zeros(N_BUCKETS, dtype=np.int64)
        # the reliability curve's counts: labelled rows and correct ones per confidence bucket
        self.labelled = np.zeros(N_BUCKETS, dtype=np.int64)
        self.correct = np.zeros(N_BUCKETS, dtype=np.int64)
        self.confidence_sum = np.zeros(N_BUCKETS)
        self.square_sum = np.zeros(N_BUCKETS)  # Σ confidence², Σ confidence × correct
        self.product_sum = np.zeros(N_BUCKETS)
        # with class scores, the purity sums (Calibration.purity_sums)
        self.purity_sums = np.zeros((4, N_BUCKETS)) if self.scores else None
        # with class scores, what choosing their temperature needs (ScalingSums)
        self.scaling_sums = ScalingSums.empty() if self.scores else None
        # the numeric rows the joint structure is fitted on (None: no multivariate check)
        self.variance = variance
        self.sample: RowSample | None = None

    def _roles(self, columns: list[str], dtypes: dict[str, str],
               values: Callable[[str], pd.Series]) -> tuple[str, ...]:
        """Fix the column roles on the first batch, check them on later ones; the numeric names.
        ``values`` gives a column's values, read only for the text columns to be inferred."""
        named = self.categorical_names + tuple(
            c for c in (self.prediction, self.confidence, self.label) if c) + self.scores
        missing = [c for c in (*named, *self.exclude) if c not in columns]
        roles = {*self.exclude, self.prediction, self.confidence, self.label, *self.scores}
        reserved = [c for c in columns if c in RESERVED_FEATURES and c not in roles]
        if reserved:
            raise BaselineError(f"column {reserved[0]!r} takes a name the service counts its "
                                f"own invalid inputs under; rename it, or exclude it "
                                f"(--exclude {reserved[0]})")
        if missing:
            raise BaselineError(f"columns not in the data: {missing}; have {columns}")
        if self.numeric_names is None:
            # an undeclared text or category column is categorical, as its type says
            inferred = tuple(c for c in columns if c not in self.skip
                             and dtypes[c].startswith(_CATEGORICAL_KINDS))
            for name in inferred:
                _refuse_stray_text(name, values(name))
            self.categorical_names += inferred
            self.skip.update(inferred)
            self.numeric_names = tuple(c for c in columns if c not in self.skip)
            for name in self.numeric_names:
                if dtypes[name] != "numeric":
                    raise BaselineError(f"column {name!r} is neither numeric nor text "
                                        f"({dtypes[name]}); exclude it (--exclude {name}) or "
                                        f"convert it")
            self._start()
        return self.numeric_names

    def _start(self) -> None:
        assert self.numeric_names is not None
        self.numeric = {c: QuantileSketch() for c in self.numeric_names}
        self.categories = {c: CategorySketch() for c in self.categorical_names}
        if self.variance is not None and len(self.numeric_names) >= 2:
            self.sample = RowSample(len(self.numeric_names))

    def update_frame(self, df: pd.DataFrame) -> BaselineBuilder:
        """Add a pandas frame's rows; returns self."""
        columns = _unique([str(c) for c in df.columns])
        df = df.set_axis(columns, axis=1)
        numeric_names = self._roles(columns, {c: _pandas_kind(df[c].dtype) for c in columns},
                                    df.__getitem__)
        self._rows([pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                    for name in numeric_names])
        for name in self.categorical_names + ((self.prediction,) if self.prediction else ()):
            counts = _text(df[name].dropna(), name).value_counts(sort=False)
            self._labels(name, counts.index, counts.to_numpy())
        if self.confidence:
            conf = pd.to_numeric(df[self.confidence], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan)
            self._confidences(conf)
            if self.label and self.prediction:  # a label needs both (checked at __init__)
                labelled = df[self.label].notna() & df[self.prediction].notna()
                self._outcomes(conf, labelled.to_numpy(), (
                    _text(df[self.prediction], self.prediction)
                    == _text(df[self.label], self.label)).to_numpy(),
                    [pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
                     for c in self.scores])
        self.rows += len(df)
        return self

    def update_arrow(self, batch: Any) -> BaselineBuilder:
        """Add a ``pyarrow.RecordBatch`` (or Table); returns self."""
        import pyarrow as pa  # pyarrow is a dependency; imported here to keep load() light
        import pyarrow.compute as pc
        columns = _unique([str(c) for c in batch.schema.names])
        kinds = {f.name: _arrow_kind(f.type, pa) for f in batch.schema}
        self._rows([pc.cast(batch.column(name), pa.float64()).to_numpy(zero_copy_only=False)
                    for name in self._roles(columns, kinds,
                                            lambda c: batch.column(c).to_pandas())])
        for name in self.categorical_names + ((self.prediction,) if self.prediction else ()):
            col = batch.column(name)
            if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
                col = pc.cast(col, pa.string())
            vc = pc.value_counts(col)
            labels, counts = vc.field("values"), vc.field("counts").to_numpy()
            keep = labels.is_valid().to_numpy(zero_copy_only=False)
            self._labels(name, np.asarray(labels.to_pylist(), dtype=object)[keep], counts[keep])
        if self.confidence:
            conf = pc.cast(batch.column(self.confidence), pa.float64()).to_numpy(
                zero_copy_only=False)
            self._confidences(conf)
            if self.label:
                pred, true = (pc.cast(batch.column(c), pa.string())
                              for c in (self.prediction, self.label))
                labelled = pc.and_(pred.is_valid(), true.is_valid())
                self._outcomes(conf, labelled.to_numpy(zero_copy_only=False),
                               pc.fill_null(pc.equal(pred, true), False).to_numpy(
                                   zero_copy_only=False),
                               [pc.cast(batch.column(c), pa.float64()).to_numpy(
                                   zero_copy_only=False) for c in self.scores])
        self.rows += batch.num_rows
        return self

    def _rows(self, columns: list[np.ndarray]) -> None:
        """Add a batch's numeric columns (in ``numeric_names`` order) to the sketches and the
        joint structure's sample."""
        assert self.numeric_names is not None
        arrays = [np.asarray(values, dtype=float) for values in columns]
        for name, values in zip(self.numeric_names, arrays):
            self.numeric[name].update(values[np.isfinite(values)])
        if self.sample is not None and arrays and arrays[0].size:
            self.sample.update(np.column_stack(arrays))

    def _confidences(self, conf: np.ndarray) -> None:
        """Count a batch's confidences into the distribution concept drift compares with; a
        percentage or a logit is refused (:func:`checked_confidences`), with a label or without:
        it would land in the last bucket and read as certainty."""
        conf = np.asarray(conf, dtype=float)
        checked_confidences(conf[np.isfinite(conf)])
        self.confidence_counts += bucket_counts(conf)

    def _labels(self, name: str, labels: Iterable[str], counts: np.ndarray) -> None:
        target = self.classes if name == self.prediction and name not in self.categories \
            else self.categories[name]
        target.update_counts(labels, counts)
        if name == self.prediction and name in self.categories:
            self.classes.update_counts(labels, counts)

    def _outcomes(self, confidence: np.ndarray, labelled: np.ndarray, correct: np.ndarray,
                  scores: list[np.ndarray]) -> None:
        """Add the labelled rows with a finite confidence per bucket: rows, correct ones, their
        confidence sum and the within-bucket sums (of squared confidences, of the correct ones'
        confidences); with class scores, the purity sums (a row with a missing score is left
        out)."""
        keep = np.asarray(labelled, bool)
        conf, right = confidence[keep], np.asarray(correct, bool)[keep]
        kept = np.column_stack(scores)[keep] if scores else None
        purities = None if kept is None else purity(kept)
        rows, hits, sums, squares, products, *more = bucket_sums(conf, right, purities=purities)
        if self.purity_sums is not None:
            self.purity_sums += np.array(more)
        if self.scaling_sums is not None and kept is not None:
            self.scaling_sums += ScalingSums.of(conf, right, kept, purities=purities)
        self.labelled += rows.astype(np.int64)
        self.correct += hits.astype(np.int64)
        self.confidence_sum += sums
        self.square_sum += squares
        self.product_sum += products

    def merge(self, other: BaselineBuilder) -> BaselineBuilder:
        """Add another builder's rows (a partition sketched elsewhere); returns self."""
        if other.numeric_names is None:
            return self
        if self.numeric_names is None:
            self.numeric_names = other.numeric_names
            self.categorical_names = other.categorical_names  # with the ones it inferred
            self.skip.update(other.categorical_names)
            self._start()
        if (other.numeric_names, other.categorical_names) != (self.numeric_names,
                                                              self.categorical_names):
            raise BaselineError(f"partitions have different columns: {list(self.numeric_names)} "
                                f"and {list(other.numeric_names)}")
        for name, sketch in other.numeric.items():
            self.numeric[name].merge(sketch)
        for name, cats in other.categories.items():
            self.categories[name].merge(cats)
        self.classes.merge(other.classes)
        self.confidence_counts += other.confidence_counts
        self.labelled += other.labelled
        self.correct += other.correct
        self.confidence_sum += other.confidence_sum
        self.square_sum += other.square_sum
        self.product_sum += other.product_sum
        if self.purity_sums is not None and other.purity_sums is not None:
            self.purity_sums += other.purity_sums
        if self.scaling_sums is not None and other.scaling_sums is not None:
            self.scaling_sums += other.scaling_sums
        if self.sample is not None and other.sample is not None:
            self.sample.merge(other.sample)
        self.rows += other.rows
        return self

    def build(self, source: str = "") -> Baseline:
        """The baseline of every row added so far."""
        if self.rows == 0 or self.numeric_names is None:
            raise BaselineError("the training frame is empty")
        numeric = {name: _numeric_feature(self.numeric[name], name, self.bins, self.rows)
                   for name in self.numeric_names}
        cats = {}
        for name in self.categorical_names:
            sk = self.categories[name]
            if sk.n == 0:  # as a numeric column without a finite value
                raise BaselineError(f"categorical column {name!r} has no values; exclude it "
                                    f"(--exclude {name}) or fix the data")
            top = sk.top(self.top_k)
            total = max(sk.n, 1)
            counts = np.array([c for _, c in top], dtype=float)
            fr = np.append(counts / total, (total - counts.sum()) / total if sk.n else 0.0)
            cats[name] = CategoricalFeature(tuple(label for label, _ in top), fr, int(sk.n),
                                            float(1 - sk.n / self.rows))
        classes: tuple[str, ...] = ()
        pfr: np.ndarray | None = None
        cfr: np.ndarray | None = None
        if self.prediction:
            pairs = sorted(self.classes.top(None))
            classes = tuple(label for label, _ in pairs)
            pfr = np.array([c for _, c in pairs], dtype=float) / max(self.classes.n, 1)
        if self.confidence:
            total = int(self.confidence_counts.sum())
            if total == 0:
                raise BaselineError(f"confidence column {self.confidence!r} has no numeric values")
            cfr = self.confidence_counts / total
        calibration = None
        if self.label:
            if self.labelled.sum() == 0:
                raise BaselineError(f"label column {self.label!r} has no labelled rows with a "
                                    f"prediction ({self.prediction!r}) and a confidence "
                                    f"({self.confidence!r}) to calibrate on")
            sums: tuple[np.ndarray, ...] = (
                self.labelled.astype(float), self.correct.astype(float), self.confidence_sum,
                self.square_sum, self.product_sum,
                *(() if self.purity_sums is None else self.purity_sums))
            count = max(2, len(self.scores) or len(classes))
            calibration = (calibration_of_sums(sums, CONFIDENCE_BUCKETS, count)
                           if self.scaling_sums is None else
                           self.scaling_sums.calibration(sums, CONFIDENCE_BUCKETS, count))
        joint = None
        if self.sample is not None and self.variance is not None:
            joint = fit_joint(self.numeric_names, self.sample.rows, variance=self.variance,
                              bins=self.bins, edges_of=quantile_edges, fractions_of=bin_fractions)
        created = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
        base = Baseline(self.model_name, numeric, cats, classes, pfr, cfr, self.rows, source,
                        created, calibration=calibration, multivariate=joint)
        return base._with_id()


# column types read as categories when not declared (pandas and pyarrow spellings)
_CATEGORICAL_KINDS = ("object", "string", "str", "category", "large_string", "dictionary")


# an undeclared text column this much of whose values are numbers is a numeric column with
# stray text (a CSV's "?", "unknown" or "-"), not a category
STRAY_TEXT_SHARE = 0.9


def _refuse_stray_text(name: str, values: pd.Series) -> None:
    """BaselineError where a text column is numbers but for a few cells: read as categories, its
    numbers would each be a category and its drift measured as such, without a word."""
    present = values.dropna()
    numbers = pd.to_numeric(present, errors="coerce")
    stray = present[numbers.isna()]
    if len(present) and 0 < len(stray) <= (1 - STRAY_TEXT_SHARE) * len(present):
        examples = ", ".join(repr(str(v))[:40] for v in stray.astype(str).unique()[:5])
        raise BaselineError(
            f"column {name!r} is numbers but for {len(stray)} of {len(present)} values "
            f"({examples}): make those missing (pandas.to_numeric(df[{name!r}], "
            f"errors='coerce'), or NaN in the file) to keep it numeric, or declare it "
            f"categorical (--categorical {name}) if its values are categories")


def _pandas_kind(dtype: Any) -> str:
    """"numeric" for real numbers (bool, integers, floats), else the dtype's name: text kinds
    are categorical, the rest (dates, durations, complex) refused as in Arrow data."""
    if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype) \
            or pd.api.types.is_string_dtype(dtype):
        return str(dtype)
    if pd.api.types.is_bool_dtype(dtype) or (pd.api.types.is_numeric_dtype(dtype)
                                             and not pd.api.types.is_complex_dtype(dtype)):
        return "numeric"  # bool[pyarrow] is no numeric dtype to pandas
    return str(dtype)


def _text(values: pd.Series, name: str) -> pd.Series:
    """``values`` as text; bytes that are not UTF-8 are a BaselineError naming the column."""
    try:
        return values.astype(str)
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise BaselineError(f"column {name!r} holds bytes that are not UTF-8 text ({exc.reason} "
                            f"in {exc.object[exc.start:exc.end]!r}): decode it to text first, "
                            f"or exclude it (--exclude {name})") from None


def _arrow_kind(typ: Any, pa: Any) -> str:
    numeric = (pa.types.is_integer(typ) or pa.types.is_floating(typ)
               or pa.types.is_boolean(typ) or pa.types.is_decimal(typ) or pa.types.is_null(typ))
    return "numeric" if numeric else str(typ)


def _numeric_feature(sketch: QuantileSketch, name: str, bins: int, rows: int) -> NumericFeature:
    """Reference statistics of one sketched column; NaN/inf were dropped and count as missing."""
    if sketch.n == 0:
        raise BaselineError(f"numeric column {name!r} has no finite values; exclude it or fix "
                            f"the data")
    first = float(sketch.low[0]) if sketch.low.size else float(sketch.min)
    edges = _edges_from_quantiles(sketch.quantiles(np.linspace(0, 1, bins + 1)[1:-1]), first)
    _, le = sketch.counts_at(edges)
    fractions = np.diff(np.concatenate([[0.0], le, [float(sketch.n)]])) / sketch.n
    qs = sketch.quantiles(np.array([0.01, 0.25, 0.5, 0.75, 0.99]))
    with np.errstate(over="ignore", invalid="ignore"):  # judged below
        if sketch.is_exact:  # from the sorted values: independent of batches and partitions
            items = sketch.weighted()[0]
            moments = np.array([items.mean(), items.std()])
        else:
            moments = np.array([sketch.mean, sketch.std])
        mean, std = _round_sig(moments, SUMMARY_DIGITS)
    if not (math.isfinite(mean) and math.isfinite(std)):  # Σx or Σx² beyond float range
        raise BaselineError(f"numeric column {name!r} has values too large to compute their "
                            f"mean and spread in floating point (from {float(sketch.min):.3g} "
                            f"to {float(sketch.max):.3g}): rescale it (e.g. to other units) or "
                            f"exclude it (--exclude {name})")
    summary = {"mean": float(mean), "std": float(std), "min": float(sketch.min),
               "max": float(sketch.max), "p01": float(qs[0]), "p25": float(qs[1]),
               "p50": float(qs[2]), "p75": float(qs[3]), "p99": float(qs[4])}
    reference = reference_from_sketch(sketch)
    sketch.drop_view()
    return NumericFeature(edges=edges, fractions=fractions, reference=reference,
                          n=int(sketch.n), missing_share=float(1 - sketch.n / max(rows, 1)),
                          summary=summary)


def read_training_data(path: str | Path) -> pd.DataFrame:
    """Training data from a ``.parquet`` or ``.csv`` file; anything else is a BaselineError."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise BaselineError(f"cannot read {suffix or 'a file without extension'}; give a .parquet "
                            f"or .csv file", str(path))
    if not path.is_file():
        raise BaselineError("no such training data file", str(path))
    try:
        return pd.read_parquet(path) if suffix in (".parquet", ".pq") else pd.read_csv(path)
    except ImportError as exc:  # pragma: no cover - pyarrow is a dependency
        raise BaselineError(f"reading parquet needs pyarrow (pip install pyarrow): {exc}",
                            str(path)) from exc
    except Exception as exc:  # parser errors of either format, named with the file
        raise BaselineError(f"cannot be read as {suffix[1:]} ({type(exc).__name__}: {exc})",
                            str(path)) from exc


def build_from_file(path: str | Path, model_name: str, **options: Any) -> Baseline:
    """:meth:`Baseline.from_frame` over a training data file; ``source`` records the file."""
    frame = read_training_data(path)
    try:
        return Baseline.from_frame(frame, model_name, source=str(Path(path).resolve()), **options)
    except BaselineError as exc:
        raise BaselineError(str(exc), str(path)) from exc
