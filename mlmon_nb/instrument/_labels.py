"""Bounded label values: a cardinality cap per label folds new values into ``__overflow__``."""

from __future__ import annotations

import re
import threading
from typing import Callable

from ..metrics import OVERFLOW_VALUE

__all__ = ["LabelCap", "label_text"]

MAX_LABEL_CHARS = 128
_SURROGATE = re.compile("[\ud800-\udfff]")


def label_text(value: object) -> str:
    """A label value as text, truncated so one odd value cannot bloat every scrape.

    A lone surrogate (``json.loads('"\\ud83d"')`` makes one) has no UTF-8 form: exported as is,
    it would fail every later scrape, so it becomes U+FFFD."""
    text = value if type(value) is str else str(value)
    if len(text) > MAX_LABEL_CHARS:
        text = text[:MAX_LABEL_CHARS]
    if not text.isascii():
        text = _SURROGATE.sub("\ufffd", text)
    return text


class LabelCap:
    """At most ``limit`` distinct values of one label; later new values become ``__overflow__``.

    A request id used as a label must not create one series per request: the first ``limit``
    values are kept, every other new value is folded and ``on_overflow`` is called (it counts).
    Lookups of known values take no lock.
    """

    def __init__(self, limit: int, on_overflow: Callable[[], None] | None = None,
                 allowed: tuple[str, ...] | None = None, fallback: str = OVERFLOW_VALUE):
        if limit < 1:
            raise ValueError(f"a label cap must allow at least one value, got {limit}")
        self.limit = limit
        self.fallback = fallback
        self._seen: dict[str, str] = {v: v for v in allowed or ()}
        self._closed = allowed is not None  # a fixed set of values admits nothing new
        self._on_overflow = on_overflow
        self._lock = threading.Lock()

    def __call__(self, value: object) -> str:
        """The value to export for ``value``."""
        try:
            return self._seen[value]  # type: ignore[index]
        except (KeyError, TypeError):
            pass
        text = label_text(value)
        with self._lock:
            if text in self._seen:
                return self._seen[text]
            if not self._closed and len(self._seen) < self.limit:
                self._seen[text] = text
                return text
        if self._on_overflow is not None:
            self._on_overflow()
        return self.fallback

    @property
    def values(self) -> tuple[str, ...]:
        """The values admitted so far."""
        return tuple(self._seen)
