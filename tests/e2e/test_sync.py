"""Tracked repositories: scheduled, incremental, conditional sync that writes tutorials only for
open watched issues and regenerates only what really changed."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col
from temporalio.service import RPCError

from fakes import FakeGitHub, FakeOpenAI
from issuesight.db.engine import make_engine
from issuesight.db.issues import IssueStore
from issuesight.db.models import TutorialContent
from issuesight.db.projects import ProjectStore
from issuesight.db.tutorials import TutorialStore
from issuesight.db.types import parse_time, utcnow
from issuesight.domain.refs import make_ref
from issuesight.orchestration.schedules import sync_schedule_id
from issuesight.workflows.contracts import SyncRequest
from issuesight.workflows.sync import RepoSyncWorkflow
from tests.helpers import MakeStack, Stack, assert_eventually, run_sync, spend_llm_budget

WATCHED = {
    3: ["Good First Issue"],
    50: ["HELP WANTED"],
    120: ["good first issue", "bug"],
    200: ["Help Wanted"],
    249: ["good first issue"],
}


def seed_big_repo(github: FakeGitHub, repo: str, count: int = 250) -> None:
    github.add_repo("Octo-Org", repo, files={"README.md": "# Big\n", "src/big.py": "x = 1\n"})
    for number in range(1, count + 1):
        labels = WATCHED.get(number, ["bug"] if number % 7 == 0 else [])
        kwargs: dict[str, Any] = {
            "title": f"Issue {number}",
            "body": f"Body of {number}",
            "labels": labels,
        }
        if number == 10:
            kwargs.update(labels=["good first issue"], is_pull_request=True)
        if number == 20:
            kwargs.update(labels=["good first issue"], state="closed")
        github.add_issue(f"Octo-Org/{repo}", number, **kwargs)


async def tutorial(stack: Stack, repo: str, number: int) -> dict[str, Any]:
    response = await stack.api.get(f"/api/v1/issues/octo-org/{repo}/{number}/tutorial")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.slow
async def test_sync_writes_tutorials_for_open_watched_issues_and_stays_incremental(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    repo = repo_name.lower()
    seed_big_repo(github, repo_name)
    stack = await make_stack(database_url, refresh_cooldown_minutes=0)
    tracked = await stack.api.post("/api/v1/projects", json={"repo": f"Octo-Org/{repo_name}"})
    assert tracked.status_code == 201, tracked.text

    first = await run_sync(stack.client, stack.settings, repo)
    assert first.pages == 3
    assert first.jobs == len(WATCHED)
    assert llm.count() == len(WATCHED)
    for number in WATCHED:
        assert (await tutorial(stack, repo, number))["status"] == "COMPLETED"
    for number in (10, 20, 30):  # a pull request, a closed issue, an unwatched issue
        missing = await stack.api.get(f"/api/v1/issues/octo-org/{repo}/{number}/tutorial")
        assert missing.status_code == 404
    project = (await stack.api.get(f"/api/v1/projects/octo-org/{repo}")).json()
    assert project["issues"] == 249  # every issue recorded, the pull request skipped
    assert project["tutorials"] == len(WATCHED)
    assert project["last_synced_at"] is not None

    # Nothing changed: every request is a conditional one answered 304, no LLM call.
    github.reset_log()
    second = await run_sync(stack.client, stack.settings, repo)
    assert second.jobs == 0
    assert github.count(status=304) == 3
    assert github.count(exclude_status=304) == 0
    assert llm.count() == len(WATCHED)

    # One watched issue edited: only it is regenerated. An assignee on another bumps its
    # updated_at but changes nothing the tutorial used: checked, not regenerated.
    github.edit_issue(f"Octo-Org/{repo_name}", 50, body="A clearer description of issue 50")
    github.edit_issue(f"Octo-Org/{repo_name}", 3, assignees=["someone"])
    github.reset_log()
    third = await run_sync(stack.client, stack.settings, repo)
    assert third.jobs == 2
    assert llm.count() == len(WATCHED) + 1
    assert "A clearer description of issue 50" in llm.prompt_text(llm.calls[-1])
    assert (await tutorial(stack, repo, 50))["generation"] == 2
    assert (await tutorial(stack, repo, 3))["generation"] == 1
    assert (await tutorial(stack, repo, 3))["stale"] is False
    listing_pages = [r for r in github.requests if r.path.endswith("/issues")]
    assert sum(1 for r in listing_pages if r.status == 200) == 1  # only the page that changed


async def test_stale_policy_mark_only_flags_the_tutorial(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    repo = repo_name.lower()
    seed_big_repo(github, repo_name, count=5)
    stack = await make_stack(sqlite_url, stale_policy="mark")
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo}"})
    await run_sync(stack.client, stack.settings, repo)
    assert llm.count() == 1
    github.edit_issue(f"Octo-Org/{repo_name}", 3, title="A new title for issue 3")
    await run_sync(stack.client, stack.settings, repo)
    assert llm.count() == 1
    body = await tutorial(stack, repo, 3)
    assert body["stale"] is True
    assert body["status"] == "COMPLETED"
    stale_listing = await stack.api.get("/api/v1/tutorials", params={"repo": f"octo-org/{repo}"})
    assert stale_listing.json()["items"][0]["stale"] is True


async def test_api_submission_racing_a_sync_costs_one_generation(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    repo = repo_name.lower()
    seed_big_repo(github, repo_name, count=5)
    llm.latency = 0.5
    stack = await make_stack(sqlite_url)
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo}"})
    sync = asyncio.create_task(run_sync(stack.client, stack.settings, repo))
    submissions = [
        await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo}#3"})
        for _ in range(3)
    ]
    await sync
    assert {s.status_code for s in submissions} <= {200, 202}
    await assert_eventually(lambda: tutorial(stack, repo, 3), within=30)
    assert llm.count() == 1


async def test_nearly_spent_rate_limit_waits_for_the_reset(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    repo = repo_name.lower()
    github.add_repo("Octo-Org", repo_name)
    for number in range(1, 251):
        github.add_issue(f"Octo-Org/{repo_name}", number, title=f"Issue {number}", body=None)
    stack = await make_stack(sqlite_url, sync_rate_limit_floor=50)
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo}"})
    github.exhaust_rate_limit(reset_in=3)
    github.set_rate_limit(remaining=10)  # nearly spent, resetting in three seconds
    reset_at = time.time() + 3
    outcome = await run_sync(stack.client, stack.settings, repo)
    assert outcome.pages == 3
    pages = [r for r in github.requests if r.path.endswith("/issues")]
    assert [r.status for r in pages] == [200, 200, 200]  # waited, never refused
    assert pages[1].at >= reset_at - 0.5


async def test_schedule_lifecycle_through_the_api(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    repo = repo_name.lower()
    seed_big_repo(github, repo_name, count=3)
    stack = await make_stack(sqlite_url)
    created = await stack.api.post(
        "/api/v1/projects",
        json={
            "repo": f"Octo-Org/{repo_name}",
            "labels": ["Good First Issue"],
            "interval_minutes": 30,
        },
    )
    assert created.status_code == 201
    assert created.json()["schedule"]["interval_minutes"] == 30
    handle = stack.client.get_schedule_handle(sync_schedule_id(f"octo-org/{repo}"))
    description = await handle.describe()
    assert description.schedule.spec.intervals[0].every.total_seconds() == 1800
    assert description.schedule.policy.overlap.name == "SKIP"

    updated = await stack.api.post(
        "/api/v1/projects", json={"repo": f"octo-org/{repo}", "interval_minutes": 15}
    )
    assert updated.status_code == 200
    assert (await handle.describe()).schedule.spec.intervals[0].every.total_seconds() == 900

    paused = await stack.api.patch(f"/api/v1/projects/octo-org/{repo}", json={"paused": True})
    assert paused.json()["paused"] is True
    assert (await handle.describe()).schedule.state.paused is True
    resumed = await stack.api.patch(f"/api/v1/projects/octo-org/{repo}", json={"paused": False})
    assert resumed.json()["paused"] is False
    assert (await handle.describe()).schedule.state.paused is False

    triggered = await stack.api.post(f"/api/v1/projects/octo-org/{repo}/sync")
    assert triggered.status_code == 202

    async def synced() -> bool:
        body = (await stack.api.get(f"/api/v1/projects/octo-org/{repo}")).json()
        return body["last_synced_at"] is not None and body["tutorials"] == 1

    await assert_eventually(synced, within=30)
    assert len((await handle.describe()).info.recent_actions) >= 1
    listed = (await stack.api.get("/api/v1/projects")).json()
    assert [p["repo"] for p in listed] == [f"octo-org/{repo}"]

    removed = await stack.api.delete(f"/api/v1/projects/octo-org/{repo}")
    assert removed.status_code == 204
    with pytest.raises(RPCError):
        await handle.describe()
    assert (await stack.api.get(f"/api/v1/projects/octo-org/{repo}")).status_code == 404
    # The tutorial made while it was tracked stays readable.
    assert (await tutorial(stack, repo, 3))["status"] == "COMPLETED"
    bad = await stack.api.post("/api/v1/projects", json={"repo": "not a repo"})
    assert bad.status_code == 422
    unknown = await stack.api.post("/api/v1/projects/octo-org/never-tracked/sync")
    assert unknown.status_code == 404
    assert make_ref("octo-org", repo, 3).key == f"octo-org/{repo}#3"


async def test_a_spent_llm_budget_holds_the_sync_on_a_durable_timer(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    from sqlmodel import select

    from issuesight.db.engine import session_scope
    from issuesight.db.models import LLMUsage

    repo = repo_name.lower()
    seed_big_repo(github, repo_name, count=5)  # one watched open issue: #3
    stack = await make_stack(sqlite_url, llm_daily_token_budget=1000)
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo}"})
    spend_llm_budget(stack, 1000)
    handle = await stack.client.start_workflow(
        RepoSyncWorkflow.run,
        SyncRequest(repo=f"octo-org/{repo}", llm_budget_recheck_seconds=0.5),
        id=f"test-sync-{uuid.uuid4()}",
        task_queue=stack.settings.temporal_task_queue,
    )

    async def waiting_on_a_timer() -> bool:
        history = await handle.fetch_history()
        timers = [e for e in history.events if e.HasField("timer_started_event_attributes")]
        return len(timers) >= 2  # it checked, slept, checked again: still spent

    await assert_eventually(waiting_on_a_timer, within=30)
    assert llm.count() == 0
    missing = await stack.api.get(f"/api/v1/issues/octo-org/{repo}/3/tutorial")
    assert missing.status_code == 404  # no job started
    description = await handle.describe()
    assert description.status is not None
    assert description.status.name == "RUNNING"  # waiting, not failed

    with session_scope(stack.store.engine) as session:  # the window rolls
        for usage in session.exec(select(LLMUsage)).all():
            usage.at -= timedelta(hours=25)
            session.add(usage)
    outcome = await handle.result()
    assert outcome.jobs == 1
    assert llm.count() == 1
    assert (await tutorial(stack, repo, 3))["status"] == "COMPLETED"


@pytest.mark.slow
async def test_a_sync_does_not_pay_again_for_a_tutorial_that_failed_for_good(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """A watched issue whose tutorial failed after its bounded attempts (the model always
    answers malformed) is not generated again by every later sync that reads its page; an
    edit of the issue itself is a new question and gets one new run."""
    repo = repo_name.lower()
    github.add_repo("Octo-Org", repo_name, files={"README.md": "# R\n", "src/r.py": "x = 1\n"})
    github.add_issue(f"Octo-Org/{repo_name}", 1, title="Watched", body="B", labels=["help wanted"])
    github.add_issue(f"Octo-Org/{repo_name}", 2, title="Unwatched", body="B", labels=[])
    stack = await make_stack(database_url)
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo}"})
    llm.fail_next("malformed", times=1000)

    await run_sync(stack.client, stack.settings, repo)
    failed = await tutorial(stack, repo, 1)
    assert (failed["status"], failed["failure_type"]) == ("FAILED", "LLMInvalidOutput")
    paid = llm.count()
    assert paid > 1  # the run's bounded attempts (the sync request's LLM_MAX_ATTEMPTS)

    # Another issue of the page changes, so the page is read again (200, not 304) and the
    # failed issue is seen again, unchanged: no new run, no LLM call.
    github.edit_issue(f"Octo-Org/{repo_name}", 2, body="Someone else's issue moved on.")
    github.reset_log()
    second = await run_sync(stack.client, stack.settings, repo)
    assert github.count(status=200, path_pattern=r"/issues$") >= 1
    assert second.jobs == 0
    assert llm.count() == paid

    # The failed issue itself is edited: a new version, one new (bounded) run.
    github.edit_issue(f"Octo-Org/{repo_name}", 1, body="Now with steps to reproduce.")
    third = await run_sync(stack.client, stack.settings, repo)
    assert third.jobs == 1
    assert llm.count() == 2 * paid


def test_a_failed_tutorial_is_retried_by_syncs_only_after_its_backoff_and_a_bounded_number_of_times(
    database_url: str, repo_name: str
) -> None:
    """The store's side of it, on both databases: failed runs are counted once per run, an
    outage is retried after the back-off (1 h after the first failed run, 2 h after the
    second), never after the third, and a final failure never."""
    repo = repo_name.lower()
    engine = make_engine(database_url)
    store, issues = TutorialStore(engine), IssueStore(engine)
    ProjectStore(engine).track("octo-org", repo, ["good first issue"], 60)
    ref = make_ref("octo-org", repo, 1)
    issue = {
        "number": 1,
        "title": "Watched",
        "state": "open",
        "labels": [{"name": "good first issue"}],
        "updated_at": "2025-01-01T00:00:00Z",
    }

    def seen_again() -> bool:
        return issues.record_issue(f"octo-org/{repo}", issue, ["good first issue"]).needs_job

    def failed(kind: str, runs: int, minutes_ago: int) -> None:
        with engine.begin() as connection:
            connection.execute(
                sa.update(TutorialContent)
                .where(col(TutorialContent.id) == ref.tutorial_id)
                .values(
                    failure_type=kind,
                    failed_runs=runs,
                    updated_at=utcnow() - timedelta(minutes=minutes_ago),
                )
            )

    try:
        store.register_submission(ref)
        issues.mark_handled(ref.key, parse_time(issue["updated_at"]))
        store.mark_failed(ref.tutorial_id, reason="down", failure_type="LLMUnavailable")
        store.mark_failed(ref.tutorial_id, reason="down", failure_type="LLMUnavailable")
        store.begin_generation(ref.tutorial_id, 1)  # a second run
        store.mark_failed(ref.tutorial_id, reason="down", failure_type="LLMUnavailable")
        with Session(engine) as session:
            content = session.get(TutorialContent, ref.tutorial_id)
            assert content is not None
            assert content.failed_runs == 2  # once per run, however often a run reports it

        failed("LLMUnavailable", 1, minutes_ago=59)
        assert not seen_again()
        failed("LLMUnavailable", 1, minutes_ago=61)
        assert seen_again()
        failed("LLMUnavailable", 2, minutes_ago=61)
        assert not seen_again()
        failed("LLMUnavailable", 2, minutes_ago=121)
        assert seen_again()
        failed("LLMUnavailable", 3, minutes_ago=60 * 24 * 30)
        assert not seen_again()
        for final in ("LLMInvalidOutput", "RepositoryNotFound", "Terminated"):
            failed(final, 1, minutes_ago=60 * 24 * 30)
            assert not seen_again(), final
        # A new version of the issue is a new question, whatever the failure was.
        issue["updated_at"] = "2025-02-01T00:00:00Z"
        assert seen_again()
    finally:
        engine.dispose()
