"""Training baselines: the reference statistics drift is measured against.

A baseline is built once from training data and stored as one versioned, human-readable JSON
file. Per numeric feature it keeps quantile bucket edges (the ``le`` buckets of the exported
``ml_feature_value`` histogram), the fraction of training rows in each bucket, a capped sorted
sample for exact tests, and summary statistics; per categorical feature its top-k categories;
and the prediction class and confidence distributions. Its ``baseline_id`` is a hash of the
content (not of the creation time), so the same data gives the same id.

Bucket semantics follow Prometheus: bucket ``i`` holds values ``<= edges[i]`` and above the
previous edge; the last bucket (``+Inf``) holds values above the last edge.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .errors import BaselineError
from .metrics import CONFIDENCE_BUCKETS, OTHER_CATEGORY

__all__ = [
    "Baseline",
    "NumericFeature",
    "CategoricalFeature",
    "SCHEMA_VERSION",
    "quantile_edges",
    "bin_fractions",
    "read_training_data",
    "build_from_file",
]

SCHEMA_VERSION = 1
KIND = "mlmon_nb.baseline"
SAMPLE_CAP = 5000
TOP_K = 20


def _round_sig(values: np.ndarray, digits: int = 6) -> np.ndarray:
    """Round to significant digits so edges print as stable ``le`` label values."""
    out = np.asarray(values, dtype=float).copy()
    nz = out != 0
    mags = np.floor(np.log10(np.abs(out[nz])))
    scale = 10.0 ** (digits - 1 - mags)
    out[nz] = np.round(out[nz] * scale) / scale
    return out


def quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Interior quantile edges (at most ``bins - 1``) of finite ``values``, rounded and unique."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        raise BaselineError("a numeric feature has no finite values to take quantiles of")
    qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(_round_sig(qs))
    if edges.size == 0:
        edges = _round_sig(np.array([finite[0]]))
    return edges


def bin_fractions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Fraction of finite ``values`` in each ``le`` bucket of ``edges`` plus the ``+Inf`` one."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    counts = np.bincount(np.searchsorted(edges, finite, side="left"), minlength=edges.size + 1)
    return counts / max(finite.size, 1)


@dataclass(frozen=True)
class NumericFeature:
    """Reference statistics of one numeric feature."""

    edges: np.ndarray  # interior bucket edges, ascending; buckets are le=edges..., +Inf
    fractions: np.ndarray  # len(edges) + 1 bucket fractions, summing to 1
    sample: np.ndarray  # sorted, capped sample of the training values, for exact tests
    n: int
    missing_share: float = 0.0
    summary: dict = field(default_factory=dict)

    @property
    def cumulative(self) -> np.ndarray:
        """Baseline cumulative fraction at each edge (``ml_feature_baseline_ratio``)."""
        return np.cumsum(self.fractions)[:-1]


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
    """A model's training baseline. Build with :meth:`from_frame`, store with :meth:`save`."""

    model_name: str
    numeric: dict[str, NumericFeature]
    categorical: dict[str, CategoricalFeature]
    prediction_classes: tuple[str, ...] = ()
    prediction_fractions: np.ndarray | None = None
    confidence_fractions: np.ndarray | None = None  # over metrics.CONFIDENCE_BUCKETS, then +Inf
    n_rows: int = 0
    source: str = ""
    created_at: str = ""
    baseline_id: str = ""

    @property
    def features(self) -> tuple[str, ...]:
        """All feature names, numeric first."""
        return tuple(self.numeric) + tuple(self.categorical)

    def describe(self) -> pd.DataFrame:
        """One row per feature: kind, rows behind it, missing share, bins/categories, summary."""
        rows = [{"feature": k, "kind": "numeric", "n": v.n, "missing_share": v.missing_share,
                 "bins": v.edges.size + 1, "sample": v.sample.size, **v.summary}
                for k, v in self.numeric.items()]
        rows += [{"feature": k, "kind": "categorical", "n": v.n,
                  "missing_share": v.missing_share, "bins": len(v.labels),
                  "top": ", ".join(v.categories[:5])}
                 for k, v in self.categorical.items()]
        return pd.DataFrame(rows)

    @classmethod
    def from_frame(cls, df: pd.DataFrame, model_name: str, *, categorical: Iterable[str] = (),
                   prediction: str | None = None, confidence: str | None = None,
                   bins: int = 20, exclude: Iterable[str] = (), source: str = "",
                   top_k: int = TOP_K, sample_cap: int = SAMPLE_CAP, seed: int = 0) -> "Baseline":
        """Build a baseline from training data.

        Every column not named categorical, prediction, confidence or in ``exclude`` is a numeric
        feature. ``bins`` is the number of quantile buckets per numeric feature.
        """
        if bins < 2:
            raise BaselineError(f"bins must be at least 2, got {bins}")
        if len(df) == 0:
            raise BaselineError("the training frame is empty")
        categorical = tuple(categorical)
        skip = set(categorical) | set(exclude) | {prediction, confidence}
        missing = [c for c in categorical + tuple(c for c in (prediction, confidence) if c)
                   if c not in df.columns]
        if missing:
            raise BaselineError(f"columns not in the data: {missing}; have {list(df.columns)}")
        rng = np.random.default_rng(seed)
        numeric = {}
        for col in df.columns:
            if col in skip:
                continue
            numeric[str(col)] = _numeric_feature(df[col], str(col), bins, sample_cap, rng)
        cats = {}
        for col in categorical:
            series = df[col].dropna().astype(str)
            counts = series.value_counts()
            top = counts.iloc[:top_k]
            total = max(len(series), 1)
            fr = np.append(top.to_numpy() / total, (total - top.sum()) / total if len(series) else 0.0)
            cats[str(col)] = CategoricalFeature(tuple(top.index.astype(str)), fr, int(len(series)),
                                                float(1 - len(series) / len(df)))
        classes, pfr, cfr = (), None, None
        if prediction:
            counts = df[prediction].dropna().astype(str).value_counts(normalize=True).sort_index()
            classes, pfr = tuple(counts.index), counts.to_numpy()
        if confidence:
            conf = pd.to_numeric(df[confidence], errors="coerce").to_numpy(dtype=float)
            if not np.isfinite(conf).any():
                raise BaselineError(f"confidence column {confidence!r} has no numeric values")
            cfr = bin_fractions(conf, np.array(CONFIDENCE_BUCKETS))
        created = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
        base = cls(model_name, numeric, cats, classes, pfr, cfr, len(df), source, created)
        return base._with_id()

    # -- storage -------------------------------------------------------------------------------

    def _content(self) -> dict:
        """Everything that defines the baseline (not when it was made): what the id hashes."""
        return {
            "model_name": self.model_name,
            "n_rows": self.n_rows,
            "numeric": {k: {"edges": v.edges.tolist(), "fractions": v.fractions.tolist(),
                            "n": v.n, "missing_share": v.missing_share, "summary": v.summary,
                            "sample": v.sample.tolist()}
                        for k, v in self.numeric.items()},
            "categorical": {k: {"categories": list(v.categories), "fractions": v.fractions.tolist(),
                                "n": v.n, "missing_share": v.missing_share}
                            for k, v in self.categorical.items()},
            "prediction": None if self.prediction_fractions is None else {
                "classes": list(self.prediction_classes),
                "fractions": self.prediction_fractions.tolist()},
            "confidence": None if self.confidence_fractions is None else {
                "edges": list(CONFIDENCE_BUCKETS), "fractions": self.confidence_fractions.tolist()},
        }

    def _with_id(self) -> "Baseline":
        digest = hashlib.sha256(json.dumps(self._content(), sort_keys=True).encode()).hexdigest()
        return _replace(self, baseline_id=digest[:16])

    def to_dict(self) -> dict:
        """The file's JSON document: metadata first, then the statistics."""
        return {"kind": KIND, "schema_version": SCHEMA_VERSION, "baseline_id": self.baseline_id,
                "created_at": self.created_at, "source": self.source,
                "features": {"numeric": list(self.numeric), "categorical": list(self.categorical)},
                **self._content()}

    def save(self, path: str | Path) -> Path:
        """Write the baseline atomically; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=False))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Baseline":
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
    def from_dict(cls, doc: dict, where: str | None = None) -> "Baseline":
        """Map a baseline document to a Baseline, checking version, shape and id."""
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise BaselineError("not an mlmon_nb baseline file", where)
        if doc.get("schema_version") != SCHEMA_VERSION:
            raise BaselineError(f"schema version {doc.get('schema_version')!r} is not supported "
                                f"(this mlmon_nb reads {SCHEMA_VERSION}); rebuild the baseline",
                                where)
        try:
            numeric = {k: NumericFeature(np.array(v["edges"], float), np.array(v["fractions"], float),
                                         np.array(v["sample"], float), int(v["n"]),
                                         float(v.get("missing_share", 0.0)), dict(v.get("summary", {})))
                       for k, v in doc["numeric"].items()}
            cats = {k: CategoricalFeature(tuple(v["categories"]), np.array(v["fractions"], float),
                                          int(v["n"]), float(v.get("missing_share", 0.0)))
                    for k, v in doc["categorical"].items()}
            pred, conf = doc.get("prediction"), doc.get("confidence")
            base = cls(str(doc["model_name"]), numeric, cats,
                       tuple(pred["classes"]) if pred else (),
                       np.array(pred["fractions"], float) if pred else None,
                       np.array(conf["fractions"], float) if conf else None,
                       int(doc["n_rows"]), str(doc.get("source", "")), str(doc.get("created_at", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(f"malformed baseline content ({exc!r})", where) from exc
        for name, feat in numeric.items():
            if (feat.fractions.size != feat.edges.size + 1 or np.any(np.diff(feat.edges) <= 0)
                    or not math.isclose(feat.fractions.sum(), 1.0, abs_tol=1e-6)
                    or np.any(np.diff(feat.sample) < 0) or feat.n < 1):
                raise BaselineError(f"feature {name!r} has inconsistent edges, fractions or "
                                    f"sample", where)
        for name, cat in cats.items():
            if cat.fractions.size != len(cat.categories) + 1:
                raise BaselineError(f"categorical feature {name!r} needs one fraction per "
                                    f"category plus {OTHER_CATEGORY}", where)
        if base.confidence_fractions is not None and \
                base.confidence_fractions.size != len(CONFIDENCE_BUCKETS) + 1:
            raise BaselineError("the confidence distribution does not match the confidence "
                                "buckets", where)
        checked = base._with_id()
        if doc.get("baseline_id") != checked.baseline_id:
            raise BaselineError("content does not match its baseline_id (edited or corrupt); "
                                "rebuild the baseline", where)
        return checked


def _replace(obj, **changes):
    from dataclasses import replace
    return replace(obj, **changes)


def _numeric_feature(column: pd.Series, name: str, bins: int, sample_cap: int,
                     rng: np.random.Generator) -> NumericFeature:
    """Reference statistics of one numeric column; NaN/inf are dropped and counted as missing."""
    if column.dtype == object or isinstance(column.dtype, pd.CategoricalDtype) \
            or pd.api.types.is_string_dtype(column.dtype):
        raise BaselineError(f"column {name!r} is not numeric ({column.dtype}); declare it "
                            f"categorical (--categorical {name}) or exclude it")
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise BaselineError(f"numeric column {name!r} has no finite values; exclude it or fix "
                            f"the data")
    edges = quantile_edges(finite, bins)
    sample = finite if finite.size <= sample_cap else rng.choice(finite, sample_cap, replace=False)
    qs = np.quantile(finite, [0.01, 0.25, 0.5, 0.75, 0.99])
    summary = {"mean": float(finite.mean()), "std": float(finite.std()),
               "min": float(finite.min()), "max": float(finite.max()),
               "p01": float(qs[0]), "p25": float(qs[1]), "p50": float(qs[2]),
               "p75": float(qs[3]), "p99": float(qs[4])}
    return NumericFeature(edges=edges, fractions=bin_fractions(finite, edges),
                          sample=np.sort(sample), n=int(finite.size),
                          missing_share=float(1 - finite.size / max(len(values), 1)),
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


def build_from_file(path: str | Path, model_name: str, **options) -> Baseline:
    """:meth:`Baseline.from_frame` over a training data file; ``source`` records the file."""
    frame = read_training_data(path)
    try:
        return Baseline.from_frame(frame, model_name, source=str(Path(path).resolve()), **options)
    except BaselineError as exc:
        raise BaselineError(str(exc), str(path)) from exc
