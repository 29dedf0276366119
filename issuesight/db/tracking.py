"""Reads and writes for tracked repositories: projects, conditional-request state, issues seen
by a sync, webhook deliveries and archiving. Synchronous, like Store."""

from __future__ import annotations

import uuid
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
    WebhookDelivery,
)
from issuesight.db.types import parse_time, utcnow
from issuesight.domain.refs import make_ref
from issuesight.domain.status import Stage, TutorialStatus

DEFAULT_LABELS = ("good first issue", "help wanted")
SINCE_ADVANCE_AFTER_PAGES = 3
_TRACK_LOCK = 0x1551_7E_01  # pg_advisory_xact_lock key serializing new trackings


class TrackingLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} repositories are tracked already (MAX_TRACKED_REPOSITORIES)")
        self.limit = limit


@dataclass(frozen=True)
class ProjectView:
    project: Project
    issues: int
    open_issues: int
    tutorials: int


@dataclass(frozen=True)
class SeenIssue:
    """What a sync or a webhook learned about one issue.

    `changed`: this version's tutorial work has not started yet (its `updated_at` is not the
    handled one). `outdated`: older than the version already stored (an out-of-order or
    replayed delivery, a listing read before a newer delivery); nothing was written."""

    issue_key: str
    watched: bool
    changed: bool
    has_tutorial: bool
    updated_at: datetime | None = None
    outdated: bool = False

    @property
    def needs_job(self) -> bool:
        return self.watched and not self.outdated and (self.changed or not self.has_tutorial)


@dataclass(frozen=True)
class PendingIssue:
    """A watched issue of a tracked repository whose tutorial work has not started."""

    issue_key: str
    updated_at: datetime | None
    has_tutorial: bool


class TrackingStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- projects ------------------------------------------------------------------------

    def track(
        self,
        owner: str,
        repo: str,
        labels: list[str],
        interval_minutes: int,
        *,
        max_tracked: int | None = None,
    ) -> Project:
        """Tracks a repository, or updates one already tracked. Raises TrackingLimitReached
        if it is not tracked yet and `max_tracked` repositories already are."""
        full_name = f"{owner}/{repo}"
        now = utcnow()
        with session_scope(self.engine) as session:
            if max_tracked is not None and session.get_bind().dialect.name == "postgresql":
                # Two concurrent requests must not both take the last place.
                session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _TRACK_LOCK})
            project = session.exec(select(Project).where(Project.full_name == full_name)).first()
            if max_tracked is not None and (project is None or not project.tracked):
                tracked = session.exec(
                    select(sa.func.count())
                    .select_from(Project)
                    .where(col(Project.tracked).is_(True))
                ).one()
                if tracked >= max_tracked:
                    raise TrackingLimitReached(max_tracked)
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
        """Upserts a listed or delivered issue with its raw JSON, unless a newer version is
        stored; says whether a tutorial job is due. It does not mark the version handled:
        `mark_handled` does, once the job has started, so a job that never started is found
        again (by the next sync or webhook, or by the reconciler)."""
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
            elif (
                updated is not None
                and row.source_updated_at is not None
                and updated < row.source_updated_at
            ):
                return SeenIssue(
                    ref.key,
                    watched=row.watched,
                    changed=False,
                    has_tutorial=self._has_tutorial(session, row.id),
                    updated_at=row.source_updated_at,
                    outdated=True,
                )
            changed = row.handled_updated_at != updated
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
            row.watched = watched
            row.closed_at = closed
            row.last_synced_at = utcnow()
            session.add(row)
            session.flush()
            return SeenIssue(
                ref.key,
                watched=watched,
                changed=changed,
                has_tutorial=self._has_tutorial(session, row.id),
                updated_at=updated,
            )

    def mark_handled(self, issue_key: str, updated_at: datetime | None) -> None:
        """The tutorial work for this version of the issue has started. Never goes back."""
        if updated_at is None:
            return
        handled = col(GitHubIssue.handled_updated_at)
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(GitHubIssue)
                .where(
                    col(GitHubIssue.issue_key) == issue_key,
                    sa.or_(handled.is_(None), handled < updated_at),
                )
                .values(handled_updated_at=updated_at)
            )

    def pending_watched_issues(self, *, limit: int) -> list[PendingIssue]:
        """Watched, open issues of tracked, running (not paused) repositories that have no
        tutorial, or whose latest version no tutorial work has started for. Pending and
        running tutorials are the reconciler's other query (Store.stuck_tutorials)."""
        handled = col(GitHubIssue.handled_updated_at)
        source = col(GitHubIssue.source_updated_at)
        status = col(TutorialContent.status)
        unhandled = sa.and_(source.is_not(None), sa.or_(handled.is_(None), handled < source))
        stmt = (
            select(GitHubIssue.issue_key, GitHubIssue.source_updated_at, TutorialContent.status)
            .join(Project, col(Project.id) == col(GitHubIssue.project_id))
            .outerjoin(TutorialContent, col(TutorialContent.issue_id) == col(GitHubIssue.id))
            .where(
                col(Project.tracked).is_(True),
                col(Project.paused).is_(False),
                col(GitHubIssue.watched).is_(True),
                col(GitHubIssue.state) == "open",
                col(GitHubIssue.deleted).is_(False),
                col(GitHubIssue.archived_at).is_(None),
                sa.or_(status.is_(None), sa.and_(status != TutorialStatus.PENDING, unhandled)),
            )
            .order_by(col(GitHubIssue.last_synced_at))
            .limit(limit)
        )
        with Session(self.engine) as session:
            return [
                PendingIssue(key, updated, found == TutorialStatus.COMPLETED)
                for key, updated, found in session.exec(stmt).all()
            ]

    def stale_past_cooldown(self, *, completed_before: datetime, limit: int) -> list[str]:
        """Issue keys of watched issues whose completed tutorial is stale (its inputs changed
        inside the refresh cooldown) and was generated before `completed_before`."""
        stmt = (
            select(GitHubIssue.issue_key)
            .join(TutorialContent, col(TutorialContent.issue_id) == col(GitHubIssue.id))
            .join(Project, col(Project.id) == col(GitHubIssue.project_id))
            .where(
                col(Project.tracked).is_(True),
                col(Project.paused).is_(False),
                col(GitHubIssue.watched).is_(True),
                col(GitHubIssue.state) == "open",
                col(GitHubIssue.deleted).is_(False),
                col(TutorialContent.status) == TutorialStatus.COMPLETED,
                col(TutorialContent.stage) == Stage.DONE,
                col(TutorialContent.stale).is_(True),
                col(TutorialContent.completed_at) < completed_before,
            )
            .order_by(col(TutorialContent.completed_at))
            .limit(limit)
        )
        with Session(self.engine) as session:
            return list(session.exec(stmt).all())

    @staticmethod
    def _has_tutorial(session: Session, issue_id: uuid.UUID) -> bool:
        status = session.exec(
            select(TutorialContent.status).where(TutorialContent.issue_id == issue_id)
        ).first()
        return status == TutorialStatus.COMPLETED

    def mark_deleted(self, issue_key: str) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(GitHubIssue)
                .where(col(GitHubIssue.issue_key) == issue_key)
                .values(deleted=True, state="deleted", closed_at=utcnow())
            )

    # -- webhooks ------------------------------------------------------------------------

    def delivery_seen(self, delivery_id: str) -> bool:
        """Whether this delivery id was handled before (GitHub's redeliveries keep it)."""
        with Session(self.engine) as session:
            return session.get(WebhookDelivery, delivery_id) is not None

    def record_delivery(self, delivery: WebhookDelivery) -> bool:
        """Records a delivery once its work has started (or needed none); False when the same
        id was recorded meanwhile by a concurrent copy of it, whose work is the same."""
        try:
            with session_scope(self.engine) as session:
                session.add(delivery)
        except IntegrityError:
            return False
        return True

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


__all__ = [
    "DEFAULT_LABELS",
    "PendingIssue",
    "ProjectView",
    "SeenIssue",
    "TrackingLimitReached",
    "TrackingStore",
]
