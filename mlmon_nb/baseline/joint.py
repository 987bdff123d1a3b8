"""The joint structure of a baseline's numeric features: what the multivariate drift check needs.

Univariate drift misses a joint distribution that changes while every marginal stays the same
(two features that moved together stop doing so; a segment of inputs appears inside the usual
ranges). Like NannyML's ``DataReconstructionDriftCalculator``, the baseline learns the numeric
features' standardization and a PCA keeping a configured share of their variance (``variance``,
0.65 by default as NannyML's); each input's *reconstruction error* is its distance from the
components' span (:func:`mlmon_nb.instrument.reconstruction_error`). The baseline keeps the
reference distribution of that error as quantile buckets, which the service's
``ml_reconstruction_error`` histogram uses, so Prometheus compares a window with it (KS) like
any feature. The reference is what new inputs meet: each row's error under components fitted
without it (:data:`FOLDS` folds), a row the sample repeats under the served ones; errors of
rows scored by the components fitted on them would sit under every live window's, and with
tens of features the check would fire on undrifted traffic.

Categorical features are left out: the service would have to encode them per request, and a
one-hot code turns the error into a count of rare categories, which the univariate category
drift already sees. Missing values are imputed with the feature's mean (``z = 0``) in the fit and
per prediction.

Every build path (frames, record batches, Dask partitions) fits on the same rows: a bottom-k
sample by a hash of each row's values (:class:`RowSample`), mergeable and independent of how the
data is split, so the same data gives the same structure and ``baseline_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import BaselineError
from ..instrument._reconstruction import (
    JointStructure,
    reconstruction_error,
    residuals,
    standardize,
)

__all__ = ["JointModel", "RowSample", "fit_joint", "DEFAULT_VARIANCE", "SAMPLE_ROWS", "MIN_ROWS",
           "reference_errors"]

DEFAULT_VARIANCE = 0.65  # share of variance the components keep (NannyML's default)
SAMPLE_ROWS = 20_000  # rows the joint structure is fitted on (a hash sample beyond)
MIN_ROWS = 100  # fewer complete rows, or fewer than two numeric features: no joint structure
DIGITS = 12  # significant digits the fitted numbers are stored with
FOLDS = 10  # the reference errors are each row's under components fitted without its fold

_MIX = np.uint64(0x9E3779B97F4A7C15)


def _row_hash(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's values (NaN and -0.0 canonical): the sample's order."""
    clean = np.where(np.isnan(rows), np.nan, rows + 0.0)
    bits = np.ascontiguousarray(clean, dtype=np.float64).view(np.uint64)
    h = np.full(rows.shape[0], np.uint64(0x243F6A8885A308D3))
    with np.errstate(over="ignore"):
        for j in range(bits.shape[1]):
            h = (h ^ bits[:, j]) * _MIX
            h ^= h >> np.uint64(31)
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


class RowSample:
    """The ``size`` rows of smallest hash among all rows added: a uniform sample that does not
    depend on batch boundaries or the order partitions are merged in."""

    def __init__(self, width: int, size: int = SAMPLE_ROWS):
        self.size = size
        self.rows = np.empty((0, width))
        self.hashes = np.empty(0, dtype=np.uint64)

    def update(self, rows: np.ndarray) -> None:
        """Add rows (non-finite values are missing)."""
        rows = np.where(np.isfinite(rows), rows, np.nan)
        self._keep(np.vstack([self.rows, rows]),
                   np.concatenate([self.hashes, _row_hash(rows)]))

    def merge(self, other: RowSample) -> None:
        """Add another sample's rows (a partition sampled elsewhere)."""
        self._keep(np.vstack([self.rows, other.rows]),
                   np.concatenate([self.hashes, other.hashes]))

    def _keep(self, rows: np.ndarray, hashes: np.ndarray) -> None:
        # ties (equal hashes) are equal rows, so which of them is kept does not matter
        order = np.lexsort((*rows.T[::-1], hashes))[:self.size] if rows.size else \
            np.arange(rows.shape[0])
        self.rows, self.hashes = rows[order], hashes[order]


@dataclass(frozen=True, eq=False)
class JointModel:
    """A baseline's joint structure: standardization, components, the reference error buckets.

    ``explained``: the share of variance the ``components`` keep (≥ ``variance``, the configured
    share); ``edges``/``fractions``: the reference error's ``le`` buckets and the share of the
    ``n`` fitted rows in each (the ``+Inf`` one last), each row's error as a new input meets the
    components (:func:`_held_out`); ``residual``: each feature's mean squared residual on those
    rows, alike; ``correlation``: their correlation matrix (the runbook's pairs).
    """

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray  # k × d, unit rows
    variance: float
    explained: float
    edges: np.ndarray
    fractions: np.ndarray
    n: int
    residual: np.ndarray
    correlation: np.ndarray
    reference_mean: float
    reference_std: float  # of the reference errors: the mean test's scale

    @property
    def cumulative(self) -> np.ndarray:
        """Baseline cumulative share of errors at each edge."""
        return np.cumsum(self.fractions)[:-1]

    def serving(self) -> JointStructure:
        """The plain-Python view the service computes with."""
        return JointStructure(self.features, tuple(map(float, self.mean)),
                              tuple(map(float, self.scale)),
                              tuple(tuple(map(float, row)) for row in self.components),
                              tuple(map(float, self.edges)), tuple(map(float, self.cumulative)),
                              self.n, tuple(map(float, self.residual)), self.reference_mean,
                              self.reference_std)

    def errors(self, rows: np.ndarray) -> np.ndarray:
        """The reconstruction error of each row (NaN values imputed with the mean)."""
        return reference_errors(self.serving(), rows)

    def to_dict(self) -> dict:
        return {"features": list(self.features), "mean": self.mean.tolist(),
                "scale": self.scale.tolist(), "components": self.components.tolist(),
                "variance": self.variance, "explained": self.explained,
                "edges": self.edges.tolist(), "fractions": self.fractions.tolist(), "n": self.n,
                "residual": self.residual.tolist(), "correlation": self.correlation.tolist(),
                "reference_mean": self.reference_mean, "reference_std": self.reference_std,
                "missing": "mean"}

    @classmethod
    def from_dict(cls, doc: dict) -> JointModel:
        """The model of a baseline document's ``multivariate`` entry; BaselineError if
        inconsistent."""
        try:
            features = tuple(str(f) for f in doc["features"])
            d = len(features)
            model = cls(features, np.array(doc["mean"], float), np.array(doc["scale"], float),
                        np.array(doc["components"], float).reshape(-1, d), float(doc["variance"]),
                        float(doc["explained"]), np.array(doc["edges"], float),
                        np.array(doc["fractions"], float), int(doc["n"]),
                        np.array(doc["residual"], float),
                        np.array(doc["correlation"], float).reshape(d, d),
                        float(doc["reference_mean"]), float(doc["reference_std"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineError(f"malformed multivariate entry ({exc!r}); rebuild the baseline "
                                f"with `mlmon-nb baseline build`") from exc
        if (model.mean.size != d or model.scale.size != d or np.any(model.scale <= 0)
                or model.fractions.size != model.edges.size + 1 or model.residual.size != d
                or not np.isclose(model.fractions.sum(), 1.0, atol=1e-6)):
            raise BaselineError("the multivariate entry has inconsistent shapes; rebuild the "
                                "baseline with `mlmon-nb baseline build`")
        return model


def reference_errors(joint: JointStructure, rows: np.ndarray) -> np.ndarray:
    """:func:`~mlmon_nb.instrument.reconstruction_error` of each row (the service's own
    computation, so the reference and the live errors are the same function)."""
    out = np.empty(rows.shape[0])
    for i, row in enumerate(rows.tolist()):
        z = standardize([None if x != x else x for x in row], joint.mean, joint.scale)
        out[i] = reconstruction_error(z, joint.components)
    return out


def _round(values: np.ndarray) -> np.ndarray:
    return np.array([float(f"{v:.{DIGITS}g}") for v in np.ravel(values)]).reshape(np.shape(values))


def fit_joint(features: Sequence[str], rows: np.ndarray, *, variance: float = DEFAULT_VARIANCE,
              bins: int = 20, edges_of: Callable[[np.ndarray, int], np.ndarray],
              fractions_of: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> JointModel | None:
    """Fit the joint structure on ``rows`` (one column per feature, NaN missing); None when
    there are fewer than two features or :data:`MIN_ROWS` complete rows.

    ``edges_of``/``fractions_of``: the baseline's quantile edges and bucket shares (the same
    buckets as the features')."""
    if not 0 < variance < 1:
        raise BaselineError(f"the multivariate variance share is between 0 and 1 (exclusive), "
                            f"got {variance}; 0.65 is NannyML's default")
    rows = np.asarray(rows, dtype=float)
    d = rows.shape[1] if rows.ndim == 2 else 0
    if d < 2 or int(np.isfinite(rows).all(axis=1).sum()) < MIN_ROWS:
        return None
    mean = np.nanmean(rows, axis=0)
    scale = np.nanstd(rows, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = np.nan_to_num((rows - mean) / scale, nan=0.0)
    corr = z.T @ z / z.shape[0]
    eigval, eigvec = np.linalg.eigh(corr)
    order = np.argsort(eigval)[::-1]
    eigval, eigvec = np.clip(eigval[order], 0, None), eigvec[:, order]
    share = np.cumsum(eigval) / eigval.sum()
    k = min(int(np.searchsorted(share, variance - 1e-12) + 1), d - 1)
    components = eigvec[:, :k].T
    # a fixed sign per component: its largest entry positive
    signs = np.sign(components[np.arange(k), np.argmax(np.abs(components), axis=1)])
    components = components * signs[:, None]
    joint = JointStructure(tuple(features), tuple(_round(mean)), tuple(_round(scale)),
                           tuple(tuple(r) for r in _round(components)), (), (), 0, ())
    err, res = _held_out(joint, rows, z, k)
    edges = edges_of(err, bins)
    fractions = fractions_of(err, edges)
    return JointModel(tuple(features), np.array(joint.mean), np.array(joint.scale),
                      np.array(joint.components), float(variance), float(_round(share[k - 1])),
                      edges, fractions, int(rows.shape[0]), _round(res),
                      _round(corr), float(_round(np.array(err.mean()))),
                      float(_round(np.array(err.std()))))


def _held_out(joint: JointStructure, rows: np.ndarray, z: np.ndarray,
              k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's reconstruction error as a new input meets the served components, and each
    feature's mean squared residual so.

    A row met once is scored by ``k`` components fitted without it: components fitted on the
    very rows they score reconstruct those rows better than any others (their last eigenvalues
    are biased low), so in-sample errors sit under every live window's and, with tens of
    features, the check fired on undrifted traffic. Fitted on 1 − 1/:data:`FOLDS` of the rows,
    they are a little worse than the served ones: the reference errs on the side of quiet. A
    row the sample holds more than once (a default many rows share, a discrete grid) is one
    live inputs repeat exactly: the served components have seen it, so it is scored by them,
    as it will be live. Rows are dealt into folds in the sample's order (hash, then values),
    which does not depend on how the data came."""
    hashes = _row_hash(rows)
    _, index, counts = np.unique(hashes, return_inverse=True, return_counts=True)
    repeated = counts[index] > 1  # equal hashes are equal rows (as in RowSample)
    order = np.lexsort((*rows.T[::-1], hashes))
    fold = np.empty(rows.shape[0], dtype=np.int64)
    fold[order] = np.arange(rows.shape[0]) % FOLDS
    err, res = np.empty(rows.shape[0]), np.zeros(rows.shape[1])
    parts = [(repeated, joint)]
    for f in range(FOLDS):
        held = (fold == f) & ~repeated
        if held.any():
            rest = z[fold != f]
            eigval, eigvec = np.linalg.eigh(rest.T @ rest / max(rest.shape[0], 1))
            top = eigvec[:, np.argsort(eigval)[::-1][:k]].T
            parts.append((held, JointStructure(joint.features, joint.mean, joint.scale,
                                               tuple(tuple(r) for r in _round(top)), (), (),
                                               0, ())))
    for which, part in parts:
        err[which] = reference_errors(part, rows[which])
        for row in rows[which].tolist():
            zr = standardize([None if x != x else x for x in row], part.mean, part.scale)
            res += residuals(zr, part.components)
    return err, res / rows.shape[0]


def joint_of(doc: Any) -> JointModel | None:
    """The joint structure of a baseline document, or None (an older baseline)."""
    entry = doc.get("multivariate") if isinstance(doc, dict) else None
    return None if entry is None else JointModel.from_dict(entry)
