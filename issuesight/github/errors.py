"""What can go wrong talking to GitHub, classified once: permanent or transient, and for how long
to wait before trying again."""

from __future__ import annotations

import time

import httpx

from issuesight.core.http import parse_retry_after
from issuesight.domain.failures import FailureKind, UpstreamError

# GitHub asks clients that hit a secondary limit without Retry-After to wait at least a minute.
SECONDARY_LIMIT_WAIT = 60.0


class GitHubError(UpstreamError):
    """A failure talking to GitHub; `status` is the HTTP status when there was one."""


def retry_after_seconds(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date) or a spent rate limit's reset."""
    now = time.time() if now is None else now
    wait = parse_retry_after(headers.get("retry-after"), now=now)
    if wait is not None:
        return wait
    if headers.get("x-ratelimit-remaining") == "0":
        reset = headers.get("x-ratelimit-reset", "")
        if reset.isdigit():
            # One extra second: the reset instant is truncated to whole seconds.
            return max(1.0, float(reset) - now + 1.0)
    return None


def classify(response: httpx.Response, *, what: str) -> GitHubError:
    """Turns a non-success answer into a GitHubError whose message a person can act on."""
    status = response.status_code
    message = _github_message(response)
    wait = retry_after_seconds(response.headers)
    if status == 401:
        return GitHubError(
            "GitHub rejected the configured token (401 Bad credentials): check GITHUB_TOKEN",
            kind=FailureKind.BAD_CREDENTIALS,
            status=status,
        )
    if status in (403, 429):
        if wait is not None:
            return GitHubError(
                f"GitHub rate limit reached while fetching {what}; retrying in {wait:.0f}s",
                kind=FailureKind.GITHUB_RATE_LIMITED,
                status=status,
                retry_after=wait,
            )
        if status == 429 or "secondary rate limit" in message.lower():
            return GitHubError(
                f"GitHub secondary rate limit while fetching {what}",
                kind=FailureKind.GITHUB_RATE_LIMITED,
                status=status,
                retry_after=SECONDARY_LIMIT_WAIT,
            )
        return GitHubError(
            f"GitHub refused access to {what} (403: {message})",
            kind=FailureKind.FORBIDDEN,
            status=status,
        )
    if status == 404:
        return GitHubError(
            f"{what} was not found on GitHub", kind=FailureKind.NOT_FOUND, status=status
        )
    if status == 410:
        return GitHubError(
            f"{what} is gone from GitHub (410)", kind=FailureKind.ISSUE_DELETED, status=status
        )
    if status == 422:
        return GitHubError(
            f"GitHub rejected the request for {what} (422: {message})",
            kind=FailureKind.INVALID_REQUEST,
            status=status,
        )
    if status >= 500 or status == 408:
        return GitHubError(
            f"GitHub is unavailable ({status}) while fetching {what}",
            kind=FailureKind.GITHUB_UNAVAILABLE,
            status=status,
            retry_after=wait,
        )
    return GitHubError(
        f"GitHub answered {status} for {what}: {message}",
        kind=FailureKind.INVALID_REQUEST,
        status=status,
    )


def _github_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or ""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:300]
    return response.reason_phrase or ""
