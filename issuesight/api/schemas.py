"""Request and response bodies: their own models, never the table models.

Integers and booleans in request bodies are JSON Schema's (`NOT_COERCED`, `StrictBool`): the
document says `integer` and `boolean`, so "5" and "true" are refused as it says, not coerced,
and 5.0 (an integer to JSON Schema) is 5."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, StrictBool, field_validator

from issuesight.accounts.store import EMAIL_PATTERN
from issuesight.db.concepts import ConceptNode
from issuesight.db.models import Role
from issuesight.db.projects import DEFAULT_LABELS
from issuesight.db.search import TutorialHit
from issuesight.db.tutorials import TutorialView
from issuesight.domain.refs import (
    ISSUE_REFERENCE_PATTERN,
    MAX_REFERENCE_LENGTH,
    REPO_NAME_PATTERN,
)
from issuesight.domain.status import FINISHED_STAGES, TutorialStatus


def _json_integer(value: object) -> object:
    """Leaves numbers to int's own checks (5.0 is 5, 5.5 is refused); refuses what JSON
    Schema's `integer` does not include and pydantic would coerce: strings and booleans."""
    if isinstance(value, str | bool):
        raise ValueError("must be an integer")
    return value


# After the field's constraints in Annotated (pydantic documents them as minimum/maximum only
# then): `Annotated[int, Field(ge=0), NOT_COERCED]`.
NOT_COERCED = BeforeValidator(_json_integer)


# -- errors -------------------------------------------------------------------------------------


class FieldError(BaseModel):
    """One reason a request was not valid: where (`loc`, e.g. ["body", "issue"]) and what."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx answer of the API: `detail` says what happened in words;
    the other fields come with the answers that have them."""

    detail: str
    errors: list[FieldError] | None = Field(
        default=None, description="422 for a request that is not valid: every reason"
    )
    retry_after: int | None = Field(
        default=None, description="429: seconds until a retry can succeed, as in Retry-After"
    )
    quota: dict[str, Any] | None = Field(
        default=None, description="429 for a spent quota: limit, used, next_available_at"
    )
    resumes_at: str | None = Field(
        default=None, description="429 for a spent LLM budget: when generations resume"
    )
    issue: str | None = Field(default=None, description="503 on submitting: the issue key")
    kept: bool | None = Field(
        default=None,
        description="503 on submitting: whether the request was recorded (PENDING) and will be "
        "started once Temporal answers",
    )
    id: uuid.UUID | None = Field(default=None, description="503, kept: the tutorial's id")
    status: str | None = Field(default=None, description="503, kept: the tutorial's status")
    status_url: str | None = Field(default=None, description="503, kept: where to poll")


# -- tutorials ----------------------------------------------------------------------------------


class TutorialSubmit(BaseModel):
    issue: str = Field(
        description="owner/repo#123 or https://github.com/owner/repo/issues/123",
        examples=["pallets/flask#5000"],
        # Documented, not validated here: parse_submitted_issue_ref refuses with the reason and
        # the valid forms in words (the body's size is bounded by MAX_REQUEST_BODY_BYTES).
        json_schema_extra={"pattern": ISSUE_REFERENCE_PATTERN, "maxLength": MAX_REFERENCE_LENGTH},
    )


class TutorialAccepted(BaseModel):
    id: uuid.UUID
    issue: str
    status: str
    stage: str
    status_url: str


class TutorialPublic(BaseModel):
    id: uuid.UUID
    issue: str
    issue_url: str
    issue_title: str | None = Field(description="the issue's own title on GitHub")
    issue_state: str | None = Field(description="open, closed or deleted; null until first read")
    status: str
    stage: str
    regenerating: bool
    stale: bool
    archived: bool
    failure_reason: str | None
    failure_type: str | None
    title: str | None
    difficulty: str | None
    junior_friendly: bool | None
    markdown: str | None
    tutorial: dict[str, Any] | None
    concepts: list[str]
    commit_sha: str | None
    generation: int
    model: str | None
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @classmethod
    def from_view(cls, view: TutorialView, web_url: str = "https://github.com") -> TutorialPublic:
        """`web_url`: GitHub's web address (Settings.github_web_url: an Enterprise host's)."""
        c = view.content
        owner_repo, _, number = view.issue_key.partition("#")
        return cls(
            id=c.id,
            issue=view.issue_key,
            issue_url=f"{web_url}/{owner_repo}/issues/{number}",
            issue_title=view.issue_title,
            issue_state=view.issue_state,
            status=c.status,
            stage=c.stage,
            regenerating=c.status == TutorialStatus.COMPLETED and c.stage not in FINISHED_STAGES,
            stale=c.stale,
            archived=c.archived_at is not None,
            failure_reason=c.failure_reason,
            failure_type=c.failure_type,
            title=c.title,
            difficulty=c.difficulty,
            junior_friendly=c.junior_friendly,
            markdown=c.markdown_body,
            tutorial=c.structured,
            concepts=view.concepts,
            commit_sha=c.commit_sha,
            generation=c.generation,
            model=c.model,
            llm_calls=c.llm_calls,
            prompt_tokens=c.prompt_tokens,
            completion_tokens=c.completion_tokens,
            created_at=c.created_at,
            updated_at=c.updated_at,
            completed_at=c.completed_at,
        )


class TutorialSummary(BaseModel):
    id: uuid.UUID
    issue: str
    issue_title: str | None
    issue_state: str | None
    status: str
    stage: str
    title: str | None
    difficulty: str | None
    junior_friendly: bool | None
    concepts: list[str]
    stale: bool
    archived: bool
    updated_at: datetime
    url: str

    @classmethod
    def from_hit(cls, hit: TutorialHit, url: str) -> TutorialSummary:
        return cls(
            id=hit.id,
            issue=hit.issue_key,
            issue_title=hit.issue_title,
            issue_state=hit.issue_state,
            status=hit.status,
            stage=hit.stage,
            title=hit.title,
            difficulty=hit.difficulty,
            junior_friendly=hit.junior_friendly,
            concepts=[c.slug for c in hit.concepts],
            stale=hit.stale,
            archived=hit.archived,
            updated_at=hit.updated_at,
            url=url,
        )


class TutorialPage(BaseModel):
    items: list[TutorialSummary]
    total: int
    limit: int
    offset: int


# -- accounts ----------------------------------------------------------------------------------


class QuotaPublic(BaseModel):
    limit: int | None = Field(description="new generations per rolling 24 h; null: unlimited")
    used: int
    remaining: int | None
    next_available_at: datetime | None = Field(
        description="when one more generation becomes available, if none is now"
    )
    resets_at: datetime | None = Field(description="when every counted generation has aged out")


class MePublic(BaseModel):
    id: uuid.UUID
    email: str
    role: str
    auth_mode: str
    key: str | None = Field(description="the prefix of the API key this request used")
    quota: QuotaPublic


class UnlockPublic(BaseModel):
    id: uuid.UUID
    issue: str
    title: str | None
    status: str
    is_original_requester: bool
    unlocked_at: datetime
    url: str


class UnlockPage(BaseModel):
    items: list[UnlockPublic]
    total: int
    limit: int
    offset: int


class KeyCreate(BaseModel):
    name: str = Field(default="", max_length=100, examples=["laptop"])


class KeyPublic(BaseModel):
    prefix: str
    name: str
    user_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class KeyCreated(KeyPublic):
    key: str = Field(description="the API key itself: shown this once, never again")


class UserCreate(BaseModel):
    email: str = Field(
        max_length=320,
        examples=["ada@example.com"],
        # Documented, not validated here: normalize_email refuses with the reason in words.
        json_schema_extra={"pattern": EMAIL_PATTERN},
    )
    role: Role = Role.MEMBER


class UserPatch(BaseModel):
    role: Role | None = None
    daily_generations: Annotated[int, Field(ge=0, le=100_000), NOT_COERCED] | None = Field(
        default=None, description="null: back to USER_DAILY_GENERATIONS"
    )


class UserPublic(BaseModel):
    id: uuid.UUID
    email: str
    role: str
    daily_generations: int | None
    created_at: datetime
    last_requested_at: datetime | None


class AuditPublic(BaseModel):
    id: uuid.UUID
    at: datetime
    actor: str
    actor_id: uuid.UUID | None
    actor_email: str | None
    action: str
    target: str
    cost: int
    detail: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditPublic]
    total: int
    limit: int
    offset: int


# -- tracked repositories ------------------------------------------------------------------

# Each sync costs GitHub requests and may start paid generations: not more often than this.
MIN_INTERVAL_MINUTES = 15


class ProjectTrack(BaseModel):
    repo: str = Field(
        max_length=300,
        examples=["pallets/flask"],
        # Documented, not validated here: parse_repo_name refuses with the reason in words.
        json_schema_extra={"pattern": REPO_NAME_PATTERN},
    )
    labels: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=lambda: list(DEFAULT_LABELS), max_length=20
    )
    interval_minutes: Annotated[
        int, Field(ge=MIN_INTERVAL_MINUTES, le=7 * 24 * 60), NOT_COERCED
    ] = 60

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for label in labels:
            seen.setdefault(label.strip().lower(), label.strip())
        return list(seen.values())


class ProjectPatch(BaseModel):
    paused: StrictBool


class SyncStarted(BaseModel):
    repo: str
    status: str


class ScheduleState(BaseModel):
    schedule_id: str
    paused: bool
    interval_minutes: int | None
    next_run: datetime | None
    recent_runs: int


class ProjectPublic(BaseModel):
    repo: str
    labels: list[str]
    interval_minutes: int | None
    paused: bool
    last_synced_at: datetime | None
    issues: int
    open_issues: int
    tutorials: int
    schedule: ScheduleState | None


# -- operations -------------------------------------------------------------------------------


class Health(BaseModel):
    status: str = Field(description="ok, or degraded when a dependency is down")
    checks: dict[str, dict[str, Any]] = Field(description="each dependency's state")


# -- webhooks -----------------------------------------------------------------------------------


class WebhookAnswer(BaseModel):
    """What was done with a delivery: `status` (started, recorded, ignored, deferred,
    duplicate, pong) and, by status, the details."""

    status: str
    reason: str | None = None
    issue: str | None = None
    action: str | None = None
    refresh: bool | None = None
    delivery: str | None = None
    zen: str | None = None


# -- concepts ---------------------------------------------------------------------------------


class ConceptTreeNode(BaseModel):
    slug: str
    name: str
    description: str | None
    tutorials: int
    children: list[ConceptTreeNode]

    @classmethod
    def from_node(cls, node: ConceptNode) -> ConceptTreeNode:
        return cls(
            slug=node.slug,
            name=node.name,
            description=node.description,
            tutorials=node.tutorials,
            children=[cls.from_node(child) for child in node.children],
        )


class ConceptTree(BaseModel):
    concepts: list[ConceptTreeNode]


class ConceptRef(BaseModel):
    slug: str
    name: str
    tutorials: int
    url: str


class ConceptPublic(BaseModel):
    slug: str
    name: str
    description: str | None
    parents: list[ConceptRef]
    children: list[ConceptRef]
    tutorials: TutorialPage
