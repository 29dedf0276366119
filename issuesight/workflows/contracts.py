"""What workflows and activities exchange: small dataclasses of keys and ids, never bodies or
prompts (those stay in the database). No ORM or client imports here: the workflow sandbox
re-imports this module."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Stage(StrEnum):
    QUEUED = "queued"
    FETCHING_CONTEXT = "fetching_context"
    GENERATING = "generating"
    SAVING = "saving"
    DONE = "done"
    FAILED = "failed"


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
    RUN_TUTORIAL_JOB = "run_tutorial_job"
    ARCHIVE_CLOSED = "archive_closed_issues"
    LLM_BUDGET = "check_llm_budget"


@dataclass(frozen=True)
class TutorialRequest:
    issue_key: str
    target_generation: int = 1
    llm_max_attempts: int = 5
    llm_timeout_seconds: float = 120.0
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
    llm_max_attempts: int = 5
    llm_timeout_seconds: float = 120.0
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


@dataclass(frozen=True)
class SyncCandidate:
    issue_key: str
    refresh: bool


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
