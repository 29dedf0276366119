"""Tracked repositories: which are tracked, with what labels and interval, where their sync
stands, and their counts. Synchronous, like every store; the API runs it in its threadpool."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from issuesight.db.engine import session_scope
from issuesight.db.models import GitHubIssue, Project, TutorialContent
from issuesight.db.types import utcnow
from issuesight.domain.status import TutorialStatus

DEFAULT_LABELS = ("good first issue", "help wanted")
SINCE_ADVANCE_AFTER_PAGES = 3
_TRACK_LOCK = 0x1551_7E_01  # pg_advisory_xact_lock key serializing new trackings


def watched_labels(project: Project) -> list[str]:
    """The labels whose open issues get tutorials: the project's own, or the defaults."""
    return list(project.watch_labels or DEFAULT_LABELS)


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


class ProjectStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        views = self._views(col(Project.full_name) == full_name)
        return views[0] if views else None

    def list_projects(self) -> list[ProjectView]:
        return self._views()

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
            return project.sync_since, watched_labels(project)

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

    def _views(self, *where: sa.ColumnElement[bool]) -> list[ProjectView]:
        """Tracked projects with their counts in one statement. Each count is aggregated in
        its own grouped subquery before the join: joining issues and tutorials first and
        counting after would multiply the rows (and cost a query per project if done apart)."""
        issues = (
            select(
                col(GitHubIssue.project_id).label("project_id"),
                sa.func.count().label("issues"),
                sa.func.count(sa.case((col(GitHubIssue.state) == "open", 1))).label("open"),
            )
            .group_by(col(GitHubIssue.project_id))
            .subquery()
        )
        tutorials = (
            select(
                col(GitHubIssue.project_id).label("project_id"),
                sa.func.count().label("tutorials"),
            )
            .select_from(TutorialContent)
            .join(GitHubIssue, col(GitHubIssue.id) == col(TutorialContent.issue_id))
            .where(col(TutorialContent.status) == TutorialStatus.COMPLETED)
            .group_by(col(GitHubIssue.project_id))
            .subquery()
        )
        stmt = (
            select(
                Project,
                sa.func.coalesce(issues.c.issues, 0),
                sa.func.coalesce(issues.c.open, 0),
                sa.func.coalesce(tutorials.c.tutorials, 0),
            )
            .outerjoin(issues, issues.c.project_id == col(Project.id))
            .outerjoin(tutorials, tutorials.c.project_id == col(Project.id))
            .where(col(Project.tracked).is_(True), *where)
            .order_by(col(Project.full_name))
        )
        with Session(self.engine) as session:
            return [
                ProjectView(project=project, issues=n, open_issues=n_open, tutorials=n_tutorials)
                for project, n, n_open, n_tutorials in session.exec(stmt).all()
            ]
