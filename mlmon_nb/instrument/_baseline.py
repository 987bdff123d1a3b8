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
from ..metrics import CONFIDENCE_BUCKETS

__all__ = ["ServingBaseline", "ServingNumeric", "ServingCategorical", "load_baseline"]

KIND = "mlmon_nb.baseline"  # as written by mlmon_nb.baseline
SCHEMA_VERSION = 1


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


def _floats(values: Any) -> list[float]:
    return [float(v) for v in values]


def _content(doc: dict) -> dict:
    """The hashed part of a baseline document, normalised as ``Baseline`` writes it."""
    pred, conf = doc.get("prediction"), doc.get("confidence")
    return {
        "model_name": str(doc["model_name"]),
        "n_rows": int(doc["n_rows"]),
        "numeric": {k: {"edges": _floats(v["edges"]), "fractions": _floats(v["fractions"]),
                        "n": int(v["n"]), "missing_share": float(v.get("missing_share", 0.0)),
                        "summary": dict(v.get("summary", {})), "sample": _floats(v["sample"])}
                    for k, v in doc["numeric"].items()},
        "categorical": {k: {"categories": list(v["categories"]),
                            "fractions": _floats(v["fractions"]), "n": int(v["n"]),
                            "missing_share": float(v.get("missing_share", 0.0))}
                        for k, v in doc["categorical"].items()},
        "prediction": None if not pred else {"classes": list(pred["classes"]),
                                             "fractions": _floats(pred["fractions"])},
        "confidence": None if not conf else {"edges": list(CONFIDENCE_BUCKETS),
                                             "fractions": _floats(conf["fractions"])},
    }


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
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise BaselineError(f"schema version {doc.get('schema_version')!r} is not supported "
                            f"(this mlmon_nb reads {SCHEMA_VERSION}); rebuild the baseline", where)
    try:
        content = _content(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineError(f"malformed baseline content ({exc!r})", where) from exc
    numeric = {}
    for name, v in content["numeric"].items():
        edges, fractions = v["edges"], v["fractions"]
        if (len(fractions) != len(edges) + 1 or any(b <= a for a, b in zip(edges, edges[1:]))
                or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6)):
            raise BaselineError(f"feature {name!r} has inconsistent edges or fractions", where)
        numeric[name] = ServingNumeric(tuple(edges), tuple(accumulate(fractions))[:-1])
    categorical = {name: ServingCategorical(tuple(str(c) for c in v["categories"]))
                   for name, v in content["categorical"].items()}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    if doc.get("baseline_id") != digest:
        raise BaselineError("content does not match its baseline_id (edited or corrupt); "
                            "rebuild the baseline", where)
    return ServingBaseline(content["model_name"], digest, numeric, categorical)
