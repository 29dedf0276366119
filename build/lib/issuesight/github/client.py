"""A small GitHub REST client on httpx: auth, timeouts, `Link` pagination and error classes.

It never retries on its own: Temporal owns retries, so every attempt is visible and bounded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from issuesight import __version__, metrics
from issuesight.github.errors import UNAVAILABLE, GitHubError, classify

log = logging.getLogger(__name__)

RAW = "application/vnd.github.raw"
SHA = "application/vnd.github.sha"
JSON = "application/vnd.github+json"


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int | None
    remaining: int | None
    reset: int | None


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
    ) -> httpx.Response | None:
        """GETs a path (or an absolute URL from a `Link` header); None for an allowed 404.

        With `etag`, the request is conditional and a 304 (free: GitHub does not count it
        against the rate limit) is returned as is."""
        if self._on_request is not None:
            pending = self._on_request()
            if pending is not None:
                await pending
        try:
            headers = {"Accept": accept}
            if etag:
                headers["If-None-Match"] = etag
            response = await self._http.get(path_or_url, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise GitHubError(f"GitHub timed out while fetching {what}", kind=UNAVAILABLE) from exc
        except httpx.TransportError as exc:
            raise GitHubError(
                f"GitHub could not be reached while fetching {what} ({type(exc).__name__})",
                kind=UNAVAILABLE,
            ) from exc
        self.requests_made += 1
        self._note_rate_limit(response.headers)
        metrics.GITHUB_REQUESTS.labels(status=str(response.status_code)).inc()
        if response.status_code == 304:
            metrics.GITHUB_NOT_MODIFIED.inc()
        if response.is_success or (etag and response.status_code == 304):
            return response
        if allow_missing and response.status_code == 404:
            return None
        raise classify(response, what=what)

    async def get_json(self, path: str, *, what: str, **kwargs: Any) -> Any:
        response = await self.get(path, what=what, **kwargs)
        return None if response is None else parse_json(response, what)

    async def get_raw(self, path: str, *, what: str, **kwargs: Any) -> bytes | None:
        response = await self.get(path, what=what, accept=RAW, **kwargs)
        return None if response is None else response.content

    async def paginate(
        self,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        max_pages: int = 50,
    ) -> tuple[list[Any], bool]:
        """Follows `rel="next"` links (which point at other paths than the one asked for).

        Returns the items and whether pages were left unread because of `max_pages`.
        """
        items: list[Any] = []
        next_url: str | None = path
        query = params
        for _ in range(max_pages):
            if next_url is None:
                return items, False
            response = await self.get(next_url, what=what, params=query)
            assert response is not None
            page = parse_json(response, what)
            if not isinstance(page, list):
                raise GitHubError(f"GitHub sent a non-list page for {what}", kind=UNAVAILABLE)
            items.extend(page)
            next_url = response.links.get("next", {}).get("url")
            query = None  # the next link carries the whole query
        return items, next_url is not None

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


def parse_json(response: httpx.Response | bytes, what: str) -> Any:
    """A response's (or a cached body's) JSON; malformed JSON is an outage, not data."""
    try:
        return json.loads(response if isinstance(response, bytes) else response.content)
    except ValueError as exc:
        # A proxy's HTML error page with a 200 is an outage, not data.
        raise GitHubError(f"GitHub sent malformed JSON for {what}", kind=UNAVAILABLE) from exc
