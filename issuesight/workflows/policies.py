"""Every retry policy and timeout the workflows give their activities: their one home.

Temporal retries an activity forever by default; each policy here is bounded by what its
failure costs. Permanent failure kinds (issuesight.domain.failures) are never retried.
Import-light: the workflow sandbox re-imports this module.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from issuesight.domain.failures import PERMANENT_TYPES

# Short, idempotent database writes: a database restart is waited out, not failed.
DATABASE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
)
DATABASE_TIMEOUT = timedelta(seconds=30)
# Completing a tutorial verifies files and renders Markdown: more than a plain write.
COMPLETE_TIMEOUT = timedelta(seconds=60)
ARCHIVE_TIMEOUT = timedelta(minutes=5)

# GitHub reads: transient failures back off up to five minutes; a spent rate limit is waited
# out through the activity's next_retry_delay (Retry-After, x-ratelimit-reset).
GITHUB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=list(PERMANENT_TYPES),
)
FETCH_CONTEXT_TIMEOUT = timedelta(minutes=5)
FETCH_CONTEXT_HEARTBEAT = timedelta(minutes=1)
SYNC_PAGE_TIMEOUT = timedelta(minutes=2)
SYNC_PAGE_HEARTBEAT = timedelta(seconds=30)
# Long enough to wait out a spent GitHub rate limit (it resets hourly).
GITHUB_SCHEDULE_TO_CLOSE = timedelta(hours=2)


def llm_retry(max_attempts: int) -> RetryPolicy:
    """Every attempt may cost money: bounded by attempts, not by time alone."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=2),
        maximum_attempts=max_attempts,
        non_retryable_error_types=list(PERMANENT_TYPES),
    )


def llm_timeout(llm_timeout_seconds: float) -> timedelta:
    """One call's own timeout plus room to save the draft it paid for."""
    return timedelta(seconds=llm_timeout_seconds + 30)


# The LLM activity heartbeats every few seconds: a killed worker's call moves on in seconds.
LLM_HEARTBEAT = timedelta(seconds=10)

# A sync's tutorial job costs nothing to retry (the issue-keyed workflow ID attaches, the
# tutorial workflow never generates twice), so it is retried through worker crashes and
# database restarts.
JOB_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
)
JOB_TIMEOUT = timedelta(hours=1)
JOB_HEARTBEAT = timedelta(seconds=15)  # the job beats every 5 s

# The reconciler: the next scheduled run picks up whatever this one could not.
RECONCILE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=3)
RECONCILE_TIMEOUT = timedelta(minutes=10)
RECONCILE_HEARTBEAT = timedelta(seconds=30)
