"""What the fake GitHub knows: repositories, issues, comments, labels, as plain objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ._git import Commit, ObjectStore


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    # GitHub timestamps have second precision.
    return datetime.now(UTC).replace(microsecond=0)


def to_datetime(value: datetime | str | None, default: datetime) -> datetime:
    """ISO 8601 text (a trailing Z included) or a datetime; naive values are UTC."""
    if value is None:
        return default
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Label:
    id: int
    name: str
    color: str
    description: str | None


@dataclass
class Comment:
    id: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime


@dataclass
class Issue:
    """An issue or, with is_pull_request, a pull request: GitHub numbers and lists them together."""

    id: int
    number: int
    title: str
    body: str | None
    labels: list[str]
    state: str
    state_reason: str | None
    assignees: list[str]
    user: str
    is_pull_request: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    locked: bool = False
    author_association: str | None = None  # None: derived (OWNER for the repository owner)
    deleted: bool = False
    comments: list[Comment] = field(default_factory=list)
    # Timeline entries other than comments, as (when, spec); see FakeGitHub.add_cross_reference.
    events: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)


@dataclass
class FakeRepo:
    """A repository; `files` are the default branch's, as bytes (text is stored UTF-8)."""

    id: int
    owner: str
    name: str
    default_branch: str
    language: str | None
    private: bool
    description: str | None
    topics: list[str]
    created_at: datetime
    files: dict[str, bytes]
    commit_sha: str
    objects: ObjectStore = field(repr=False)
    # GitHub's `visibility` when it is not derived from `private` (Enterprise's "internal").
    visibility: str | None = None
    # An empty repository (no commit yet): the commit, tree and archive routes answer 409.
    empty: bool = False
    # Bytes served as the archive instead of the one built from the files (hostile archives).
    archive: bytes | None = field(default=None, repr=False)
    issues: dict[int, Issue] = field(default_factory=dict, repr=False)
    labels: dict[str, Label] = field(default_factory=dict, repr=False)  # by lower-cased name

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def head(self) -> Commit:
        return self.objects.commits[self.commit_sha]
