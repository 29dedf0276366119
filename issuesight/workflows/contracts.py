"""What workflows and activities exchange: small dataclasses of keys and ids, never bodies or
prompts (those stay in the database). No ORM or client imports here: the workflow sandbox
re-imports this module."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from issuesight.domain import defaults
from issuesight.domain.status import Stage


class ActivityName(StrEnum):
    BEGIN = "begin_generation"
    FETCH_CONTEXT = "fetch_issue_context"
    GENERATE = "generate_tutorial_draft"
    COMPLETE = "complete_tutorial"
    MARK_FAILED = "mark_tutorial_failed"
    MARK_UNCHANGED = "mark_tutorial_unchanged"
    MARK_STALE = "mark_tutorial_stale"
    SYNC_BEGIN = "begin_repo_sync"
    SYNC_PAGE = "sync_issue_page"
    SYNC_FINISH = "finish_repo_sync"
    SYNC_PAGE_DONE = "remember_issue_page"
    RUN_TUTORIAL_JOB = "run_tutorial_job"
    ARCHIVE_CLOSED = "archive_closed_issues"
    LLM_BUDGET = "check_llm_budget"
    RECONCILE = "reconcile_tutorials"


@dataclass(frozen=True)
class TutorialRequest:
    issue_key: str
    target_generation: int = 1
    llm_max_attempts: int = defaults.LLM_MAX_ATTEMPTS
    llm_timeout_seconds: float = defaults.LLM_TIMEOUT_SECONDS
    requested_by: str = "api"
    # A refresh (sync, webhook) regenerates only when the tutorial's inputs changed.
    refresh: bool = False
    regenerate_stale: bool = True


@dataclass(frozen=True)
class BeginInput:
    issue_key: str
    target_generation: int


@dataclass(frozen=True)
class BeginResult:
    already_current: bool
    generation: int
    fingerprint: str | None = None
    # The tutorial was generated within the refresh cooldown: a refresh that finds new inputs
    # marks it stale and leaves the regeneration to the reconciler, once the cooldown is over.
    refresh_deferred: bool = False


@dataclass(frozen=True)
class MarkStaleInput:
    issue_key: str
    regenerating: bool


@dataclass(frozen=True)
class FetchContextInput:
    issue_key: str
    run_id: str


@dataclass(frozen=True)
class FetchContextResult:
    commit_sha: str | None
    fingerprint: str
    title: str
    comments_kept: int
    comments_total: int
    files: list[str] = field(default_factory=list)
    # The same inputs under the fingerprint's earlier formula (context.bundle), which stored
    # tutorials may carry; absent from results recorded before it existed.
    earlier_fingerprint: str | None = None


@dataclass(frozen=True)
class GenerateInput:
    issue_key: str
    run_id: str
    # Set on the one retry after an answer was cut at the output cap (LLMOutputTruncated).
    output_cap_doubled: bool = False


@dataclass(frozen=True)
class GenerateResult:
    prompt_chars: int
    prompt_tokens: int
    completion_tokens: int
    reused_draft: bool


@dataclass(frozen=True)
class CompleteInput:
    issue_key: str
    run_id: str


@dataclass(frozen=True)
class CompleteResult:
    generation: int
    difficulty: str
    concepts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MarkFailedInput:
    issue_key: str
    reason: str
    failure_type: str


@dataclass(frozen=True)
class Progress:
    issue_key: str
    stage: Stage
    failure_reason: str | None = None


@dataclass(frozen=True)
class TutorialOutcome:
    issue_key: str
    generated: bool
    generation: int
    difficulty: str | None = None
    stale: bool = False


@dataclass(frozen=True)
class SyncRequest:
    repo: str  # lower-cased owner/repo
    max_in_flight: int = 4
    regenerate_stale: bool = True
    rate_limit_floor: int = 100
    llm_max_attempts: int = defaults.LLM_MAX_ATTEMPTS
    llm_timeout_seconds: float = defaults.LLM_TIMEOUT_SECONDS
    # While LLM_DAILY_TOKEN_BUDGET is spent, the budget is checked again this often (a raised
    # budget is noticed without waiting for the whole window to roll).
    llm_budget_recheck_seconds: float = 900.0
    # Continue-as-new state: where the previous run stopped.
    labels: list[str] = field(default_factory=list)
    page_url: str | None = None
    newest_seen: str | None = None
    pages_done: int = 0
    jobs_started: int = 0


@dataclass(frozen=True)
class SyncBeginResult:
    first_url: str
    labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SyncPageInput:
    repo: str
    url: str
    labels: list[str] = field(default_factory=list)
    # The page's ETag is returned for the workflow to remember once the page's jobs have
    # started (SYNC_PAGE_DONE), not remembered by the page activity itself.
    defer_etag: bool = False


@dataclass(frozen=True)
class SyncCandidate:
    issue_key: str
    refresh: bool
    updated_at: str | None = None  # the version whose job this is (ISO 8601)


@dataclass(frozen=True)
class SyncPageResult:
    candidates: list[SyncCandidate]
    next_url: str | None
    not_modified: bool
    newest_updated_at: str | None
    rate_remaining: int | None
    rate_reset: int | None
    issues_seen: int = 0
    pull_requests_skipped: int = 0
    etag: str | None = None  # set when the page activity left remembering it to the workflow


@dataclass(frozen=True)
class SyncPageDone:
    url: str
    etag: str
    next_url: str | None


@dataclass(frozen=True)
class SyncFinishInput:
    repo: str
    newest_seen: str | None
    pages: int = 0


@dataclass(frozen=True)
class SyncOutcome:
    repo: str
    pages: int
    jobs: int


@dataclass(frozen=True)
class TutorialJobInput:
    issue_key: str
    refresh: bool
    regenerate_stale: bool
    llm_max_attempts: int
    llm_timeout_seconds: float
    # The version of the issue the job is for: marked handled once the job has started.
    updated_at: str | None = None


@dataclass(frozen=True)
class TutorialJobResult:
    issue_key: str
    status: str
    generated: bool


@dataclass(frozen=True)
class LLMBudgetCheck:
    repo: str  # whose sync asks, for the logs


@dataclass(frozen=True)
class LLMBudgetState:
    wait_seconds: float  # 0: generations may start
    used: int = 0
    budget: int = 0  # 0: unlimited


@dataclass(frozen=True)
class ArchiveInput:
    older_than_days: int
    now_iso: str


@dataclass(frozen=True)
class ArchiveResult:
    issues: int
    tutorials: int


@dataclass(frozen=True)
class ReconcileRequest:
    # Rows touched more recently than this are left alone: their submission may be under way.
    grace_seconds: int = 30
    batch: int = 200


@dataclass(frozen=True)
class ReconcileResult:
    restarted: int = 0  # pending tutorials whose workflow had never started or had been lost
    terminated: int = 0  # pending tutorials whose workflow an operator ended: marked FAILED
    stages_reset: int = 0  # completed tutorials shown as regenerating with no run under way
    rechecked: int = 0  # watched issues without a tutorial, or with an unhandled change
    refreshed: int = 0  # stale tutorials whose refresh cooldown is over
    running: int = 0  # candidates left alone because their workflow is running
    deferred: int = 0  # work not started because LLM_DAILY_TOKEN_BUDGET is spent
