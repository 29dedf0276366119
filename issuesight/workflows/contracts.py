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


@dataclass(frozen=True)
class TutorialRequest:
    issue_key: str
    target_generation: int = 1
    llm_max_attempts: int = 5
    llm_timeout_seconds: float = 120.0
    requested_by: str = "api"


@dataclass(frozen=True)
class BeginInput:
    issue_key: str
    target_generation: int


@dataclass(frozen=True)
class BeginResult:
    already_current: bool
    generation: int


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
