"""Every kind of failure a tutorial job can end with, whether it is permanent, and the one base
class of the errors the upstreams (GitHub, the LLM) raise.

The kinds are the names Temporal records as application error types and the API shows as
`failure_type`. A permanent kind fails at once (retrying cannot help and may cost money); any
other is retried with backoff, no sooner than the upstream asked. Standard library only: the
workflow sandbox re-imports this module, so it must not pull in httpx or openai.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class FailureKind(StrEnum):
    # GitHub
    NOT_FOUND = "NotFound"
    REPOSITORY_NOT_FOUND = "RepositoryNotFound"
    ISSUE_NOT_FOUND = "IssueNotFound"
    ISSUE_DELETED = "IssueDeleted"
    NOT_AN_ISSUE = "NotAnIssue"
    BAD_CREDENTIALS = "BadCredentials"
    FORBIDDEN = "Forbidden"
    INVALID_REQUEST = "InvalidRequest"
    GITHUB_RATE_LIMITED = "GitHubRateLimited"
    GITHUB_UNAVAILABLE = "GitHubUnavailable"
    # The LLM
    LLM_RATE_LIMITED = "LLMRateLimited"
    LLM_UNAVAILABLE = "LLMUnavailable"
    LLM_TIMEOUT = "LLMTimeout"
    LLM_INVALID_OUTPUT = "LLMInvalidOutput"
    LLM_AUTH = "LLMAuthenticationFailed"
    LLM_REJECTED = "LLMRequestRejected"
    # The answer hit the output-token cap (finish_reason "length"). Not retried as it is: the
    # same prompt under the same cap is cut again and every attempt is paid for. The workflow
    # retries it once, itself, with twice the cap.
    LLM_OUTPUT_TRUNCATED = "LLMOutputTruncated"
    # IssueSight's own
    INVALID_REFERENCE = "InvalidIssueReference"
    NOT_TRACKED = "NotTracked"  # a sync of a repository no longer tracked
    TERMINATED = "Terminated"  # an operator terminated the run
    TIMEOUT = "Timeout"  # a step ran out of its Temporal timeout
    ACTIVITY_FAILED = "ActivityFailed"  # anything not classified above


PERMANENT: frozenset[FailureKind] = frozenset(
    {
        FailureKind.NOT_FOUND,
        FailureKind.REPOSITORY_NOT_FOUND,
        FailureKind.ISSUE_NOT_FOUND,
        FailureKind.ISSUE_DELETED,
        FailureKind.NOT_AN_ISSUE,
        FailureKind.BAD_CREDENTIALS,
        FailureKind.FORBIDDEN,
        FailureKind.INVALID_REQUEST,
        FailureKind.LLM_AUTH,
        FailureKind.LLM_REJECTED,
        FailureKind.LLM_OUTPUT_TRUNCATED,
        FailureKind.INVALID_REFERENCE,
        FailureKind.NOT_TRACKED,
    }
)
# As Temporal's RetryPolicy wants them (a list of type names, in a stable order).
PERMANENT_TYPES: tuple[str, ...] = tuple(sorted(PERMANENT))


def is_permanent(kind: str) -> bool:
    return kind in PERMANENT


# A failed tutorial and the tracked repository's syncs (and webhooks). A failed run already
# spent its bounded attempts, each paid for; a sync that sees the same version of the issue
# again must not start another paid run every interval, for ever. Final for a sync: the
# permanent kinds, malformed output (LLM_MAX_ATTEMPTS answers already failed on this very
# input) and a run an operator terminated. Any other kind (an outage, a timeout) is retried by
# syncs after SYNC_RETRY_BACKOFF, doubling, at most SYNC_RETRY_LIMIT failed runs in a row. An
# edit of the issue (a new version) always gets a new run, and so does a submission.
SYNC_FINAL: frozenset[str] = PERMANENT | {FailureKind.LLM_INVALID_OUTPUT, FailureKind.TERMINATED}
SYNC_RETRY_LIMIT = 3
SYNC_RETRY_BACKOFF = timedelta(hours=1)


def sync_may_retry(kind: str | None, failed_runs: int, failed_at: datetime, now: datetime) -> bool:
    """Whether a sync may start a failed tutorial again although its issue did not change."""
    if kind in SYNC_FINAL or failed_runs >= SYNC_RETRY_LIMIT:
        return False
    return now - failed_at >= SYNC_RETRY_BACKOFF * (1 << max(0, failed_runs - 1))


class UpstreamError(Exception):
    """A failure of something IssueSight depends on, classified once where it happened."""

    def __init__(
        self,
        message: str,
        *,
        kind: FailureKind,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.status = status
        self.retry_after = retry_after  # seconds the upstream asked us to wait, if it said

    @property
    def retryable(self) -> bool:
        return not is_permanent(self.kind)
