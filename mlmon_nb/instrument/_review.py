"""Ground-truth sampling for human review: a rate picks predictions, a pluggable sink takes them.

The sink is any callable taking one :class:`ReviewItem`; :class:`JsonLinesSink` appends them to
a file, one JSON document per line, for a labelling tool or a reviewer to read. A failing sink is
counted, never raised into the request path.
"""

from __future__ import annotations

import json
import os
import random
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["ReviewItem", "GroundTruthSampler", "JsonLinesSink"]


@dataclass(frozen=True)
class ReviewItem:
    """One prediction handed to review."""

    request_id: str
    model_name: str
    model_version: str
    label: str
    confidence: float
    segment: str
    timestamp: float
    features: dict = field(default_factory=dict)

    def to_json(self) -> str:
        """One line of JSON (non-finite numbers become null)."""
        doc = asdict(self)
        doc["features"] = {str(k): _jsonable(v) for k, v in self.features.items()}
        doc["confidence"] = _jsonable(self.confidence)
        return json.dumps(doc, sort_keys=True)


def _jsonable(value: object) -> object:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        f = float(value)
        return f if f == f and f not in (float("inf"), float("-inf")) else None
    return str(value)


class GroundTruthSampler:
    """Picks a share ``rate`` of predictions and hands each to ``sink``.

    ``seed`` makes the choice reproducible. ``offer`` returns whether the item was picked.
    """

    def __init__(self, rate: float, sink: Callable[[ReviewItem], object], *,
                 seed: int | None = None):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"the review sampling rate must be between 0 and 1, got {rate}")
        if not callable(sink):
            raise TypeError("the review sink must be callable with one ReviewItem")
        self.rate = rate
        self.sink = sink
        self._random = random.Random(seed).random

    def picks(self) -> bool:
        """Draw once: is the next prediction sampled?"""
        return self.rate > 0.0 and self._random() < self.rate


class JsonLinesSink:
    """Appends review items to a JSON-lines file; rolls over to ``<path>.1`` past ``max_bytes``."""

    def __init__(self, path: str | Path, *, max_bytes: int = 50_000_000):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, item: ReviewItem) -> None:
        line = item.to_json() + "\n"
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                size = fh.tell()
            if size > self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))

    def read(self) -> list[dict]:
        """The items in the current file, oldest first."""
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
