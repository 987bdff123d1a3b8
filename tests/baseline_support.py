"""Refusing a hostile baseline file (test support): the library's reader and the service's
standard-library one must both say no, with the same message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlmon_nb.baseline import Baseline
from mlmon_nb.errors import BaselineError
from mlmon_nb.instrument import content_id, load_baseline


def refused_by_both(doc: dict, path: Path, match: str) -> None:
    """Write ``doc`` to ``path`` under the id of its content (so only what it says is wrong) and
    check that ``Baseline.load`` and ``load_baseline`` both raise a BaselineError matching
    ``match``."""
    path.write_text(json.dumps({**doc, "baseline_id": content_id(doc)}))
    for load in (Baseline.load, load_baseline):
        with pytest.raises(BaselineError, match=match):
            load(path)
