"""Issues as syncs and webhooks see them: the raw JSON and the version whose tutorial work has
started, the watched issues whose work has not (the reconciler's query), deletion and
archiving. Synchronous, like every store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from issuesight.db.engine import dialect_insert, session_scope
from issuesight.db.models import GitHubIssue, Project, TutorialContent
from issuesight.db.types import parse_time, utcnow
from issuesight.domain.failures import sync_may_retry
from issuesight.domain.refs import make_ref
from issuesight.domain.status import Stage, TutorialStatus


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
    # Its tutorial failed and must not be started again for this version of the issue (the
    # failure is final for syncs, or its bounded back-off says not yet): see sync_may_retry.
    held_back: bool = False

    @property
    def needs_job(self) -> bool:
        return (
            self.watched
            and not self.outdated
            and (self.changed or not (self.has_tutorial or self.held_back))
        )


@dataclass(frozen=True)
class PendingIssue:
    """A watched issue of a tracked repository whose tutorial work has not started."""

    issue_key: str
    updated_at: datetime | None
    has_tutorial: bool


class IssueStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record_issue(self, full_name: str, issue: dict[str, Any], labels: list[str]) -> SeenIssue:
        """Upserts a listed or delivered issue with its raw JSON, unless a newer version is
        stored; says whether a tutorial job is due. It does not mark the version handled:
        `mark_handled` does, once the job has started, so a job that never started is found
        again (by the next sync or webhook, or by the reconciler).

        Writers racing on a first sighting can collide on GitHub's issue id, a unique index
        that ON CONFLICT (issue_key) does not arbitrate: PostgreSQL inserts the id's index
        entry, meets the other writer's uncommitted one, waits for it and then raises
        (measured: tests/e2e/test_issue_races.py failed so in CI). By then the other writer
        has committed, so writing once more sees its row and updates it."""
        try:
            return self._record_issue(full_name, issue, labels)
        except IntegrityError:
            return self._record_issue(full_name, issue, labels)

    def _record_issue(self, full_name: str, issue: dict[str, Any], labels: list[str]) -> SeenIssue:
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
        gh_id = issue.get("id") if isinstance(issue.get("id"), int) else None
        issues = GitHubIssue.__table__  # type: ignore[attr-defined]
        with session_scope(self.engine) as session:
            project_id = session.exec(
                select(Project.id).where(Project.full_name == full_name)
            ).one()
            insert = dialect_insert(session)
            # GitHub's issue id is unique; another row may hold it (a transferred issue) and
            # then this one goes without, as before: only a free id is taken.
            taken = sa.select(issues.c.id).where(issues.c.gh_issue_id == gh_id).exists()
            free_id = sa.case((taken, None), else_=gh_id)
            stmt = insert(issues).values(
                id=uuid.uuid4(),
                project_id=project_id,
                issue_number=ref.number,
                issue_key=ref.key,
                gh_issue_id=free_id if gh_id is not None else None,
                title=str(issue.get("title") or "")[:1000],
                state=str(issue.get("state") or "")[:20] or None,
                is_pull_request=False,
                raw_data=issue,
                source_updated_at=updated,
                watched=watched,
                closed_at=closed,
                last_synced_at=utcnow(),
                deleted=False,
                created_at=utcnow(),
            )
            new = stmt.excluded
            stored_updated = issues.c.source_updated_at
            # One statement, so concurrent writers (a sync and webhooks) neither collide on
            # the insert nor write an older version over a newer one: the row is only updated
            # when the incoming version is not older than the stored one.
            stmt = stmt.on_conflict_do_update(
                index_elements=["issue_key"],
                set_={
                    "gh_issue_id": sa.func.coalesce(issues.c.gh_issue_id, new.gh_issue_id),
                    "title": new.title,
                    "state": new.state,
                    "is_pull_request": new.is_pull_request,
                    "raw_data": new.raw_data,
                    "source_updated_at": new.source_updated_at,
                    "watched": new.watched,
                    "closed_at": new.closed_at,
                    "last_synced_at": new.last_synced_at,
                },
                where=sa.or_(
                    stored_updated.is_(None),
                    new.source_updated_at.is_(None),
                    new.source_updated_at >= stored_updated,
                ),
            ).returning(issues.c.id, issues.c.handled_updated_at)
            written = session.execute(stmt).first()
            if written is None:
                # The stored version is newer (an out-of-order or replayed delivery, or a
                # listing read before it): nothing was written.
                row = session.exec(
                    select(GitHubIssue).where(GitHubIssue.issue_key == ref.key)
                ).one()
                return SeenIssue(
                    ref.key,
                    watched=row.watched,
                    changed=False,
                    has_tutorial=self._tutorial_state(session, row.id)[0],
                    updated_at=row.source_updated_at,
                    outdated=True,
                )
            has_tutorial, held_back = self._tutorial_state(session, written.id)
            return SeenIssue(
                ref.key,
                watched=watched,
                changed=written.handled_updated_at != updated,
                has_tutorial=has_tutorial,
                updated_at=updated,
                held_back=held_back,
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
        running tutorials are the reconciler's other query (TutorialStore.stuck_tutorials)."""
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
    def _tutorial_state(session: Session, issue_id: uuid.UUID) -> tuple[bool, bool]:
        """(completed, held back): a failed tutorial is held back from syncs unless its
        failure may be retried now (sync_may_retry)."""
        row = session.exec(
            select(
                TutorialContent.status,
                TutorialContent.failure_type,
                TutorialContent.failed_runs,
                TutorialContent.updated_at,
            ).where(TutorialContent.issue_id == issue_id)
        ).first()
        if row is None:
            return False, False
        status, kind, failed_runs, failed_at = row
        if status != TutorialStatus.FAILED:
            return status == TutorialStatus.COMPLETED, False
        return False, not sync_may_retry(kind, failed_runs, failed_at, utcnow())

    def mark_deleted(self, issue_key: str) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(GitHubIssue)
                .where(col(GitHubIssue.issue_key) == issue_key)
                .values(deleted=True, state="deleted", closed_at=utcnow())
            )

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
