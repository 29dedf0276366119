"""Failure types and the human-readable reason a failed workflow carries. Import-light: the
workflow sandbox re-imports it."""

from __future__ import annotations

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    RetryState,
    TimeoutError,
)

from issuesight.github.errors import PERMANENT_TYPES as GITHUB_PERMANENT
from issuesight.llm.errors import PERMANENT_TYPES as LLM_PERMANENT

INVALID_REFERENCE = "InvalidIssueReference"
PERMANENT_FAILURE_TYPES: tuple[str, ...] = (*GITHUB_PERMANENT, *LLM_PERMANENT, INVALID_REFERENCE)


def describe_failure(err: ActivityError) -> tuple[str, str]:
    """(reason, type) from the innermost application error of an activity failure."""
    cause: BaseException | None = err.cause
    while isinstance(cause, FailureError) and not isinstance(
        cause, ApplicationError | TimeoutError
    ):
        cause = cause.cause
    gave_up = err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    suffix = " (gave up after the maximum number of attempts)" if gave_up else ""
    if isinstance(cause, ApplicationError):
        return cause.message + suffix, cause.type or "ActivityFailed"
    if isinstance(cause, TimeoutError):
        kind = cause.type.name.lower() if cause.type is not None else "timeout"
        return f"{err.activity_type} timed out ({kind})", "Timeout"
    return f"{err.activity_type} failed: {err.message}", "ActivityFailed"
