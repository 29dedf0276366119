"""Syncs and webhooks record the same issues at the same time: concurrent writers of one
issue never fail and never leave an older version over a newer one, on both databases."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from issuesight.db.engine import make_engine
from issuesight.db.issues import IssueStore, SeenIssue
from issuesight.db.models import GitHubIssue
from issuesight.db.projects import ProjectStore
from issuesight.domain.refs import make_ref

BASE = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WRITERS = 8


def _version(number: int, minute: int) -> dict[str, Any]:
    return {
        "id": 70_000 + number,
        "number": number,
        "title": f"version {minute}",
        "state": "open",
        "labels": [{"name": "good first issue"}],
        "updated_at": (BASE + timedelta(minutes=minute)).isoformat(),
    }


def _race(issues: IssueStore, full_name: str, versions: list[dict[str, Any]]) -> list[SeenIssue]:
    """Every writer waits at the barrier, then records its version: the check-then-write
    window of each is as wide open as threads make it."""
    barrier = threading.Barrier(len(versions))

    def write(version: dict[str, Any]) -> SeenIssue:
        barrier.wait()
        return issues.record_issue(full_name, version, ["good first issue"])

    with ThreadPoolExecutor(len(versions)) as pool:
        return list(pool.map(write, versions))


def test_concurrent_first_sightings_of_an_issue_all_succeed(database_url: str) -> None:
    repo = f"races-{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url)
    issues = IssueStore(engine)
    ProjectStore(engine).track("octo-org", repo, ["good first issue"], 60)
    # Several new issues, each delivered by all writers at once (a sync and webhooks).
    for number in range(1, 4):
        minutes = list(range(WRITERS))
        seen = _race(issues, f"octo-org/{repo}", [_version(number, m) for m in minutes])
        assert all(s.issue_key == make_ref("octo-org", repo, number).key for s in seen)
        # The newest version is stored whatever the order the writers landed in.
        newest = [s for s in seen if not s.outdated]
        assert newest, "at least the newest version must have been written"
        assert _stored_title(issues, repo, number) == f"version {WRITERS - 1}"
    engine.dispose()


def test_a_first_sighting_waiting_on_another_writers_issue_id_succeeds(
    database_url: str,
) -> None:
    """GitHub's issue id is unique, and ON CONFLICT (issue_key) does not arbitrate it: a writer
    that found the id free, then met another writer's uncommitted row holding it (a transferred
    issue, or the same issue in the instant between two writers' index entries), used to fail
    with an IntegrityError once that row committed (CI caught it on the race above, about one
    run in 40 here). Held open here, so the collision happens every time: the write goes on,
    without the id, as for any issue whose id another row holds."""
    repo = f"races-{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url)
    issues = IssueStore(engine)
    project = ProjectStore(engine).track("octo-org", repo, ["good first issue"], 60)
    moved = _version(7, 0)
    with Session(engine) as other:
        other.add(
            GitHubIssue(
                project_id=project.id,
                issue_number=99,
                issue_key=make_ref("octo-org", repo, 99).key,
                gh_issue_id=moved["id"],
            )
        )
        other.flush()  # the other writer's row, not committed yet
        with ThreadPoolExecutor(1) as pool:
            seen = pool.submit(issues.record_issue, f"octo-org/{repo}", moved, ["good first issue"])
            _wait_until_blocked(engine, seen)
            other.commit()
            result = seen.result(timeout=30)
    assert not result.outdated
    assert _stored_title(issues, repo, 7) == "version 0"
    with Session(engine) as session:
        ids = session.exec(
            select(GitHubIssue.issue_number).where(GitHubIssue.gh_issue_id == moved["id"])
        ).all()
    assert ids == [99]
    engine.dispose()


def _wait_until_blocked(engine: sa.Engine, pending: Any) -> None:
    """On PostgreSQL, until the writer waits on a lock (so it is past its check); SQLite
    serialises writers and has no such view, so a moment there."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.3)
        return
    deadline = time.monotonic() + 10
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    while time.monotonic() < deadline and not pending.done():
        with engine.connect() as connection:
            if connection.execute(query).scalar_one():
                return
        time.sleep(0.01)
    raise AssertionError("the writer never waited on the other writer's row")


def test_out_of_order_concurrent_updates_keep_the_newest(database_url: str) -> None:
    repo = f"races-{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url)
    issues = IssueStore(engine)
    ProjectStore(engine).track("octo-org", repo, ["good first issue"], 60)
    issues.record_issue(f"octo-org/{repo}", _version(1, 0), ["good first issue"])
    for round_ in range(1, 6):
        # Newest first in the list: the older writers are the ones most likely to land last.
        minutes = [round_ * 100 + m for m in reversed(range(WRITERS))]
        seen = _race(issues, f"octo-org/{repo}", [_version(1, m) for m in minutes])
        newest = max(minutes)
        assert _stored_title(issues, repo, 1) == f"version {newest}"
        for minute, result in zip(minutes, seen, strict=True):
            if minute == newest:
                assert not result.outdated
            if result.outdated:
                assert result.updated_at is not None
                assert result.updated_at > BASE + timedelta(minutes=minute)
    engine.dispose()


def test_an_older_delivery_after_a_newer_one_writes_nothing(database_url: str) -> None:
    repo = f"races-{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url)
    issues = IssueStore(engine)
    ProjectStore(engine).track("octo-org", repo, ["good first issue"], 60)
    first = issues.record_issue(f"octo-org/{repo}", _version(5, 10), ["good first issue"])
    assert (first.outdated, first.changed, first.watched) == (False, True, True)
    late = issues.record_issue(f"octo-org/{repo}", _version(5, 3), [])
    assert late.outdated
    assert not late.needs_job
    assert late.updated_at == BASE + timedelta(minutes=10)
    assert late.watched  # the stored version's flag, not the stale delivery's
    assert _stored_title(issues, repo, 5) == "version 10"
    again = issues.record_issue(f"octo-org/{repo}", _version(5, 10), ["good first issue"])
    assert not again.outdated
    assert again.changed
    issues.mark_handled(again.issue_key, again.updated_at)
    handled = issues.record_issue(f"octo-org/{repo}", _version(5, 10), ["good first issue"])
    assert not handled.changed
    assert not handled.outdated
    engine.dispose()


def _stored_title(issues: IssueStore, repo: str, number: int) -> str | None:
    key = make_ref("octo-org", repo, number).key
    with Session(issues.engine) as session:
        row = session.exec(select(GitHubIssue).where(GitHubIssue.issue_key == key)).one()
        assert row.raw_data is not None
        assert row.raw_data["title"] == row.title
        return row.title
