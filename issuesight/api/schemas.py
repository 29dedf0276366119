"""Request and response bodies: their own models, never the table models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from issuesight.db.concepts import ConceptNode
from issuesight.db.models import Role
from issuesight.db.projects import DEFAULT_LABELS
from issuesight.db.search import TutorialHit
from issuesight.db.tutorials import TutorialView
from issuesight.domain.status import FINISHED_STAGES, TutorialStatus


class TutorialSubmit(BaseModel):
    issue: str = Field(
        max_length=2000,
        description="owner/repo#123 or https://github.com/owner/repo/issues/123",
        examples=["pallets/flask#5000"],
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
    email: str = Field(max_length=320, examples=["ada@example.com"])
    role: Role = Role.MEMBER


class UserPatch(BaseModel):
    role: Role | None = None
    daily_generations: int | None = Field(
        default=None, ge=0, le=100_000, description="null: back to USER_DAILY_GENERATIONS"
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
    repo: str = Field(max_length=300, examples=["pallets/flask"])
    labels: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=lambda: list(DEFAULT_LABELS), max_length=20
    )
    interval_minutes: int = Field(default=60, ge=MIN_INTERVAL_MINUTES, le=7 * 24 * 60)

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: list[str]) -> list[str]:
        seen: dict[str, str] = {}
        for label in labels:
            seen.setdefault(label.strip().lower(), label.strip())
        return list(seen.values())


class ProjectPatch(BaseModel):
    paused: bool


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
