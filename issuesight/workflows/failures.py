"""The human-readable reason and the kind a failed workflow carries, read off the activity
failure Temporal reports. The kinds themselves live in issuesight.domain.failures. Import-light:
the workflow sandbox re-imports it."""

from __future__ import annotations

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    RetryState,
    TimeoutError,
)

from issuesight.domain.failures import FailureKind


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
        return cause.message + suffix, cause.type or FailureKind.ACTIVITY_FAILED
    if isinstance(cause, TimeoutError):
        kind = cause.type.name.lower() if cause.type is not None else "timeout"
        return f"{err.activity_type} timed out ({kind})", FailureKind.TIMEOUT
    return f"{err.activity_type} failed: {err.message}", FailureKind.ACTIVITY_FAILED
