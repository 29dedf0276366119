"""Reads and writes for tracked repositories: projects, conditional-request state, issues seen
by a sync, webhook deliveries and archiving. Synchronous, like Store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from issuesight.db.engine import session_scope, upsert
from issuesight.db.models import (
    GitHubIssue,
    HttpCacheEntry,
    Project,
    TutorialContent,
    TutorialStatus,
    WebhookDelivery,
)
from issuesight.db.types import parse_time, utcnow
from issuesight.refs import make_ref

DEFAULT_LABELS = ("good first issue", "help wanted")
SINCE_ADVANCE_AFTER_PAGES = 3


@dataclass(frozen=True)
class ProjectView:
    project: Project
    issues: int
    open_issues: int
    tutorials: int


@dataclass(frozen=True)
class SeenIssue:
    """What a sync learned about one listed issue."""

    issue_key: str
    watched: bool
    changed: bool
    has_tutorial: bool


class TrackingStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- projects ------------------------------------------------------------------------

    def track(self, owner: str, repo: str, labels: list[str], interval_minutes: int) -> Project:
        full_name = f"{owner}/{repo}"
        now = utcnow()
        with session_scope(self.engine) as session:
            project = session.exec(select(Project).where(Project.full_name == full_name)).first()
            if project is None:
                project = Project(owner_handle=owner, repo_name=repo, full_name=full_name)
            project.tracked = True
            project.watch_labels = labels
            project.interval_minutes = interval_minutes
            project.updated_at = now
            session.add(project)
            session.flush()
            return project

    def get_project(self, full_name: str) -> ProjectView | None:
        with Session(self.engine) as session:
            project = session.exec(select(Project).where(Project.full_name == full_name)).first()
            if project is None or not project.tracked:
                return None
            return self._view(session, project)

    def list_projects(self) -> list[ProjectView]:
        with Session(self.engine) as session:
            projects = session.exec(
                select(Project).where(col(Project.tracked).is_(True)).order_by(Project.full_name)
            ).all()
            return [self._view(session, p) for p in projects]

    def set_paused(self, full_name: str, paused: bool) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(Project).where(col(Project.full_name) == full_name).values(paused=paused)
            )

    def untrack(self, full_name: str) -> None:
        """Stops tracking; the issues and tutorials already made stay readable."""
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(Project)
                .where(col(Project.full_name) == full_name)
                .values(tracked=False, paused=False)
            )

    def sync_start(self, full_name: str) -> tuple[datetime | None, list[str]]:
        with Session(self.engine) as session:
            project = session.exec(select(Project).where(Project.full_name == full_name)).first()
            if project is None:
                raise LookupError(f"{full_name} is not tracked")
            return project.sync_since, list(project.watch_labels or DEFAULT_LABELS)

    def sync_finished(self, full_name: str, newest_seen: datetime | None, pages: int) -> None:
        """`since` moves forward only once the listing under it has grown past a few pages:
        until then the same URLs are asked again and unchanged pages cost nothing (304)."""
        with session_scope(self.engine) as session:
            project = session.exec(select(Project).where(Project.full_name == full_name)).one()
            if (
                pages > SINCE_ADVANCE_AFTER_PAGES
                and newest_seen is not None
                and (project.sync_since is None or newest_seen > project.sync_since)
            ):
                project.sync_since = newest_seen
            project.last_synced_at = utcnow()
            session.add(project)

    # -- conditional requests ------------------------------------------------------------

    def cached(self, url: str) -> HttpCacheEntry | None:
        with Session(self.engine) as session:
            return session.get(HttpCacheEntry, url)

    def remember(self, url: str, etag: str, next_url: str | None) -> None:
        with session_scope(self.engine) as session:
            upsert(
                session,
                HttpCacheEntry.__table__,  # type: ignore[attr-defined]
                {"url": url, "etag": etag, "next_url": next_url, "fetched_at": utcnow()},
                conflict=["url"],
                update=["etag", "next_url", "fetched_at"],
            )

    # -- issues seen by a sync or a webhook ----------------------------------------------

    def record_issue(self, full_name: str, issue: dict[str, Any], labels: list[str]) -> SeenIssue:
        """Upserts a listed issue with its raw JSON; says whether a tutorial job is due."""
        owner, _, repo = full_name.partition("/")
        ref = make_ref(owner, repo, int(issue["number"]))
        updated = parse_time(issue.get("updated_at"))
        closed = parse_time(issue.get("closed_at"))
        watched_labels = {label.lower() for label in labels}
        names = {
            str(label.get("name", "")).lower() if isinstance(label, dict) else str(label).lower()
            for label in issue.get("labels") or []
        }
        watched = issue.get("state") == "open" and bool(names & watched_labels)
        with session_scope(self.engine) as session:
            project = session.exec(select(Project).where(Project.full_name == full_name)).one()
            row = session.exec(select(GitHubIssue).where(GitHubIssue.issue_key == ref.key)).first()
            if row is None:
                row = GitHubIssue(project_id=project.id, issue_number=ref.number, issue_key=ref.key)
            changed = row.source_updated_at != updated
            gh_id = issue.get("id")
            if isinstance(gh_id, int) and row.gh_issue_id is None:
                taken = session.exec(
                    select(GitHubIssue.id).where(GitHubIssue.gh_issue_id == gh_id)
                ).first()
                if taken is None:
                    row.gh_issue_id = gh_id
            row.title = str(issue.get("title") or "")[:1000]
            row.state = str(issue.get("state") or "")[:20] or None
            row.is_pull_request = False
            row.raw_data = issue
            row.source_updated_at = updated
            row.closed_at = closed
            row.last_synced_at = utcnow()
            session.add(row)
            session.flush()
            tutorial = session.exec(
                select(TutorialContent.status).where(TutorialContent.issue_id == row.id)
            ).first()
            has_tutorial = tutorial == TutorialStatus.COMPLETED
            return SeenIssue(ref.key, watched=watched, changed=changed, has_tutorial=has_tutorial)

    def forget_update(self, issue_key: str) -> None:
        """The next sync sees the issue as changed (its work was deferred, not done)."""
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(GitHubIssue)
                .where(col(GitHubIssue.issue_key) == issue_key)
                .values(source_updated_at=None)
            )

    def mark_deleted(self, issue_key: str) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(GitHubIssue)
                .where(col(GitHubIssue.issue_key) == issue_key)
                .values(deleted=True, state="deleted", closed_at=utcnow())
            )

    # -- webhooks ------------------------------------------------------------------------

    def first_delivery(self, delivery: WebhookDelivery) -> bool:
        """Records a delivery; False when its id was handled before (a redelivery)."""
        try:
            with session_scope(self.engine) as session:
                session.add(delivery)
        except IntegrityError:
            return False
        return True

    def forget_delivery(self, delivery_id: str) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                sa.delete(WebhookDelivery).where(col(WebhookDelivery.delivery_id) == delivery_id)
            )

    # -- archiving -----------------------------------------------------------------------

    def archive_closed(self, now: datetime, older_than: timedelta) -> tuple[int, int]:
        """Archives issues closed (or deleted) before now - older_than, and their tutorials.
        Archived rows stay retrievable; only default listings hide them."""
        cutoff = now - older_than
        with session_scope(self.engine) as session:
            ids = session.exec(
                select(GitHubIssue.id).where(
                    col(GitHubIssue.archived_at).is_(None),
                    col(GitHubIssue.closed_at).is_not(None),
                    col(GitHubIssue.closed_at) < cutoff,
                )
            ).all()
            if not ids:
                return 0, 0
            session.execute(
                sa.update(GitHubIssue).where(col(GitHubIssue.id).in_(ids)).values(archived_at=now)
            )
            result = session.execute(
                sa.update(TutorialContent)
                .where(col(TutorialContent.issue_id).in_(ids))
                .values(archived_at=now)
            )
            return len(ids), int(getattr(result, "rowcount", 0) or 0)

    @staticmethod
    def _view(session: Session, project: Project) -> ProjectView:
        issues = session.exec(
            select(GitHubIssue.state).where(GitHubIssue.project_id == project.id)
        ).all()
        tutorials = session.exec(
            select(sa.func.count())
            .select_from(TutorialContent)
            .join(GitHubIssue, col(GitHubIssue.id) == col(TutorialContent.issue_id))
            .where(
                GitHubIssue.project_id == project.id,
                TutorialContent.status == TutorialStatus.COMPLETED,
            )
        ).one()
        return ProjectView(
            project=project,
            issues=len(issues),
            open_issues=sum(1 for state in issues if state == "open"),
            tutorials=int(tutorials),
        )


__all__ = ["DEFAULT_LABELS", "ProjectView", "SeenIssue", "TrackingStore"]
