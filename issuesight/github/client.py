"""A small GitHub REST client on httpx: auth, timeouts, `Link` pagination and error classes.

It never retries on its own: Temporal owns retries, so every attempt is visible and bounded.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import httpx

from issuesight import __version__
from issuesight.core import metrics
from issuesight.domain.failures import FailureKind
from issuesight.github.errors import GitHubError, classify

log = logging.getLogger(__name__)

RAW = "application/vnd.github.raw"
# How many bytes of an error answer are read to say what went wrong.
ERROR_BODY_BYTES = 64 * 1024
HEARTBEAT_BYTES = 4 * 1024 * 1024
SHA = "application/vnd.github.sha"
JSON = "application/vnd.github+json"


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int | None
    remaining: int | None
    reset: int | None


class TooLarge(Exception):
    """A streamed answer went past the byte cap it was read with; the rest was not read."""


class RedirectRefused(Exception):
    """GitHub redirected to a host it is not allowed to send us to."""


class GitHubClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        headers = {
            "Accept": JSON,
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"issuesight/{__version__}",
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=True,  # renamed and transferred repositories answer 301
            transport=transport,
        )
        self._on_request = on_request
        self.rate_limit = RateLimit(None, None, None)
        self.requests_made = 0

    @property
    def base_url(self) -> httpx.URL:
        return self._http.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(
        self,
        path_or_url: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        accept: str = JSON,
        allow_missing: bool = False,
        etag: str | None = None,
        max_bytes: int | None = None,
    ) -> httpx.Response | None:
        """GETs a path (or an absolute URL from a `Link` header); None for an allowed 404.

        With `etag`, the request is conditional and a 304 (free: GitHub does not count it
        against the rate limit) is returned as is. With `max_bytes`, the body is streamed and
        only its first `max_bytes` are read: the answer holds that head, the rest never
        crosses the network buffer."""
        await self._before_request()
        with _unreachable(what):
            headers = {"Accept": accept}
            if etag:
                headers["If-None-Match"] = etag
            if max_bytes is None:
                response = await self._http.get(path_or_url, params=params, headers=headers)
            else:
                request = self._http.build_request(
                    "GET", path_or_url, params=params, headers=headers
                )
                streamed = await self._http.send(request, stream=True)
                try:
                    response = await _capped_copy(streamed, max_bytes)
                finally:
                    await streamed.aclose()
        self._count(response)
        if response.status_code == 304:
            metrics.GITHUB_NOT_MODIFIED.inc()
        if response.is_success or (etag and response.status_code == 304):
            return response
        if allow_missing and response.status_code == 404:
            return None
        raise classify(response, what=what)

    async def download(
        self,
        path: str,
        sink: IO[bytes],
        *,
        what: str,
        max_bytes: int,
        allow_redirect: Callable[[httpx.URL], bool],
        accept: str = JSON,
        max_redirects: int = 2,
    ) -> int:
        """Streams a GET's body into `sink`, at most `max_bytes` of it; returns the bytes written.

        Redirects are followed here, not by httpx, and only to URLs `allow_redirect` accepts;
        the token is sent to the API's own origin only. Raises TooLarge past the cap (the rest
        is never read), RedirectRefused for a redirect elsewhere, GitHubError for an error
        answer (its body read only up to ERROR_BODY_BYTES).
        """
        url = self._http.base_url.join(path.lstrip("/")) if "://" not in path else httpx.URL(path)
        for _ in range(max_redirects + 1):
            await self._before_request()
            request = self._http.build_request("GET", url, headers={"Accept": accept})
            if not self._same_origin(url):
                request.headers.pop("Authorization", None)
            with _unreachable(what):
                response = await self._http.send(request, stream=True, follow_redirects=False)
            try:
                if self._same_origin(url):
                    self._count(response)
                if response.is_redirect:
                    target = url.join(response.headers.get("location", ""))
                    if not allow_redirect(target):
                        raise RedirectRefused(
                            f"GitHub redirected {what} to {target.scheme}://{target.host}, "
                            "which is neither the API's host nor GitHub's archive host"
                        )
                    url = target
                    continue
                if not response.is_success:
                    raise classify(await _capped_copy(response, ERROR_BODY_BYTES), what=what)
                return await self._stream_body(response, sink, what=what, max_bytes=max_bytes)
            finally:
                await response.aclose()
        raise RedirectRefused(f"GitHub redirected {what} more than {max_redirects} times")

    async def _stream_body(
        self, response: httpx.Response, sink: IO[bytes], *, what: str, max_bytes: int
    ) -> int:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise TooLarge(f"{what} is {int(declared)} bytes, over the cap of {max_bytes}")
        written = 0
        next_beat = HEARTBEAT_BYTES
        with _unreachable(what, sending=True):
            async for chunk in response.aiter_bytes():
                written += len(chunk)
                if written > max_bytes:
                    raise TooLarge(f"{what} is larger than the cap of {max_bytes} bytes")
                sink.write(chunk)
                if written >= next_beat:
                    next_beat += HEARTBEAT_BYTES
                    await self._before_request()  # a long download keeps the activity alive
        return written

    def _same_origin(self, url: httpx.URL) -> bool:
        base = self._http.base_url
        return (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)

    async def _before_request(self) -> None:
        if self._on_request is not None:
            pending = self._on_request()
            if pending is not None:
                await pending

    def _count(self, response: httpx.Response) -> None:
        self.requests_made += 1
        self._note_rate_limit(response.headers)
        metrics.GITHUB_REQUESTS.labels(status=str(response.status_code)).inc()

    async def get_json(self, path: str, *, what: str, **kwargs: Any) -> Any:
        response = await self.get(path, what=what, **kwargs)
        return None if response is None else parse_json(response, what)

    def _note_rate_limit(self, headers: httpx.Headers) -> None:
        def as_int(name: str) -> int | None:
            value = headers.get(name, "")
            return int(value) if value.isdigit() else None

        if "x-ratelimit-remaining" in headers:
            self.rate_limit = RateLimit(
                as_int("x-ratelimit-limit"),
                as_int("x-ratelimit-remaining"),
                as_int("x-ratelimit-reset"),
            )
            if self.rate_limit.remaining is not None:
                metrics.GITHUB_RATE_REMAINING.set(self.rate_limit.remaining)


@contextlib.contextmanager
def _unreachable(what: str, *, sending: bool = False) -> Iterator[None]:
    """A request that got no answer, or an answer cut off while GitHub was `sending` its body
    (a timeout, a refused or broken connection), is GitHub unavailable: retried, never a
    verdict on the repository."""
    try:
        yield
    except httpx.TimeoutException as exc:
        during = "sending" if sending else "fetching"
        raise GitHubError(
            f"GitHub timed out while {during} {what}", kind=FailureKind.GITHUB_UNAVAILABLE
        ) from exc
    except httpx.TransportError as exc:
        failed = "broke off while sending" if sending else "could not be reached while fetching"
        raise GitHubError(
            f"GitHub {failed} {what} ({type(exc).__name__})",
            kind=FailureKind.GITHUB_UNAVAILABLE,
        ) from exc


async def _capped_copy(response: httpx.Response, limit: int) -> httpx.Response:
    """The answer with at most `limit` bytes of its body, so that classify() can read GitHub's
    error message without an unbounded read."""
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= limit:
            break
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=body[:limit],
        request=response.request,
    )


def parse_json(response: httpx.Response | bytes, what: str) -> Any:
    """A response's (or a cached body's) JSON; malformed JSON is an outage, not data."""
    try:
        return json.loads(response if isinstance(response, bytes) else response.content)
    except ValueError as exc:
        # A proxy's HTML error page with a 200 is an outage, not data.
        raise GitHubError(
            f"GitHub sent malformed JSON for {what}", kind=FailureKind.GITHUB_UNAVAILABLE
        ) from exc
