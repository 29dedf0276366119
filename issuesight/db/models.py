"""Tables (the ERD in DESIGN.md, plus what the features need).

Natural keys are unique so that every activity can upsert on them: running an activity twice
changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from issuesight.db.types import JSONType, UTCDateTime, utcnow
from issuesight.domain.deliveries import MAX_ACTION_CHARS, MAX_DELIVERY_ID_CHARS, MAX_EVENT_CHARS
from issuesight.domain.status import Stage, TutorialStatus


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Project(SQLModel, table=True):
    __tablename__ = "projects"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    gh_repo_id: int | None = Field(default=None, sa_type=sa.BigInteger, unique=True)
    owner_handle: str = Field(max_length=100)
    repo_name: str = Field(max_length=200)
    full_name: str = Field(max_length=300, unique=True, description="lower-cased owner/repo")
    display_name: str | None = Field(default=None, max_length=300)
    language: str | None = Field(default=None, max_length=100)
    default_branch: str | None = Field(default=None, max_length=255)
    raw_data: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    # Tracking: a repository whose issues are kept fresh by a Temporal Schedule.
    tracked: bool = False
    watch_labels: list[str] | None = Field(default=None, sa_type=JSONType)
    interval_minutes: int | None = None
    paused: bool = False
    sync_since: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="newest issue updated_at seen"
    )
    last_synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _created()
    updated_at: datetime = _created()


class GitHubIssue(SQLModel, table=True):
    __tablename__ = "github_issues"
    __table_args__ = (sa.UniqueConstraint("project_id", "issue_number"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", index=True)
    issue_number: int
    issue_key: str = Field(max_length=320, unique=True, description="owner/repo#number")
    gh_issue_id: int | None = Field(default=None, sa_type=sa.BigInteger, unique=True)
    title: str | None = Field(default=None)
    state: str | None = Field(default=None, max_length=20)
    is_pull_request: bool = False
    raw_data: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    # The newest `updated_at` GitHub reported (raw_data is that version); older deliveries and
    # listings are ignored rather than written over it.
    source_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The `updated_at` whose tutorial work has started (a job, or a run that read it). Behind
    # source_updated_at means a change no job has picked up yet: the reconciler starts one.
    handled_updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Open and carrying one of its tracked project's watch labels, as last recorded.
    watched: bool = False
    last_synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted: bool = False
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    created_at: datetime = _created()


class TutorialContentBase(SQLModel):
    """A tutorial's columns. Reads that only show a tutorial build `TutorialRecord` from them:
    a table model's constructor instruments every attribute, a third of the status route's
    time (bench.status)."""

    id: uuid.UUID
    issue_id: uuid.UUID
    title: str | None = None
    markdown_body: str | None = Field(default=None, sa_type=sa.Text)
    structured: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    status: TutorialStatus = Field(
        default=TutorialStatus.PENDING, sa_type=sa.String(20), index=True
    )
    stage: str = Field(default=Stage.QUEUED, max_length=40)
    difficulty: str | None = Field(default=None, max_length=20, index=True)
    junior_friendly: bool | None = None
    failure_reason: str | None = Field(default=None, sa_type=sa.Text)
    failure_type: str | None = Field(default=None, max_length=80)
    generation: int = Field(default=0, description="completed generations so far")
    # The generation some request asked for: a request that finds it already asked for (and
    # not yet done or failed) attaches as a free unlock instead of paying for a new one.
    requested_generation: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    commit_sha: str | None = Field(default=None, max_length=64)
    context_fingerprint: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_calls: int = 0
    # Failed runs since the last completion: bounds how often syncs start a failed tutorial
    # again for an unchanged issue (domain.failures.sync_may_retry).
    failed_runs: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = _created()
    updated_at: datetime = _created()
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stale: bool = Field(default=False, description="its inputs changed since it was generated")
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class TutorialContent(TutorialContentBase, table=True):
    """The context bridge for one issue; its id derives from the issue key (tutorial_id_for)."""

    __tablename__ = "tutorial_contents"

    id: uuid.UUID = Field(primary_key=True)
    issue_id: uuid.UUID = Field(foreign_key="github_issues.id", unique=True)


class TutorialRecord(TutorialContentBase):
    """A tutorial as read, detached from any session."""


class GenerationContext(SQLModel, table=True):
    """What one generation reads: the bounded prompt material and, once answered, the draft.

    Kept out of workflow payloads (they carry ids), and keyed by the workflow run so that a
    retried generation activity finds a draft it already paid for instead of calling again.
    """

    __tablename__ = "generation_contexts"

    tutorial_id: uuid.UUID = Field(foreign_key="tutorial_contents.id", primary_key=True)
    run_id: str = Field(max_length=100)
    commit_sha: str | None = Field(default=None, max_length=64)
    fingerprint: str = Field(max_length=64)
    bundle: dict[str, Any] = Field(sa_type=JSONType)
    draft: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    usage: dict[str, Any] | None = Field(default=None, sa_type=JSONType)
    # The generation this run's completion made; None until it completed. The completion
    # activity may run again after it committed (a worker lost before reporting): it finds
    # this set and changes nothing.
    completed_generation: int | None = None
    created_at: datetime = _created()


class RegenerationLimit(SQLModel, table=True):
    """How often a tutorial was regenerated on request: a cooldown after each request and at
    most REGENERATE_DAILY_LIMIT in the 24 hours from the first of a window."""

    __tablename__ = "regeneration_limits"

    tutorial_id: uuid.UUID = Field(foreign_key="tutorial_contents.id", primary_key=True)
    requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    window_started_at: datetime = Field(sa_type=UTCDateTime)
    window_count: int = 0


class Concept(SQLModel, table=True):
    __tablename__ = "concepts"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slug: str = Field(max_length=80, unique=True)
    name: str = Field(max_length=300)
    description: str | None = Field(default=None, sa_type=sa.Text)


class ConceptRelationship(SQLModel, table=True):
    __tablename__ = "concept_relationships"

    parent_id: uuid.UUID = Field(foreign_key="concepts.id", primary_key=True)
    child_id: uuid.UUID = Field(foreign_key="concepts.id", primary_key=True)
    rel_type: str = Field(default="subconcept_of", max_length=40, primary_key=True)


class ProjectConcept(SQLModel, table=True):
    __tablename__ = "project_concepts"

    project_id: uuid.UUID = Field(foreign_key="projects.id", primary_key=True)
    concept_id: uuid.UUID = Field(foreign_key="concepts.id", primary_key=True)


class TutorialConcept(SQLModel, table=True):
    __tablename__ = "tutorial_concepts"

    content_id: uuid.UUID = Field(foreign_key="tutorial_contents.id", primary_key=True)
    concept_id: uuid.UUID = Field(foreign_key="concepts.id", primary_key=True, index=True)


class Role(StrEnum):
    """admin: tracked projects, regeneration, users and keys. member: submit and read."""

    ADMIN = "admin"
    MEMBER = "member"


class User(SQLModel, table=True):
    """An account. A deleted user stays as a tombstone (no email, no keys, no unlocks) so that
    the audit trail keeps pointing at a stable id without keeping personal data."""

    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    display_name: str | None = Field(default=None, max_length=200)
    avatar_url: str | None = Field(default=None, max_length=500)
    role: Role = Field(
        default=Role.MEMBER,
        sa_type=sa.String(20),
        sa_column_kwargs={"server_default": Role.MEMBER.value},
    )
    daily_generations: int | None = Field(
        default=None, description="this user's own USER_DAILY_GENERATIONS; None: the setting's"
    )
    # The seeds' quota anchor: when this user last started a generation.
    last_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = _created()


class ApiKey(SQLModel, table=True):
    """An API key, stored only as the SHA-256 of the whole key: the key itself is shown once,
    when it is made. `prefix` is the key's public part (lookups, listings, revocation)."""

    __tablename__ = "api_keys"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    prefix: str = Field(max_length=40, unique=True)
    key_hash: str = Field(max_length=64)
    name: str = Field(default="", max_length=100)
    created_at: datetime = _created()
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """Who did which write. Also the quota ledger: a generation a user started costs 1, and a
    user's spent quota is the sum of `cost` over their last 24 hours."""

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_actor_id_at", "actor_id", "at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="users.id")
    actor: str = Field(max_length=20, description="user, sync, webhook or cli")
    action: str = Field(max_length=40, index=True)
    target: str = Field(max_length=400)
    cost: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    detail: dict[str, Any] | None = Field(default=None, sa_type=JSONType)


class RateBucket(SQLModel, table=True):
    """A token bucket per API key and per client address, shared by every API process.
    Times are seconds since the epoch (the arithmetic happens in SQL)."""

    __tablename__ = "rate_buckets"

    key: str = Field(primary_key=True, max_length=200)
    tokens: float
    updated_at: float


class LLMUsage(SQLModel, table=True):
    """Tokens each answered LLM call spent (refused answers too): the ledger
    LLM_DAILY_TOKEN_BUDGET is read from."""

    __tablename__ = "llm_usage"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    tutorial_id: uuid.UUID = Field(foreign_key="tutorial_contents.id")
    run_id: str = Field(max_length=100)
    tokens: int


class UserIdentity(SQLModel, table=True):
    __tablename__ = "user_identities"
    __table_args__ = (sa.UniqueConstraint("provider", "provider_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    provider: str = Field(max_length=40)
    provider_id: str = Field(max_length=200)


class WebSession(SQLModel, table=True):
    """A browser signed in to the pages. Its cookie holds a random token; only the token's
    SHA-256 is stored, so a copy of this table opens no session. `key_prefix` names the API key
    the session was exchanged for (revoking that key ends it); None for a GitHub sign-in."""

    __tablename__ = "web_sessions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    method: str = Field(max_length=20, description="key or github")
    key_prefix: str | None = Field(default=None, max_length=40, index=True)
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    last_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class Tutorial(SQLModel, table=True):
    """Which user unlocked which tutorial content."""

    __tablename__ = "tutorials"
    __table_args__ = (sa.UniqueConstraint("user_id", "content_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    content_id: uuid.UUID = Field(foreign_key="tutorial_contents.id", index=True)
    is_original_requester: bool = False
    created_at: datetime = _created()


class HttpCacheEntry(SQLModel, table=True):
    """Conditional-request state per GitHub URL: unchanged answers come back as free 304s."""

    __tablename__ = "http_cache"

    url: str = Field(primary_key=True, max_length=2000)
    etag: str = Field(max_length=200)
    next_url: str | None = Field(default=None, max_length=2000)
    body: Any | None = Field(default=None, sa_type=JSONType)
    fetched_at: datetime = _created()


class WebhookDelivery(SQLModel, table=True):
    """Deliveries already handled: GitHub redelivers with the same X-GitHub-Delivery."""

    __tablename__ = "webhook_deliveries"

    delivery_id: str = Field(primary_key=True, max_length=MAX_DELIVERY_ID_CHARS)
    event: str = Field(max_length=MAX_EVENT_CHARS)
    action: str | None = Field(default=None, max_length=MAX_ACTION_CHARS)
    body_sha256: str = Field(max_length=64)
    repo_full_name: str | None = Field(default=None, max_length=300)
    issue_number: int | None = None
    outcome: str = Field(default="", max_length=200)
    received_at: datetime = _created()
