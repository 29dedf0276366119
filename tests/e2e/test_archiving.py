"""Issues closed longer than the configured age are archived: kept retrievable, hidden from
default lists. The clock is the workflow's, passed in, so no test sleeps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from issuesight.db.engine import make_engine
from issuesight.db.issues import IssueStore
from issuesight.db.projects import ProjectStore
from issuesight.db.search import TutorialQuery, TutorialSearch
from issuesight.db.tutorials import TutorialStore
from issuesight.domain.refs import make_ref
from issuesight.orchestration.schedules import ARCHIVE_SCHEDULE_ID, ensure_archive_schedule
from issuesight.workflows.contracts import ArchiveResult
from issuesight.workflows.sync import ArchiveWorkflow
from tests.helpers import MakeStack

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _closed_issue(number: int, closed_days_ago: int | None) -> dict[str, Any]:
    closed = NOW - timedelta(days=closed_days_ago) if closed_days_ago is not None else None
    return {
        "id": 9_000 + number,
        "number": number,
        "title": f"Issue {number}",
        "state": "closed" if closed else "open",
        "labels": [],
        "updated_at": NOW.isoformat(),
        "closed_at": closed.isoformat() if closed else None,
    }


def _seed(database_url: str, repo: str) -> tuple[TutorialStore, IssueStore]:
    engine = make_engine(database_url)
    store, issues = TutorialStore(engine), IssueStore(engine)
    ProjectStore(engine).track("octo-org", repo, ["good first issue"], 60)
    for number, days in ((1, 40), (2, 5), (3, None)):
        store.register_submission(make_ref("octo-org", repo, number))
        issues.record_issue(f"octo-org/{repo}", _closed_issue(number, days), [])
    return store, issues


def test_archive_hides_old_closed_issues_but_keeps_them(database_url: str) -> None:
    repo = f"archive-{uuid.uuid4().hex[:8]}"
    store, issues = _seed(database_url, repo)
    assert issues.archive_closed(NOW, timedelta(days=30)) == (1, 1)
    assert issues.archive_closed(NOW, timedelta(days=30)) == (0, 0)  # idempotent

    search = TutorialSearch(store.engine)
    visible, total = search.search(TutorialQuery(repo=f"octo-org/{repo}"))
    assert total == 2
    assert {hit.issue_key for hit in visible} == {f"octo-org/{repo}#2", f"octo-org/{repo}#3"}
    everything = TutorialQuery(repo=f"octo-org/{repo}", include_archived=True)
    _, with_archived = search.search(everything)
    assert with_archived == 3
    archived = store.get_tutorial(make_ref("octo-org", repo, 1).tutorial_id)
    assert archived is not None
    assert archived.content.archived_at == NOW
    store.engine.dispose()


async def test_archive_workflow_and_its_schedule(make_stack: MakeStack, sqlite_url: str) -> None:
    repo = f"archive-{uuid.uuid4().hex[:8]}"
    store, _ = _seed(sqlite_url, repo)
    stack = await make_stack(sqlite_url)
    result: ArchiveResult = await stack.client.execute_workflow(
        ArchiveWorkflow.run,
        30,
        id=f"test-archive-{uuid.uuid4()}",
        task_queue=stack.settings.temporal_task_queue,
    )
    # The workflow's clock is today; issue 1 closed "40 days before 2026-11-23" is long gone.
    assert result.issues >= 1
    listing = await stack.api.get("/api/v1/tutorials", params={"repo": f"octo-org/{repo}"})
    assert f"octo-org/{repo}#1" not in {item["issue"] for item in listing.json()["items"]}
    kept = await stack.api.get(f"/api/v1/issues/octo-org/{repo}/1/tutorial")
    assert kept.status_code == 200
    assert kept.json()["archived"] is True

    await ensure_archive_schedule(stack.client, stack.settings)
    await ensure_archive_schedule(stack.client, stack.settings)  # idempotent
    description = await stack.client.get_schedule_handle(ARCHIVE_SCHEDULE_ID).describe()
    assert description.schedule.spec.intervals[0].every == timedelta(days=1)
    store.engine.dispose()
