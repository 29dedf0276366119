"""GitHub errors classified and the REST client on httpx.MockTransport: auth header, pagination,
rate-limit bookkeeping and transport failures. (The fake GitHub server is used elsewhere.)"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from issuesight.domain.failures import FailureKind
from issuesight.github import errors
from issuesight.github.client import RAW, GitHubClient, RateLimit, parse_json
from issuesight.github.errors import GitHubError, classify, retry_after_seconds

BASE = "https://api.github.test"
TOKEN = "ghp_" + "UnitTestToken1" * 3


def _response(
    status: int, body: Any = None, headers: dict[str, str] | None = None, text: str | None = None
) -> httpx.Response:
    request = httpx.Request("GET", f"{BASE}/repos/o/r")
    if text is not None:
        return httpx.Response(status, text=text, headers=headers, request=request)
    return httpx.Response(
        status, json=body if body is not None else {}, headers=headers, request=request
    )


# -- classify ----------------------------------------------------------------------------------


def test_401_is_bad_credentials_and_permanent() -> None:
    err = classify(_response(401, {"message": "Bad credentials"}), what="issue o/r#1")
    assert err.kind == FailureKind.BAD_CREDENTIALS
    assert err.status == 401
    assert err.retryable is False
    assert "GITHUB_TOKEN" in err.message


def test_403_with_spent_rate_limit_waits_until_reset() -> None:
    reset = int(time.time()) + 100
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    err = classify(_response(403, {"message": "API rate limit exceeded"}, headers), what="issue")
    assert err.kind == FailureKind.GITHUB_RATE_LIMITED
    assert err.retryable is True
    assert err.status == 403
    assert err.retry_after is not None
    assert err.retry_after == pytest.approx(reset - time.time() + 1, abs=2)
    assert 99 <= err.retry_after <= 102


def test_spent_rate_limit_with_reset_in_the_past_waits_a_second() -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) - 50)}
    err = classify(_response(403, {"message": "API rate limit exceeded"}, headers), what="x")
    assert err.kind == FailureKind.GITHUB_RATE_LIMITED
    assert err.retry_after == 1.0


@pytest.mark.parametrize("status", [403, 429])
def test_retry_after_seconds(status: int) -> None:
    err = classify(_response(status, {"message": "slow down"}, {"Retry-After": "37"}), what="x")
    assert err.kind == FailureKind.GITHUB_RATE_LIMITED
    assert err.retry_after == 37.0
    assert err.status == status


@pytest.mark.parametrize("status", [403, 429])
def test_retry_after_http_date(status: int) -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    headers = {"Retry-After": format_datetime(when, usegmt=True)}
    err = classify(_response(status, {"message": "slow down"}, headers), what="x")
    assert err.kind == FailureKind.GITHUB_RATE_LIMITED
    assert err.retry_after is not None
    assert 117 <= err.retry_after <= 121


def test_retry_after_beats_the_reset_header() -> None:
    headers = {
        "Retry-After": "5",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": str(int(time.time()) + 3_000),
    }
    assert classify(_response(403, {}, headers), what="x").retry_after == 5.0


def test_secondary_rate_limit_message_without_headers_waits_a_minute() -> None:
    body = {
        "message": "You have exceeded a secondary rate limit. Please wait a few minutes.",
        "documentation_url": "https://docs.github.com/rest/overview/rate-limits",
    }
    err = classify(_response(403, body), what="comments")
    assert err.kind == FailureKind.GITHUB_RATE_LIMITED
    assert err.retry_after == errors.SECONDARY_LIMIT_WAIT == 60.0
    assert err.retryable is True


def test_429_without_headers_waits_a_minute() -> None:
    err = classify(_response(429, {"message": "Too Many Requests"}), what="x")
    assert err.kind == FailureKind.GITHUB_RATE_LIMITED
    assert err.retry_after == 60.0


def test_plain_403_is_forbidden_and_permanent() -> None:
    body = {"message": "Resource not accessible by integration"}
    err = classify(_response(403, body, {"x-ratelimit-remaining": "4999"}), what="issue o/r#1")
    assert err.kind == FailureKind.FORBIDDEN
    assert err.retryable is False
    assert err.retry_after is None
    assert "Resource not accessible by integration" in err.message
    assert "issue o/r#1" in err.message


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (404, FailureKind.NOT_FOUND),
        (410, FailureKind.ISSUE_DELETED),
        (422, FailureKind.INVALID_REQUEST),
        (400, FailureKind.INVALID_REQUEST),
    ],
)
def test_permanent_statuses(status: int, kind: str) -> None:
    err = classify(_response(status, {"message": "Validation Failed"}), what="issue o/r#1")
    assert err.kind == kind
    assert err.status == status
    assert err.retryable is False
    assert "issue o/r#1" in err.message


def test_422_message_carries_githubs_reason() -> None:
    err = classify(_response(422, {"message": "Validation Failed"}), what="search")
    assert "422: Validation Failed" in err.message


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_server_errors_are_retryable(status: int) -> None:
    err = classify(_response(status, text="<html>Bad gateway</html>"), what="issue")
    assert err.kind == FailureKind.GITHUB_UNAVAILABLE
    assert err.retryable is True
    assert err.status == status
    assert err.retry_after is None


def test_503_with_retry_after_keeps_it() -> None:
    err = classify(_response(503, {}, {"Retry-After": "12"}), what="x")
    assert err.kind == FailureKind.GITHUB_UNAVAILABLE
    assert err.retry_after == 12.0


def test_non_json_error_body_uses_the_reason_phrase() -> None:
    err = classify(_response(403, text="<html>nope</html>"), what="x")
    assert err.kind == FailureKind.FORBIDDEN
    assert "Forbidden" in err.message


def test_long_github_messages_are_cut() -> None:
    err = classify(_response(422, {"message": "m" * 1_000}), what="x")
    assert "m" * 300 in err.message
    assert "m" * 301 not in err.message


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": " 30 "}, 30.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "soon", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1100"}, 101.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1060"}, 61.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "junk"}, None),
        ({"x-ratelimit-remaining": "1", "x-ratelimit-reset": "1060"}, None),
        ({}, None),
    ],
)
def test_retry_after_seconds_with_a_fixed_clock(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after_seconds(httpx.Headers(headers), now=1_000.0) == expected


def test_http_date_in_the_past_means_now() -> None:
    headers = httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(headers, now=datetime(2020, 1, 1, tzinfo=UTC).timestamp()) == 0.0


def test_http_date_with_a_fixed_clock() -> None:
    when = datetime(2030, 1, 1, 0, 1, 0, tzinfo=UTC)
    now = datetime(2030, 1, 1, 0, 0, 0, tzinfo=UTC).timestamp()
    headers = httpx.Headers({"retry-after": format_datetime(when, usegmt=True)})
    assert retry_after_seconds(headers, now=now) == 60.0


# -- client ------------------------------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, token: str | None = TOKEN, **kwargs: Any) -> GitHubClient:
    return GitHubClient(BASE + "/", token=token, transport=httpx.MockTransport(handler), **kwargs)


async def test_authorization_header_and_defaults() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    client = _client(handler)
    try:
        assert await client.get_json("/repos/o/r", what="repo") == {"ok": True}
        await client.get("/repos/o/r/contents/README.md", what="readme", accept=RAW)
    finally:
        await client.aclose()
    first, second = seen
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert first.headers["Accept"] == "application/vnd.github+json"
    assert first.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert first.headers["User-Agent"].startswith("issuesight/")
    assert str(first.url) == f"{BASE}/repos/o/r"
    assert second.headers["Accept"] == RAW
    assert client.requests_made == 2
    assert str(client.base_url) == BASE


@pytest.mark.parametrize("token", [None, ""])
async def test_no_authorization_without_a_token(token: str | None) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    client = _client(handler, token=token)
    try:
        await client.get_json("/repos/o/r", what="repo")
    finally:
        await client.aclose()
    assert "Authorization" not in seen[0].headers


async def test_rate_limit_attribute_follows_the_headers() -> None:
    answers = iter(
        [
            httpx.Response(
                200,
                json={},
                headers={
                    "x-ratelimit-limit": "5000",
                    "x-ratelimit-remaining": "4321",
                    "x-ratelimit-reset": "1700000000",
                },
            ),
            httpx.Response(200, json={}),  # no rate-limit headers: the last values stay
            httpx.Response(
                200, json={}, headers={"x-ratelimit-remaining": "59", "x-ratelimit-limit": "x"}
            ),
        ]
    )
    client = _client(lambda request: next(answers))
    try:
        assert client.rate_limit == RateLimit(None, None, None)
        await client.get("/a", what="a")
        assert client.rate_limit == RateLimit(5000, 4321, 1700000000)
        await client.get("/b", what="b")
        assert client.rate_limit == RateLimit(5000, 4321, 1700000000)
        await client.get("/c", what="c")
        assert client.rate_limit == RateLimit(None, 59, None)
    finally:
        await client.aclose()


async def test_rate_limit_noted_even_on_errors() -> None:
    reset = str(int(time.time()) + 30)
    headers = {"x-ratelimit-limit": "60", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    client = _client(lambda request: httpx.Response(403, json={"message": "rate"}, headers=headers))
    try:
        with pytest.raises(GitHubError) as info:
            await client.get("/x", what="x")
    finally:
        await client.aclose()
    assert info.value.kind == FailureKind.GITHUB_RATE_LIMITED
    assert client.rate_limit == RateLimit(60, 0, int(reset))


async def test_errors_are_classified() -> None:
    client = _client(lambda request: httpx.Response(404, json={"message": "Not Found"}))
    try:
        with pytest.raises(GitHubError) as info:
            await client.get_json("/repos/o/r/issues/9", what="issue o/r#9")
        assert info.value.kind == FailureKind.NOT_FOUND
        assert await client.get("/repos/o/r/readme", what="readme", allow_missing=True) is None
        assert await client.get_json("/x", what="x", allow_missing=True) is None
    finally:
        await client.aclose()


async def test_allow_missing_only_covers_404() -> None:
    client = _client(lambda request: httpx.Response(410, json={"message": "gone"}))
    try:
        with pytest.raises(GitHubError) as info:
            await client.get("/x", what="x", allow_missing=True)
    finally:
        await client.aclose()
    assert info.value.kind == FailureKind.ISSUE_DELETED


@pytest.mark.parametrize("content", [b"<html><body>Unicorn!</body></html>", b"", b'{"truncated": '])
async def test_malformed_json_on_200_is_unavailable(content: bytes) -> None:
    client = _client(lambda request: httpx.Response(200, content=content))
    try:
        with pytest.raises(GitHubError) as info:
            await client.get_json("/repos/o/r", what="repository o/r")
    finally:
        await client.aclose()
    assert info.value.kind == FailureKind.GITHUB_UNAVAILABLE
    assert info.value.retryable is True
    assert "malformed JSON" in info.value.message


def test_parse_json_directly() -> None:
    assert parse_json(_response(200, {"a": 1}), "x") == {"a": 1}
    with pytest.raises(GitHubError):
        parse_json(_response(200, text="nope"), "x")


@pytest.mark.parametrize(
    ("exception", "needle"),
    [
        (httpx.ConnectError("refused"), "could not be reached"),
        (httpx.RemoteProtocolError("peer closed"), "could not be reached"),
        (httpx.ReadError("reset"), "could not be reached"),
        (httpx.ReadTimeout("slow"), "timed out"),
        (httpx.ConnectTimeout("slow"), "timed out"),
        (httpx.PoolTimeout("busy"), "timed out"),
    ],
)
async def test_transport_errors_become_retryable(exception: Exception, needle: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    client = _client(handler)
    try:
        with pytest.raises(GitHubError) as info:
            await client.get("/repos/o/r", what="repository o/r")
    finally:
        await client.aclose()
    assert info.value.kind == FailureKind.GITHUB_UNAVAILABLE
    assert info.value.retryable is True
    assert needle in info.value.message
    assert "repository o/r" in info.value.message
    assert info.value.__cause__ is exception
    assert client.requests_made == 0


async def test_on_request_hook_runs_before_each_request() -> None:
    calls: list[str] = []

    async def hook() -> None:
        calls.append("hook")

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={})

    client = _client(handler, on_request=hook)
    try:
        await client.get("/a", what="a")
        await client.get("/b", what="b")
    finally:
        await client.aclose()
    assert calls == ["hook", "/a", "hook", "/b"]


# -- pagination --------------------------------------------------------------------------------


def _paged(pages: int, per_page: int = 3) -> tuple[Handler, list[httpx.Request]]:
    """Page 1 at the asked path; later pages, like GitHub's, at /repositories/ID/... URLs."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/repos/o/r/issues/1/comments":
            page = 1
        else:
            assert request.url.path == "/repositories/4242/issues/1/comments"
            page = int(request.url.params["page"])
        items = [{"id": page * 100 + i} for i in range(per_page)]
        headers = {}
        links = []
        if page < pages:
            links.append(
                f"<{BASE}/repositories/4242/issues/1/comments?per_page={per_page}&page={page + 1}>"
                '; rel="next"'
            )
        links.append(f'<{BASE}/repositories/4242/issues/1/comments?page={pages}>; rel="last"')
        headers["Link"] = ", ".join(links)
        return httpx.Response(200, json=items, headers=headers)

    return handler, seen


class _BrokenBody(httpx.AsyncByteStream):
    """A body whose connection breaks after its first chunk."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"PK\x03\x04"
        raise httpx.ReadError("connection reset")


async def test_a_body_broken_off_mid_download_is_retryable() -> None:
    client = _client(lambda request: httpx.Response(200, stream=_BrokenBody()))
    try:
        with pytest.raises(GitHubError) as info:
            await client.download(
                "/repos/o/r/zipball/main",
                io.BytesIO(),
                what="the archive of o/r",
                max_bytes=1_000,
                allow_redirect=lambda url: False,
            )
    finally:
        await client.aclose()
    assert info.value.kind == FailureKind.GITHUB_UNAVAILABLE
    assert info.value.retryable is True
    assert "broke off while sending the archive of o/r (ReadError)" in info.value.message
