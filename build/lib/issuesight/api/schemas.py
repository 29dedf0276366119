"""Request and response bodies: their own models, never the table models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from issuesight.db.store import TutorialView


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
    def from_view(cls, view: TutorialView) -> TutorialPublic:
        c = view.content
        owner_repo, _, number = view.issue_key.partition("#")
        return cls(
            id=c.id,
            issue=view.issue_key,
            issue_url=f"https://github.com/{owner_repo}/issues/{number}",
            status=c.status,
            stage=c.stage,
            regenerating=c.status == "COMPLETED" and c.stage not in ("done", "failed"),
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
    status: str
    stage: str
    title: str | None
    difficulty: str | None
    junior_friendly: bool | None
    stale: bool
    updated_at: datetime
    url: str


class TutorialPage(BaseModel):
    items: list[TutorialSummary]
    total: int
    limit: int
    offset: int
