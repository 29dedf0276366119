"""Nothing a caller repeats is unbounded: regeneration has a cooldown and a daily limit per
tutorial, a changed issue regenerates at most once per refresh cooldown (outsiders' comments
do not buy a generation each), syncs run at most every 15 minutes, and the number of tracked
repositories is capped. The reconciler's schedule exists and runs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col
from temporalio.client import ScheduleActionExecutionStartWorkflow

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.accounts.principal import SYNC
from issuesight.accounts.store import CLI
from issuesight.db.models import Role, TutorialContent
from issuesight.db.types import utcnow
from issuesight.domain.refs import make_ref
from issuesight.orchestration.schedules import ensure_reconcile_schedule, reconcile_schedule_id
from issuesight.orchestration.submission import submit_issue
from issuesight.workflows.contracts import ReconcileRequest, ReconcileResult
from issuesight.workflows.reconcile import ReconcileWorkflow
from tests.helpers import (
    MakeStack,
    Stack,
    assert_eventually,
    run_sync,
    user_with_key,
    wait_finished,
)


async def _completed(stack: Stack, repo_name: str, number: int = 1) -> dict[str, Any]:
    response = await stack.api.post(
        "/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#{number}"}
    )
    return await wait_finished(stack.api, response.json()["status_url"])


async def _generation(stack: Stack, tutorial_id: str, generation: int) -> bool:
    body = (await stack.api.get(f"/api/v1/tutorials/{tutorial_id}")).json()
    return bool(body["generation"] == generation and body["stage"] == "done")


async def test_regeneration_has_a_cooldown_per_tutorial(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url, regenerate_cooldown_minutes=10)
    done = await _completed(stack, repo_name)
    accepted = await stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate")
    assert accepted.status_code == 202
    refused = await stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate")
    assert refused.status_code == 429
    assert 590 <= int(refused.headers["retry-after"]) <= 600
    assert "less than 10 minutes ago" in refused.json()["detail"]
    await assert_eventually(lambda: _generation(stack, done["id"], 2), within=30)
    assert llm.count() == 2  # the refused request cost nothing


async def test_a_refused_regeneration_costs_neither_quota_nor_a_regeneration_slot(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """Refused by the cooldown: no quota unit spent. Refused by the quota (a Refusal, not an
    HTTPException): the tutorial's cooldown slot is given back, so the admin may regenerate
    as soon as they have quota again instead of meeting a cooldown nothing used."""
    seed_hello_world(github, repo_name)
    stack = await make_stack(
        database_url, auth_mode="keys", write_rate_per_minute=0, regenerate_cooldown_minutes=10
    )
    accounts = stack.app.state.resources.accounts
    admin, key = user_with_key(accounts, "admin@example.com", Role.ADMIN, daily_generations=2)

    async def used() -> int:
        return int((await stack.api.get("/api/v1/me", headers=key)).json()["quota"]["used"])

    submitted = await stack.api.post(
        "/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"}, headers=key
    )
    done = await wait_finished(stack.api, submitted.json()["status_url"])
    regenerate = f"/api/v1/tutorials/{done['id']}/regenerate"
    assert (await stack.api.post(regenerate, headers=key)).status_code == 202
    await assert_eventually(lambda: _generation(stack, done["id"], 2), within=30)
    assert await used() == 2

    cooled = await stack.api.post(regenerate, headers=key)
    assert cooled.status_code == 429
    assert "less than 10 minutes ago" in cooled.json()["detail"]
    assert await used() == 2  # the cooldown's refusal cost no quota

    with stack.store.engine.begin() as connection:  # the cooldown is over
        connection.execute(
            sa.text("UPDATE regeneration_limits SET requested_at = :then"),
            {"then": utcnow() - timedelta(minutes=11)},
        )
    spent = await stack.api.post(regenerate, headers=key)
    assert spent.status_code == 429
    assert "quota" in spent.json(), spent.text
    accounts.update_user(admin.id, actor=CLI, daily_generations=3)
    again = await stack.api.post(regenerate, headers=key)
    assert again.status_code == 202, again.text  # not "regenerated less than 10 minutes ago"
    await assert_eventually(lambda: _generation(stack, done["id"], 3), within=30)
    assert await used() == 3
    assert llm.count() == 3


async def test_regeneration_has_a_daily_limit_per_tutorial(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    seed_hello_world(github, repo_name, number=2)
    stack = await make_stack(database_url, regenerate_cooldown_minutes=0, regenerate_daily_limit=2)
    done = await _completed(stack, repo_name)
    for generation in (2, 3):
        accepted = await stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate")
        assert accepted.status_code == 202
        await assert_eventually(partial(_generation, stack, done["id"], generation), within=30)
    refused = await stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate")
    assert refused.status_code == 429
    assert "2 times in 24 hours" in refused.json()["detail"]
    assert 86_000 <= int(refused.headers["retry-after"]) <= 86_400
    # Limits are per tutorial: another one is not held back.
    other = await _completed(stack, repo_name, 2)
    assert (await stack.api.post(f"/api/v1/tutorials/{other['id']}/regenerate")).status_code == 202
    # The window moves on after 24 hours.
    with stack.store.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE regeneration_limits SET window_started_at = :then"),
            {"then": utcnow() - timedelta(days=1, minutes=1)},
        )
    assert (await stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate")).status_code == 202


async def test_concurrent_regenerations_get_one_place(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url, regenerate_cooldown_minutes=10)
    done = await _completed(stack, repo_name)
    answers = await asyncio.gather(
        *(stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate") for _ in range(8))
    )
    assert sorted(a.status_code for a in answers) == [202] + [429] * 7
    await assert_eventually(lambda: _generation(stack, done["id"], 2), within=30)
    assert llm.count() == 2


async def test_regenerations_racing_refreshes_pay_for_one_generation(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """Admins' regenerate requests and syncs' refreshes of a changed issue, all at once: the
    claims are conditional UPDATEs with a checked row count, so exactly one of them asks for
    the new generation and the others attach to it."""
    seed_hello_world(github, repo_name)
    stack = await make_stack(
        database_url, regenerate_cooldown_minutes=0, refresh_cooldown_minutes=0
    )
    done = await _completed(stack, repo_name)
    github.edit_issue(f"Octo-Org/{repo_name}", 1, body="Changed: a refresh would regenerate.")
    ref = make_ref("octo-org", repo_name, 1)
    resources = stack.app.state.resources

    async def refresh() -> bool:
        submission = await submit_issue(
            ref,
            store=resources.store,
            accounts=resources.accounts,
            client=stack.client,
            settings=stack.settings,
            requester=SYNC,
            refresh=True,
        )
        return submission.new_generation

    regenerations = [stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate") for _ in range(4)]
    answers, _ = await asyncio.gather(
        asyncio.gather(*regenerations), asyncio.gather(*(refresh() for _ in range(4)))
    )
    # 202 (asked, or attached), 200 (already done), 409 (a refresh's generation is on its way)
    # or 429 (the cooldown: requests of the same instant, one after another in the database):
    # never two paid generations.
    assert {a.status_code for a in answers} <= {200, 202, 409, 429}, [a.text for a in answers]
    await assert_eventually(lambda: _generation(stack, done["id"], 2), within=30)
    await asyncio.sleep(1.0)  # a second paid run, if one had been let through, would show
    assert llm.count() == 2
    with stack.store.engine.begin() as connection:
        asked = connection.execute(
            sa.text(
                "SELECT count(*) FROM audit_events WHERE target = :key "
                "AND action IN ('tutorial.regenerate', 'tutorial.refresh')"
            ),
            {"key": ref.key},
        ).scalar_one()
    assert asked == 1  # one request asked for generation 2; the others were attached


async def test_sync_interval_and_tracked_repositories_are_bounded(
    make_stack: MakeStack, database_url: str
) -> None:
    stack = await make_stack(database_url, worker=False, max_tracked_repositories=2)
    prefix = f"octo-org/capped-{uuid.uuid4().hex[:8]}"
    too_often = await stack.api.post(
        "/api/v1/projects", json={"repo": f"{prefix}-a", "interval_minutes": 14}
    )
    assert too_often.status_code == 422
    assert "15" in too_often.text
    for name in ("a", "b"):
        tracked = await stack.api.post(
            "/api/v1/projects", json={"repo": f"{prefix}-{name}", "interval_minutes": 15}
        )
        assert tracked.status_code == 201, tracked.text
    refused = await stack.api.post("/api/v1/projects", json={"repo": f"{prefix}-c"})
    assert refused.status_code == 409
    assert "MAX_TRACKED_REPOSITORIES" in refused.json()["detail"]
    # Updating one already tracked is not a new place.
    updated = await stack.api.post(
        "/api/v1/projects", json={"repo": f"{prefix}-a", "interval_minutes": 30}
    )
    assert updated.status_code == 200
    assert (await stack.api.delete(f"/api/v1/projects/{prefix}-b")).status_code == 204
    assert (
        await stack.api.post("/api/v1/projects", json={"repo": f"{prefix}-c"})
    ).status_code == 201
    for name in ("a", "c"):
        await stack.api.delete(f"/api/v1/projects/{prefix}-{name}")


async def reconcile(stack: Stack) -> ReconcileResult:
    result: ReconcileResult = await stack.client.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileRequest(grace_seconds=0),
        id=f"test-reconcile-{uuid.uuid4()}",
        task_queue=stack.settings.temporal_task_queue,
    )
    return result


@pytest.mark.slow
async def test_outsiders_comments_do_not_buy_a_generation_each(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """Each comment changes the tutorial's inputs; inside REFRESH_COOLDOWN_MINUTES a sync marks
    the tutorial stale instead of regenerating it, and the reconciler regenerates it once the
    cooldown is over."""
    repo = repo_name.lower()
    github.add_repo("Octo-Org", repo_name, files={"README.md": "# R\n", "src/r.py": "x = 1\n"})
    github.add_issue(
        f"Octo-Org/{repo_name}", 1, title="Watched", body="Body", labels=["good first issue"]
    )
    stack = await make_stack(database_url, refresh_cooldown_minutes=360)
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo}"})
    await run_sync(stack.client, stack.settings, repo)
    url = f"/api/v1/issues/octo-org/{repo}/1/tutorial"
    assert (await stack.api.get(url)).json()["generation"] == 1
    for n in range(3):
        github.add_comment(f"Octo-Org/{repo_name}", 1, f"+1 from outsider {n}", user=f"out{n}")
        outcome = await run_sync(stack.client, stack.settings, repo)
        assert outcome.jobs == 1  # the change is looked at ...
    assert llm.count() == 1  # ... but not paid for
    body = (await stack.api.get(url)).json()
    assert (body["generation"], body["stale"], body["stage"]) == (1, True, "done")
    assert (await reconcile(stack)).refreshed == 0  # the cooldown is not over

    ref = make_ref("octo-org", repo, 1)
    with stack.store.engine.begin() as connection:
        connection.execute(
            sa.update(TutorialContent)
            .where(col(TutorialContent.id) == ref.tutorial_id)
            .values(completed_at=utcnow() - timedelta(hours=7))
        )
    assert (await reconcile(stack)).refreshed == 1
    await assert_eventually(lambda: _generation(stack, str(ref.tutorial_id), 2), within=30)
    body = (await stack.api.get(url)).json()
    assert body["stale"] is False
    assert llm.count() == 2
    assert "+1 from outsider 2" in llm.prompt_text(llm.calls[-1])
    assert (await reconcile(stack)).refreshed == 0


async def test_the_reconciler_schedule_is_created_updated_and_runs(
    make_stack: MakeStack, sqlite_url: str
) -> None:
    stack = await make_stack(sqlite_url, reconcile_interval_minutes=7)
    await ensure_reconcile_schedule(stack.client, stack.settings)
    handle = stack.client.get_schedule_handle(
        reconcile_schedule_id(stack.settings.temporal_task_queue)
    )
    described = await handle.describe()
    assert described.schedule.spec.intervals[0].every == timedelta(minutes=7)
    assert described.schedule.policy.overlap.name == "SKIP"
    await handle.pause(note="an operator's pause")
    faster = stack.settings.model_copy(update={"reconcile_interval_minutes": 3})
    await ensure_reconcile_schedule(stack.client, faster)  # a worker restarted with a new value
    described = await handle.describe()
    assert described.schedule.spec.intervals[0].every == timedelta(minutes=3)
    assert described.schedule.state.paused is True  # the operator's pause is kept
    await handle.trigger()

    async def ran() -> bool:
        actions = (await handle.describe()).info.recent_actions
        if not actions:
            return False
        started = actions[-1].action
        assert isinstance(started, ScheduleActionExecutionStartWorkflow), started
        run = stack.client.get_workflow_handle(started.workflow_id, result_type=ReconcileResult)
        result = await run.result()
        return isinstance(result, ReconcileResult)

    await assert_eventually(ran, within=30)
    await handle.delete()


async def test_the_reconciler_leaves_a_running_sync_s_issues_to_it(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """A sync records a page's issues and then starts their jobs a few at a time: the ones
    still waiting are not lost, and the reconciler must not start them beside the sync."""
    repo = repo_name.lower()
    github.add_repo("Octo-Org", repo_name, files={"README.md": "# R\n"})
    for number in (1, 2, 3):
        github.add_issue(
            f"Octo-Org/{repo_name}", number, title=f"W{number}", body="B", labels=["help wanted"]
        )
    llm.latency = 3.0
    stack = await make_stack(sqlite_url, sync_max_in_flight=1)
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo}"})
    await stack.api.post(f"/api/v1/projects/octo-org/{repo}/sync")
    await assert_eventually(lambda: llm.in_flight == 1, within=30)
    result = await reconcile(stack)
    # Issue 1's workflow is running; issues 2 and 3 wait for their sync's one slot.
    assert (result.running, result.rechecked, result.restarted) == (3, 0, 0)
    assert llm.max_in_flight == 1
    llm.latency = 0.0

    async def synced() -> bool:
        body = (await stack.api.get(f"/api/v1/projects/octo-org/{repo}")).json()
        return bool(body["tutorials"] == 3)

    await assert_eventually(synced, within=60)  # the sync finishes what it started


async def test_the_reconciler_starts_nothing_while_the_llm_budget_is_spent(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    from sqlmodel import select

    from issuesight.db.engine import session_scope
    from issuesight.db.models import LLMUsage
    from tests.helpers import spend_llm_budget

    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url, llm_daily_token_budget=1000)
    ref = make_ref("octo-org", repo_name, 1)
    await asyncio.to_thread(stack.store.register_submission, ref)  # kept, never started
    spend_llm_budget(stack, 1000)  # (its spender is another pending tutorial)
    held = await reconcile(stack)
    assert (held.deferred, held.restarted) == (2, 0)
    assert llm.count() == 0
    with session_scope(stack.store.engine) as session:  # the window rolls
        for usage in session.exec(select(LLMUsage)).all():
            usage.at -= timedelta(hours=25)
            session.add(usage)
    assert (await reconcile(stack)).restarted == 2
    await assert_eventually(lambda: _generation(stack, str(ref.tutorial_id), 1), within=30)
    assert llm.count() == 1
