"""Turning client errors into Temporal application errors: permanent ones stop at once,
transient ones retry no sooner than the upstream asked."""

from __future__ import annotations

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from issuesight.domain.failures import UpstreamError


def to_application_error(exc: UpstreamError) -> ApplicationError:
    delay = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
    return ApplicationError(
        exc.message, type=exc.kind, non_retryable=not exc.retryable, next_retry_delay=delay
    )
