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
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

from ..errors import BaselineError

__all__ = ["ServingBaseline", "ServingNumeric", "ServingCategorical", "load_baseline",
           "content_id", "CONTENT_KEYS", "OPTIONAL_CONTENT_KEYS"]

KIND = "mlmon_nb.baseline"  # as written by mlmon_nb.baseline
SCHEMA_VERSIONS = (1, 2)  # as written by mlmon_nb.baseline (2: reference CDFs; 1: samples)


@dataclass(frozen=True)
class ServingNumeric:
    """A numeric feature's ``le`` bucket edges and the baseline's cumulative share at each."""

    edges: tuple[float, ...]
    cumulative: tuple[float, ...]


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

    @property
    def features(self) -> tuple[str, ...]:
        """All feature names, numeric first."""
        return tuple(self.numeric) + tuple(self.categorical)


# What a baseline's id hashes: the document without its metadata (kind, version, id, when and
# from what it was made). One definition, for the service's loader and for mlmon_nb.Baseline.
CONTENT_KEYS = ("model_name", "n_rows", "numeric", "categorical", "prediction", "confidence")
# Content hashed only when present, so a baseline without it keeps the id it always had: the
# reliability curve of a labelled validation set (``mlmon_nb.calibration``).
OPTIONAL_CONTENT_KEYS = ("calibration",)


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
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineError(f"malformed baseline content ({exc!r})", where) from exc


def _serving(doc: dict, where: str) -> ServingBaseline:
    numeric = {}
    for name, v in doc["numeric"].items():
        edges, fractions = _floats(v["edges"]), _floats(v["fractions"])
        if (len(fractions) != len(edges) + 1 or any(b <= a for a, b in zip(edges, edges[1:]))
                or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6)):
            raise BaselineError(f"feature {name!r} has inconsistent edges or fractions", where)
        numeric[name] = ServingNumeric(tuple(edges), tuple(accumulate(fractions))[:-1])
    categorical = {name: ServingCategorical(tuple(str(c) for c in v["categories"]))
                   for name, v in doc["categorical"].items()}
    return ServingBaseline(str(doc["model_name"]), str(doc["baseline_id"]), numeric, categorical)
