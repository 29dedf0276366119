"""Repository-level GitHub reads shared by every issue of a repository, cached per worker.

Every tutorial of a repository reads the same repository document, head commit, file tree,
README and, mostly, the same files. Without a cache a sync that fans out to twenty issues spends
twenty times the rate limit on identical answers. The cache follows HTTP's own rules:

- content-addressed reads (a tree or README at a commit SHA, a blob by SHA) never change, so they
  are kept until evicted and never asked for again;
- other reads are reused while GitHub's `Cache-Control: max-age` says they are fresh, then
  revalidated with `If-None-Match`, whose 304 GitHub does not count against the rate limit;
- concurrent reads of one resource share one request (a sync starts many tutorials at once).

It lives in the worker process (bounded by bytes, least recently used first out): a restarted
worker or a second worker pays for one cold read of each resource, nothing more.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from issuesight.core import metrics
from issuesight.github.client import JSON, GitHubClient

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*no-store\b", re.IGNORECASE)
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class _Entry:
    content: bytes | None  # None: an allowed 404 of a content-addressed read
    etag: str | None
    fresh_until: float
    immutable: bool

    @property
    def size(self) -> int:
        return 200 + (0 if self.content is None else len(self.content))


class SharedReads:
    def __init__(
        self,
        client: GitHubClient,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()
        self._bytes = 0
        self._in_flight: dict[tuple[str, ...], asyncio.Future[bytes | None]] = {}

    @property
    def entries(self) -> int:
        return len(self._entries)

    @property
    def bytes_kept(self) -> int:
        return self._bytes

    async def get(
        self,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        accept: str = JSON,
        allow_missing: bool = False,
        immutable: bool = False,
        max_bytes: int | None = None,
    ) -> bytes | None:
        """The body of a GET (None for an allowed 404), from the cache when HTTP allows it.

        `immutable` is the caller's promise that the URL names content by hash or commit SHA.
        With `max_bytes`, only the body's head is read (GitHubClient.get). Errors are never
        cached: the next read asks GitHub again.
        """
        key = (accept, path, *(f"{k}={v}" for k, v in sorted((params or {}).items())))
        if allow_missing:
            key += ("allow-missing",)
        if max_bytes is not None:
            key += (f"max-bytes={max_bytes}",)
        while True:
            entry = self._entries.get(key)
            if entry is not None and (entry.immutable or entry.fresh_until > self._clock()):
                self._entries.move_to_end(key)
                metrics.GITHUB_SHARED_READS.labels(outcome="hit").inc()
                return entry.content
            pending = self._in_flight.get(key)
            if pending is None:
                break
            metrics.GITHUB_SHARED_READS.labels(outcome="shared").inc()
            await asyncio.wait({pending})
            if not pending.cancelled():
                return pending.result()
            # The request we waited on was cancelled with its activity, not ours: try again.
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            content = await self._fetch(
                key,
                entry,
                path,
                what=what,
                params=params,
                accept=accept,
                allow_missing=allow_missing,
                immutable=immutable,
                max_bytes=max_bytes,
            )
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marks it retrieved: waiters re-raise it, none has to
            raise
        else:
            future.set_result(content)
            return content
        finally:
            del self._in_flight[key]

    async def _fetch(
        self,
        key: tuple[str, ...],
        entry: _Entry | None,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None,
        accept: str,
        allow_missing: bool,
        immutable: bool,
        max_bytes: int | None,
    ) -> bytes | None:
        etag = entry.etag if entry is not None else None
        response = await self.client.get(
            path,
            what=what,
            params=params,
            accept=accept,
            allow_missing=allow_missing,
            etag=etag,
            max_bytes=max_bytes,
        )
        cache_control = "" if response is None else response.headers.get("cache-control", "")
        max_age = _MAX_AGE.search(cache_control)
        fresh_until = self._clock() + (int(max_age.group(1)) if max_age else 0)
        if response is not None and response.status_code == 304 and entry is not None:
            metrics.GITHUB_SHARED_READS.labels(outcome="revalidated").inc()
            entry.fresh_until = fresh_until
            self._entries.move_to_end(key)
            return entry.content
        metrics.GITHUB_SHARED_READS.labels(outcome="miss").inc()
        if response is None:
            if immutable:
                self._store(key, _Entry(None, None, 0.0, True))
            return None
        if not _NO_STORE.search(cache_control):
            self._store(
                key, _Entry(response.content, response.headers.get("etag"), fresh_until, immutable)
            )
        return response.content

    def _store(self, key: tuple[str, ...], entry: _Entry) -> None:
        if entry.size > self._max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
