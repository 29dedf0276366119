"""What can go wrong talking to GitHub, classified once: permanent or transient, and for how long
to wait before trying again."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

# Failure types: the names Temporal records and the API shows.
NOT_FOUND = "NotFound"
REPOSITORY_NOT_FOUND = "RepositoryNotFound"
ISSUE_NOT_FOUND = "IssueNotFound"
ISSUE_DELETED = "IssueDeleted"
NOT_AN_ISSUE = "NotAnIssue"
BAD_CREDENTIALS = "BadCredentials"
FORBIDDEN = "Forbidden"
INVALID_REQUEST = "InvalidRequest"
RATE_LIMITED = "GitHubRateLimited"
UNAVAILABLE = "GitHubUnavailable"

PERMANENT_TYPES = (
    NOT_FOUND,
    REPOSITORY_NOT_FOUND,
    ISSUE_NOT_FOUND,
    ISSUE_DELETED,
    NOT_AN_ISSUE,
    BAD_CREDENTIALS,
    FORBIDDEN,
    INVALID_REQUEST,
)

# GitHub asks clients that hit a secondary limit without Retry-After to wait at least a minute.
SECONDARY_LIMIT_WAIT = 60.0


class GitHubError(Exception):
    def __init__(
        self,
        message: str,
        *,
        kind: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind not in PERMANENT_TYPES


def retry_after_seconds(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or HTTP date) or a spent rate limit's reset."""
    now = time.time() if now is None else now
    raw = headers.get("retry-after")
    if raw:
        raw = raw.strip()
        if raw.isdigit():
            return float(raw)
        from_date = _delay_until_http_date(raw, now)
        if from_date is not None:
            return from_date
    if headers.get("x-ratelimit-remaining") == "0":
        reset = headers.get("x-ratelimit-reset", "")
        if reset.isdigit():
            # One extra second: the reset instant is truncated to whole seconds.
            return max(1.0, float(reset) - now + 1.0)
    return None


def _delay_until_http_date(raw: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None  # unparseable: the rate-limit headers decide instead
    return max(0.0, when.timestamp() - now)


def classify(response: httpx.Response, *, what: str) -> GitHubError:
    """Turns a non-success answer into a GitHubError whose message a person can act on."""
    status = response.status_code
    message = _github_message(response)
    wait = retry_after_seconds(response.headers)
    if status == 401:
        return GitHubError(
            "GitHub rejected the configured token (401 Bad credentials): check GITHUB_TOKEN",
            kind=BAD_CREDENTIALS,
            status=status,
        )
    if status in (403, 429):
        if wait is not None:
            return GitHubError(
                f"GitHub rate limit reached while fetching {what}; retrying in {wait:.0f}s",
                kind=RATE_LIMITED,
                status=status,
                retry_after=wait,
            )
        if status == 429 or "secondary rate limit" in message.lower():
            return GitHubError(
                f"GitHub secondary rate limit while fetching {what}",
                kind=RATE_LIMITED,
                status=status,
                retry_after=SECONDARY_LIMIT_WAIT,
            )
        return GitHubError(
            f"GitHub refused access to {what} (403: {message})", kind=FORBIDDEN, status=status
        )
    if status == 404:
        return GitHubError(f"{what} was not found on GitHub", kind=NOT_FOUND, status=status)
    if status == 410:
        return GitHubError(f"{what} is gone from GitHub (410)", kind=ISSUE_DELETED, status=status)
    if status == 422:
        return GitHubError(
            f"GitHub rejected the request for {what} (422: {message})",
            kind=INVALID_REQUEST,
            status=status,
        )
    if status >= 500 or status == 408:
        return GitHubError(
            f"GitHub is unavailable ({status}) while fetching {what}",
            kind=UNAVAILABLE,
            status=status,
            retry_after=wait,
        )
    return GitHubError(
        f"GitHub answered {status} for {what}: {message}", kind=INVALID_REQUEST, status=status
    )


def _github_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or ""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:300]
    return response.reason_phrase or ""
