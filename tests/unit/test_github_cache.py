"""SharedReads on httpx.MockTransport: what is read again, revalidated or shared, and what never
is. (End to end, against the fake GitHub server: test_tutorial_flow's request counts and
bench.github.)"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine

import httpx
import pytest

from issuesight.core import metrics
from issuesight.domain.failures import FailureKind
from issuesight.github.cache import SharedReads
from issuesight.github.client import RAW, GitHubClient
from issuesight.github.errors import GitHubError

BASE = "https://api.github.test"
Handler = Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


OUTCOMES = ("hit", "revalidated", "miss", "shared")


def _served() -> dict[str, float]:
    """How the shared reads were served so far, as Prometheus counts them."""
    return {o: float(metrics.GITHUB_SHARED_READS.labels(outcome=o)._value.get()) for o in OUTCOMES}


def _since(before: dict[str, float]) -> dict[str, float]:
    now = _served()
    return {o: now[o] - before[o] for o in OUTCOMES if now[o] != before[o]}


async def _joined(before: dict[str, float], readers: int) -> None:
    """Lets the reads just started take their first step, then checks that `readers` of them
    wait on the one in flight. A read joins one in flight before it awaits anything, so one
    turn of the loop settles it: no guessed sleep."""
    await asyncio.sleep(0)
    assert _since(before).get("shared", 0) == readers


def _reads(handler: Handler, clock: Clock | None = None, max_bytes: int = 1 << 20) -> SharedReads:
    client = GitHubClient(BASE, transport=httpx.MockTransport(handler))
    return SharedReads(client, max_bytes=max_bytes, clock=clock or Clock())


def _ok(
    body: bytes, etag: str = 'W/"v1"', cache_control: str = "private, max-age=60"
) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"etag": etag, "cache-control": cache_control})


async def test_content_addressed_reads_are_asked_for_once() -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return _ok(b"blob bytes", cache_control="private, max-age=0")

    reads, before = _reads(handler), _served()
    for _ in range(3):
        got = await reads.get("/repos/o/r/git/blobs/abc", what="f", accept=RAW, immutable=True)
        assert got == b"blob bytes"
    assert seen == ["/repos/o/r/git/blobs/abc"]
    assert _since(before) == {"miss": 1, "hit": 2}


async def test_fresh_reads_are_reused_then_revalidated_for_free() -> None:
    clock = Clock()
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("if-none-match") == 'W/"v1"':
            return httpx.Response(304, headers={"cache-control": "private, max-age=60"})
        return _ok(b'{"full_name": "o/r"}')

    before = _served()
    reads = _reads(handler, clock)
    assert await reads.get("/repos/o/r", what="repo") == b'{"full_name": "o/r"}'
    clock.now += 59
    assert await reads.get("/repos/o/r", what="repo") == b'{"full_name": "o/r"}'
    assert len(seen) == 1, "fresh for max-age: no request"
    clock.now += 2
    assert await reads.get("/repos/o/r", what="repo") == b'{"full_name": "o/r"}'
    assert len(seen) == 2
    assert seen[1].headers["if-none-match"] == 'W/"v1"'
    clock.now += 30
    await reads.get("/repos/o/r", what="repo")
    assert len(seen) == 2, "the 304 made it fresh again"
    assert _since(before) == {"hit": 2, "revalidated": 1, "miss": 1}


async def test_a_changed_resource_replaces_the_cached_one() -> None:
    clock = Clock()
    version = ["v1"]

    async def handler(request: httpx.Request) -> httpx.Response:
        etag = f'W/"{version[0]}"'
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304)
        return _ok(version[0].encode(), etag=etag)

    reads, before = _reads(handler, clock), _served()
    assert await reads.get("/repos/o/r/commits/main", what="head") == b"v1"
    version[0] = "v2"
    clock.now += 61
    assert await reads.get("/repos/o/r/commits/main", what="head") == b"v2"
    clock.now += 61
    assert await reads.get("/repos/o/r/commits/main", what="head") == b"v2"
    assert _since(before) == {"miss": 2, "revalidated": 1}


async def test_concurrent_reads_of_one_resource_share_one_request() -> None:
    calls = 0
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await release.wait()
        return _ok(b"tree")

    reads, before = _reads(handler), _served()
    tasks = [
        asyncio.create_task(reads.get("/repos/o/r/git/trees/abc", what="t", immutable=True))
        for _ in range(10)
    ]
    await _joined(before, 9)
    release.set()
    assert await asyncio.gather(*tasks) == [b"tree"] * 10
    assert calls == 1
    assert _since(before) == {"miss": 1, "shared": 9}


async def test_errors_are_shared_but_never_cached() -> None:
    answers = [httpx.Response(502, text="<html>bad gateway</html>"), _ok(b"repo")]
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return answers.pop(0)

    reads, before = _reads(handler), _served()
    tasks = [asyncio.create_task(reads.get("/repos/o/r", what="repo")) for _ in range(3)]
    await _joined(before, 2)
    release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(
        isinstance(o, GitHubError) and o.kind == FailureKind.GITHUB_UNAVAILABLE for o in outcomes
    )
    assert await reads.get("/repos/o/r", what="repo") == b"repo"
    assert answers == []


async def test_a_cancelled_reader_does_not_fail_the_readers_waiting_on_it() -> None:
    calls = 0
    first_started = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            first_started.set()
            await asyncio.sleep(30)
        return _ok(b"readme")

    reads, before = _reads(handler), _served()
    first = asyncio.create_task(reads.get("/repos/o/r/readme", what="README", immutable=True))
    await first_started.wait()
    waiter = asyncio.create_task(reads.get("/repos/o/r/readme", what="README", immutable=True))
    await _joined(before, 1)
    first.cancel()
    assert await asyncio.wait_for(waiter, 5) == b"readme"
    assert calls == 2
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_missing_content_addressed_reads_are_remembered_missing() -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(404, json={"message": "Not Found"})

    reads = _reads(handler)
    for _ in range(2):
        readme = await reads.get(
            "/repos/o/r/readme", what="README", allow_missing=True, immutable=True
        )
        assert readme is None
        assert await reads.get("/repos/o/r/commits/x", what="head", allow_missing=True) is None
    assert seen == ["/repos/o/r/readme", "/repos/o/r/commits/x", "/repos/o/r/commits/x"]
    with pytest.raises(GitHubError):
        await reads.get("/repos/o/r/readme", what="README", immutable=True)


async def test_the_cache_is_bounded_least_recently_used_out() -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return _ok(b"x" * 1000)

    reads = _reads(handler, max_bytes=2500)
    for sha in ("a", "b", "a", "c", "a", "b"):
        await reads.get(f"/blobs/{sha}", what=sha, immutable=True)
    # a and b fit; c pushes out b (a was used more recently), then b pushes out c.
    assert seen == ["/blobs/a", "/blobs/b", "/blobs/c", "/blobs/b"]
    assert reads.bytes_kept <= 2500
    assert reads.entries == 2


@pytest.mark.parametrize(
    ("max_bytes", "cache_control"), [(0, "private, max-age=60"), (1 << 20, "no-store")]
)
async def test_nothing_is_kept_when_turned_off_or_told_not_to(
    max_bytes: int, cache_control: str
) -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return _ok(b"body", cache_control=cache_control)

    reads = _reads(handler, max_bytes=max_bytes)
    for _ in range(2):
        assert await reads.get("/blobs/a", what="a", immutable=True) == b"body"
    assert calls == 2
    assert reads.entries == 0


async def test_params_and_media_types_are_part_of_the_key() -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.url} {request.headers['accept']}")
        return _ok(str(request.url).encode())

    reads = _reads(handler)
    a = await reads.get("/repos/o/r/readme", what="R", params={"ref": "a"}, immutable=True)
    b = await reads.get("/repos/o/r/readme", what="R", params={"ref": "b"}, immutable=True)
    raw = await reads.get(
        "/repos/o/r/readme", what="R", params={"ref": "a"}, accept=RAW, immutable=True
    )
    assert len({a, b}) == 2
    assert raw == a
    assert len(seen) == 3
