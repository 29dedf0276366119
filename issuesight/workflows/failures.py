"""Failure types and the human-readable reason a failed workflow carries. Import-light: the
workflow sandbox re-imports it."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError, RetryState, TimeoutError

from issuesight.github.errors import PERMANENT_TYPES as GITHUB_PERMANENT
from issuesight.llm.errors import PERMANENT_TYPES as LLM_PERMANENT

INVALID_REFERENCE = "InvalidIssueReference"
PERMANENT_FAILURE_TYPES: tuple[str, ...] = (*GITHUB_PERMANENT, *LLM_PERMANENT, INVALID_REFERENCE)


def describe_failure(err: ActivityError) -> tuple[str, str]:
    """(reason, type) from the innermost application error of an activity failure."""
    cause = err.cause
    while cause is not None and not isinstance(cause, ApplicationError | TimeoutError):
        cause = cause.cause
    gave_up = err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    suffix = " (gave up after the maximum number of attempts)" if gave_up else ""
    if isinstance(cause, ApplicationError):
        return cause.message + suffix, cause.type or "ActivityFailed"
    if isinstance(cause, TimeoutError):
        return f"{err.activity_type} timed out ({cause.type.name.lower()})", "Timeout"
    return f"{err.activity_type} failed: {err.message}", "ActivityFailed"
