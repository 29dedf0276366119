"""Retrieval indexes shared by every issue of a (repository, commit), per worker.

The archive of a repository at a commit is read once: one counted API request (plus its
redirect to the archive host, which GitHub does not count). It is kept on disk in a cache
directory (written to a temporary name, then renamed: a crash leaves no half archive), so a
restarted worker rebuilds its index from disk instead of downloading it again, and the built
indexes are kept in memory, least recently used out first. Both are bounded. Concurrent issues
of one repository-commit share one download and one build.

When the archive cannot be had — refused by a cap, redirected to a foreign host, an empty
repository, GitHub failing — the caller falls back to reading files one by one (gather.py);
the refusal is remembered for a while so that every issue of the repository does not pay for
trying again. Workflow payloads never carry an index, only the issue key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sqlite3
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from issuesight.context.index import RepoIndex
from issuesight.context.snapshot import ArchiveRefused, SnapshotLimits, read_snapshot
from issuesight.core import metrics
from issuesight.domain.failures import FailureKind
from issuesight.github.archive import download_archive
from issuesight.github.client import GitHubClient, RedirectRefused, TooLarge
from issuesight.github.errors import GitHubError

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# GitHub errors that end the activity instead of falling back: the per-file reads would meet
# them too (a bad token, a spent rate limit).
RAISED_KINDS = frozenset({FailureKind.BAD_CREDENTIALS, FailureKind.GITHUB_RATE_LIMITED})
# A transient failure (5xx, a timeout) is retried by the next issue after this long; a
# permanent one (too large, a foreign redirect, an empty repository) is not, while remembered.
RETRY_TRANSIENT_AFTER = 300.0
MAX_REFUSALS = 1024
SUFFIX = ".tar.gz"
# Builds at once per worker: each holds a tree's text and its index while it is made.
MAX_BUILDS = 2
# While an archive is read or indexed (seconds for most, longer for the largest trees), the
# activity is kept alive this often, so its heartbeat does not lapse into a second build.
KEEPALIVE_SECONDS = 5.0


@dataclass(frozen=True)
class IndexSettings:
    cache_dir: Path | None = None  # None: archives are not kept on disk
    disk_bytes: int = 2 * 1024**3
    memory_bytes: int = 512 * 1024**2
    archive_bytes: int = 200 * 1024**2  # 0: never download archives
    limits: SnapshotLimits = field(default_factory=SnapshotLimits)
    extra_archive_origins: Sequence[str] = ()  # tests: another origin serving archives


@dataclass
class _Refusal:
    reason: str
    until: float  # monotonic time after which the archive is tried again (inf: never)


class RepoIndexes:
    def __init__(
        self,
        client: GitHubClient,
        settings: IndexSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        keepalive: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.settings = settings or IndexSettings()
        self._clock = clock
        self._keepalive = keepalive
        self._builds = asyncio.Semaphore(MAX_BUILDS)
        self._disk_ok = True  # False once the cache directory turned out not to be writable
        self._memory: OrderedDict[str, tuple[RepoIndex, int]] = OrderedDict()
        self._memory_used = 0
        self._refusals: OrderedDict[str, _Refusal] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[RepoIndex | None]] = {}
        self.downloads = 0
        self.builds = 0

    @property
    def enabled(self) -> bool:
        return self.settings.archive_bytes > 0

    async def get(self, repo_full_name: str, commit_sha: str) -> RepoIndex | None:
        """The index of the repository at the commit, or None when its archive is refused."""
        if not self.enabled:
            return None
        key = self._key(repo_full_name, commit_sha)
        while True:
            kept = self._memory.get(key)
            if kept is not None:
                self._memory.move_to_end(key)
                metrics.RETRIEVAL_INDEXES.labels(outcome="memory").inc()
                return kept[0]
            refusal = self._refusals.get(key)
            if refusal is not None and refusal.until > self._clock():
                metrics.RETRIEVAL_INDEXES.labels(outcome="refused").inc()
                return None
            pending = self._in_flight.get(key)
            if pending is None:
                break
            await asyncio.wait({pending})
            if not pending.cancelled():
                return pending.result()
        future: asyncio.Future[RepoIndex | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            index = await self._load(key, repo_full_name, commit_sha)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, none has to
            raise
        else:
            future.set_result(index)
            return index
        finally:
            del self._in_flight[key]

    def _key(self, repo_full_name: str, commit_sha: str) -> str:
        material = f"{self.client.base_url}|{repo_full_name.lower()}|{commit_sha.lower()}"
        return hashlib.sha256(material.encode()).hexdigest()[:40]

    async def _load(self, key: str, repo_full_name: str, commit_sha: str) -> RepoIndex | None:
        what = f"{repo_full_name}@{commit_sha[:12]}"
        path = self._path(key)
        if path is not None:
            index = await self._in_thread(self._build_from, path, what)
            if index is not None:
                metrics.RETRIEVAL_INDEXES.labels(outcome="disk").inc()
                return self._keep(key, index)
        try:
            index = await self._download_and_build(key, repo_full_name, commit_sha, what)
        except (TooLarge, RedirectRefused, ArchiveRefused) as exc:
            self._refuse(key, what, str(exc), permanent=True)
            return None
        except GitHubError as exc:
            if exc.kind in RAISED_KINDS:
                raise
            self._refuse(key, what, exc.message, permanent=not exc.retryable)
            return None
        except (OSError, MemoryError, RecursionError, ValueError, sqlite3.Error) as exc:
            # The disk, the memory, an SQLite built without FTS5, or a bug in reading it: the
            # issue still gets its files one by one, and the failure is logged with its
            # traceback for whoever runs the worker.
            log.exception("archive could not be indexed", extra={"archive": what})
            self._refuse(key, what, f"{type(exc).__name__}: {exc}", permanent=False)
            return None
        metrics.RETRIEVAL_INDEXES.labels(outcome="downloaded").inc()
        return self._keep(key, index)

    async def _download_and_build(
        self, key: str, repo_full_name: str, commit_sha: str, what: str
    ) -> RepoIndex:
        handle = await asyncio.to_thread(self._open_partial)
        temporary = Path(handle.name)
        try:
            with handle:
                size = await download_archive(
                    self.client,
                    repo_full_name,
                    commit_sha,
                    handle.file,
                    max_bytes=self.settings.archive_bytes,
                    extra_origins=self.settings.extra_archive_origins,
                )
            self.downloads += 1
            log.info("archive downloaded", extra={"archive": what, "bytes": size})
            return await self._in_thread(self._build_and_store, temporary, self._path(key))
        finally:
            await asyncio.to_thread(temporary.unlink, missing_ok=True)

    async def _in_thread(self, build: Callable[..., _T], *args: object) -> _T:
        """`build(*args)` in a thread, at most MAX_BUILDS at once, the activity kept alive."""
        async with self._builds:
            task = asyncio.ensure_future(asyncio.to_thread(build, *args))
            while True:
                done, _ = await asyncio.wait({task}, timeout=KEEPALIVE_SECONDS)
                if done:
                    return task.result()
                if self._keepalive is not None:
                    self._keepalive()

    def _open_partial(self) -> tempfile._TemporaryFileWrapper[bytes]:
        """A new file in the cache directory; in the system's temporary directory when there is
        none or it cannot be written (then nothing is kept: a warning says so, once)."""
        directory = self.settings.cache_dir if self._disk_ok else None
        if directory is not None:
            try:
                directory.mkdir(parents=True, exist_ok=True)
                # Closed by the caller, then renamed into place or removed.
                return tempfile.NamedTemporaryFile(
                    dir=directory, prefix=".partial-", suffix=SUFFIX, delete=False
                )
            except OSError as exc:
                self._disk_ok = False
                log.warning(
                    "retrieval cache directory not writable: archives are not kept on disk",
                    extra={"directory": str(directory), "why": repr(exc)},
                )
        return tempfile.NamedTemporaryFile(prefix=".partial-", suffix=SUFFIX, delete=False)

    def _build_and_store(self, temporary: Path, final: Path | None) -> RepoIndex:
        """Builds first: only an archive that could be read is kept for the next worker."""
        index = self._build(temporary)
        if final is not None:
            temporary.replace(final)
            self._evict_disk()
        return index

    def _build(self, path: Path) -> RepoIndex:
        with path.open("rb") as stream:
            snapshot = read_snapshot(stream, self.settings.limits)
        self.builds += 1
        return RepoIndex(snapshot)

    def _build_from(self, path: Path, what: str) -> RepoIndex | None:
        """The index from an archive kept on disk; None when there is none (or it was
        unreadable, and is dropped)."""
        if not path.is_file():
            return None
        try:
            index = self._build(path)
        except ArchiveRefused as exc:
            log.warning(
                "kept archive unreadable, dropped", extra={"archive": what, "why": str(exc)}
            )
            path.unlink(missing_ok=True)
            return None
        os.utime(path)  # recently used: evicted last
        return index

    def _path(self, key: str) -> Path | None:
        directory = self.settings.cache_dir
        return None if directory is None or not self._disk_ok else directory / f"{key}{SUFFIX}"

    def _keep(self, key: str, index: RepoIndex) -> RepoIndex:
        size = index.memory_bytes()
        if size <= self.settings.memory_bytes:
            self._memory[key] = (index, size)
            self._memory_used += size
            while self._memory_used > self.settings.memory_bytes and len(self._memory) > 1:
                # Not closed here: an issue may still be ranking against it in a thread; its
                # SQLite connection closes when the last reference goes.
                _, (_, evicted_size) = self._memory.popitem(last=False)
                self._memory_used -= evicted_size
        return index

    def _refuse(self, key: str, what: str, reason: str, *, permanent: bool) -> None:
        metrics.RETRIEVAL_INDEXES.labels(outcome="refused").inc()
        log.warning(
            "archive refused: files are read one by one", extra={"archive": what, "why": reason}
        )
        until = float("inf") if permanent else self._clock() + RETRY_TRANSIENT_AFTER
        self._refusals[key] = _Refusal(reason, until)
        self._refusals.move_to_end(key)
        while len(self._refusals) > MAX_REFUSALS:
            self._refusals.popitem(last=False)

    def _evict_disk(self) -> None:
        """Oldest archives first (by last use) until the directory is within its bound."""
        directory = self.settings.cache_dir
        if directory is None:
            return
        kept = []
        for path in directory.glob(f"*{SUFFIX}"):
            if path.name.startswith(".partial-"):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            kept.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in kept)
        for _, size, path in sorted(kept):
            if total <= self.settings.disk_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size

    def close(self) -> None:
        for index, _ in self._memory.values():
            index.close()
        self._memory.clear()
        self._memory_used = 0
