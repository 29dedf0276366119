"""Renderings of tutorials kept by the exact database row they were rendered from.

A tutorial's response body is a pure function of its status-read row. Keyed by the whole row
(every column as the driver returned it, JSON as text), a kept rendering can never be stale: a
write changes the row, the changed row is a new key, and the old entry ages out. The row is still
read on every request; only decoding it, validating it and serializing the response are skipped
when nothing changed, which is the common case for a tutorial being polled.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from issuesight.db.tutorials import TutorialView

# Bodies kept per API process. Each key holds its row as well, about the body's size again.
RENDERINGS_MAX_BYTES = 16 * 2**20


@dataclass(frozen=True, slots=True)
class RenderedTutorial:
    body: bytes
    etag: str


Render = Callable[[TutorialView], RenderedTutorial]


class RenderingCache:
    """Least recently used renderings, bounded by the bytes of their bodies."""

    def __init__(self, max_bytes: int = RENDERINGS_MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[Hashable, RenderedTutorial] = OrderedDict()

    def get(self, key: Hashable) -> RenderedTutorial | None:
        rendered = self._entries.get(key)
        if rendered is not None:
            self._entries.move_to_end(key)
        return rendered

    def put(self, key: Hashable, rendered: RenderedTutorial) -> None:
        if len(rendered.body) > self._max_bytes or key in self._entries:
            return
        self._entries[key] = rendered
        self._bytes += len(rendered.body)
        while self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted.body)

    def __len__(self) -> int:
        return len(self._entries)
