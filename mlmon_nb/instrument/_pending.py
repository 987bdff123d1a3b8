"""The pending-prediction store of the ground-truth join: bounded in size and in age."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

__all__ = ["PendingStore", "PendingPrediction"]


@dataclass(frozen=True)
class PendingPrediction:
    """What the join needs of a prediction until its true label arrives."""

    label: str
    segment: str
    created: float  # the store's clock


class PendingStore:
    """Request id → prediction, oldest first; the oldest are evicted past ``max_size``/``max_age``.

    ``on_evict(reason, n)`` is called outside the lock with reason ``size`` or ``age``. The clock
    is injectable so tests control age without sleeping.
    """

    def __init__(self, max_size: int = 10_000, max_age: float = 3600.0,
                 on_evict: Callable[[str, int], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        if max_size < 1 or max_age <= 0:
            raise ValueError(f"the pending store needs max_size >= 1 and max_age > 0, got "
                             f"{max_size} and {max_age}")
        self.max_size = max_size
        self.max_age = max_age
        self._clock = clock
        self._on_evict = on_evict
        self._items: OrderedDict[str, PendingPrediction] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, request_id: str, label: str, segment: str) -> None:
        """Remember a prediction (a repeated id replaces the earlier one)."""
        now = self._clock()
        with self._lock:
            self._items.pop(request_id, None)
            self._items[request_id] = PendingPrediction(label, segment, now)
            aged = self._expire(now)
            full = 0
            while len(self._items) > self.max_size:
                self._items.popitem(last=False)
                full += 1
        self._report(aged, full)

    def pop(self, request_id: str) -> tuple[PendingPrediction | None, str]:
        """The prediction and ``"matched"``, or None and ``"unknown"``/``"expired"``."""
        now = self._clock()
        with self._lock:
            item = self._items.pop(request_id, None)
            aged = self._expire(now)
        if item is not None and now - item.created > self.max_age:
            aged += 1
            self._report(aged, 0)
            return None, "expired"
        self._report(aged, 0)
        return (item, "matched") if item is not None else (None, "unknown")

    def _expire(self, now: float) -> int:
        n = 0
        items = self._items
        while items:
            oldest = next(iter(items.values()))
            if now - oldest.created <= self.max_age:
                break
            items.popitem(last=False)
            n += 1
        return n

    def _report(self, aged: int, full: int) -> None:
        if self._on_evict is None:
            return
        if aged:
            self._on_evict("age", aged)
        if full:
            self._on_evict("size", full)
