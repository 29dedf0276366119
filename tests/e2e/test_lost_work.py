"""Nothing is lost between the API, the database and Temporal: each test makes Temporal
unreachable in the middle (it stops a dev server it started itself, never the session's) and
checks that what was asked for is either done once Temporal is back, or said not to be kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select
from temporalio.client import Client

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.api.app import create_app
from issuesight.core.settings import Settings
from issuesight.db.models import GitHubIssue, HttpCacheEntry, TutorialContent, WebhookDelivery
from issuesight.domain.refs import make_ref
from issuesight.workflows.contracts import ReconcileRequest, ReconcileResult, SyncRequest
from issuesight.workflows.reconcile import ReconcileWorkflow
from issuesight.workflows.sync import RepoSyncWorkflow
from tests.helpers import (
    Stack,
    assert_eventually,
    deliver,
    issue_delivery,
    make_settings,
    user_with_key,
    wait_finished,
)
from tests.servers import TemporalDevServer

pytestmark = pytest.mark.slow


@pytest.fixture
async def temporal_server(tmp_path: Path) -> AsyncIterator[TemporalDevServer]:
    server = TemporalDevServer(tmp_path)
    await server.start()
    yield server
    await server.stop()


async def reconcile(stack: Stack, grace_seconds: int = 0) -> ReconcileResult:
    result: ReconcileResult = await stack.client.execute_workflow(
        ReconcileWorkflow.run,
        ReconcileRequest(grace_seconds=grace_seconds),
        id=f"test-reconcile-{uuid.uuid4()}",
        task_queue=stack.settings.temporal_task_queue,
    )
    return result


class Stacks:
    """Stacks on the test's own Temporal server; `up()` builds one on a fresh connection."""

    def __init__(self, server: TemporalDevServer, settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self.open: list[Stack] = []

    async def up(self, *, worker: bool = True) -> Stack:
        """A stack on a fresh connection, starting the server first if it is down."""
        try:
            client = await Client.connect(self.server.address)
        except RuntimeError:
            client = await self.server.start()
        stack = Stack(self.settings, client)
        if worker:
            stack.start_worker()
        self.open.append(stack)
        return stack

    async def down(self, stack: Stack) -> None:
        """Stops the worker first (while it can still report), then Temporal."""
        await stack.stop_worker()
        await self.server.stop()

    async def close(self) -> None:
        for stack in self.open:  # workers first, while the server can still hear them
            await stack.close()
        await self.server.stop()


@pytest.fixture
async def stacks(
    temporal_server: TemporalDevServer, database_url: str, github: FakeGitHub, llm: FakeOpenAI
) -> AsyncIterator[Stacks]:
    settings = make_settings(
        database_url=database_url,
        temporal_address=temporal_server.address,
        github=github,
        llm=llm,
        refresh_cooldown_minutes=0,
    )
    made = Stacks(temporal_server, settings)
    yield made
    await made.close()


def _row(stack: Stack, issue_key: str) -> TutorialContent | None:
    with Session(stack.store.engine) as session:
        issue = session.exec(select(GitHubIssue).where(GitHubIssue.issue_key == issue_key)).first()
        if issue is None:
            return None
        return session.exec(
            select(TutorialContent).where(TutorialContent.issue_id == issue.id)
        ).first()


async def test_a_submission_while_temporal_is_down_is_kept_and_started_when_it_is_back(
    stacks: Stacks, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    ref = make_ref("octo-org", repo_name, 1)
    await stacks.server.stop()
    # The API as deployed: it connects to Temporal on demand, and Temporal is down.
    app = create_app(stacks.settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        refused = await api.post("/api/v1/tutorials", json={"issue": ref.key})
        assert refused.status_code == 503
        assert refused.headers["retry-after"]
        body = refused.json()
        assert body["kept"] is True
        assert body["status"] == "PENDING"
        assert "started automatically" in body["detail"]
        status = await api.get(body["status_url"])
        assert status.json()["status"] == "PENDING"
        # Submitting again while it is down keeps the one row, answers the same.
        again = await api.post("/api/v1/tutorials", json={"issue": ref.key})
        assert again.status_code == 503
        assert again.json()["id"] == body["id"]

        stack = await stacks.up()  # Temporal is back, with a worker
        assert llm.count() == 0
        result = await reconcile(stack)
        assert result.restarted == 1
        done = await wait_finished(api, body["status_url"])
    await app.state.resources.close()
    assert done["status"] == "COMPLETED"
    assert llm.count() == 1
    assert (await reconcile(stack)).restarted == 0  # nothing left to restart


async def test_a_kept_submission_stays_charged_once_and_its_later_start_is_not_free(
    temporal_server: TemporalDevServer,
    database_url: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
) -> None:
    """One rule: the unit stays charged exactly when the work is kept. Refunded while kept, the
    reconciler's later start was a generation nobody paid for, past every quota."""
    seed_hello_world(github, repo_name)
    settings = make_settings(
        database_url=database_url,
        temporal_address=temporal_server.address,
        github=github,
        llm=llm,
        auth_mode="keys",
        write_rate_per_minute=0,
        user_daily_generations=2,
    )
    stacks = Stacks(temporal_server, settings)
    await temporal_server.stop()
    app = create_app(settings)
    _, key = user_with_key(app.state.resources.accounts, "member@example.com")
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:

            async def used() -> int:
                quota = (await api.get("/api/v1/me", headers=key)).json()["quota"]
                return int(quota["used"])

            issue = {"issue": f"octo-org/{repo_name}#1"}
            refused = await api.post("/api/v1/tutorials", json=issue, headers=key)
            assert refused.status_code == 503
            assert refused.json()["kept"] is True
            assert "counts as one generation" in refused.json()["detail"]
            assert await used() == 1  # kept, so charged
            again = await api.post("/api/v1/tutorials", json=issue, headers=key)
            assert again.status_code == 503
            assert await used() == 1  # asking again for kept work is free

            stack = await stacks.up()
            assert (await reconcile(stack)).restarted == 1
            done = await wait_finished(api, refused.json()["status_url"])
            assert done["status"] == "COMPLETED"
            assert llm.count() == 1
            assert await used() == 1  # the one generation, paid once
    finally:
        await app.state.resources.close()
        await stacks.close()


async def test_a_regeneration_while_temporal_is_down_keeps_nothing_and_counts_nothing(
    stacks: Stacks, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await stacks.up()
    first = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    done = await wait_finished(stack.api, first.json()["status_url"])
    await stacks.down(stack)

    refused = await stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate")
    assert refused.status_code == 503
    assert refused.json()["kept"] is False
    assert "Nothing was kept" in refused.json()["detail"]
    after = (await stack.api.get(first.json()["status_url"])).json()
    assert after["status"] == "COMPLETED"
    assert after["stage"] == "done"  # not left "queued" by a run that never started
    assert after["regenerating"] is False

    back = await stacks.up()
    # The refused request did not use up the regeneration cooldown.
    regenerated = await back.api.post(f"/api/v1/tutorials/{done['id']}/regenerate")
    assert regenerated.status_code == 202, regenerated.text
    await assert_eventually(lambda: _generation(back, first.json()["status_url"], 2), within=30)
    assert llm.count() == 2


async def _generation(stack: Stack, url: str, generation: int) -> bool:
    body = (await stack.api.get(url)).json()
    return bool(body["generation"] == generation and body["stage"] == "done")


async def test_a_webhook_refused_while_temporal_is_down_is_done_on_redelivery(
    stacks: Stacks, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await stacks.up()
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo_name}"})
    opened = await deliver(stack, issue_delivery(github, repo_name))
    assert opened.json()["status"] == "started"
    url = f"/api/v1/issues/octo-org/{repo_name.lower()}/1/tutorial"
    await assert_eventually(lambda: _generation(stack, url, 1), within=30)
    await stacks.down(stack)

    github.edit_issue(f"Octo-Org/{repo_name}", 1, body="The description now says much more.")
    edited = issue_delivery(github, repo_name, "edited")
    delivery = str(uuid.uuid4())
    refused = await deliver(stack, edited, delivery=delivery)
    assert refused.status_code == 503
    assert "redelivering it is safe" in refused.json()["detail"]
    with Session(stack.store.engine) as session:
        assert session.get(WebhookDelivery, delivery) is None

    back = await stacks.up()
    redelivered = await deliver(back, edited, delivery=delivery)
    assert redelivered.json()["status"] == "started"  # not "duplicate", not "recorded"
    await assert_eventually(lambda: _generation(back, url, 2), within=30)
    assert "The description now says much more." in llm.prompt_text(llm.calls[-1])
    assert llm.count() == 2


async def test_a_webhook_refused_while_temporal_is_down_is_done_by_the_reconciler(
    stacks: Stacks, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """GitHub does not redeliver on its own: the reconciler finds the change no job started."""
    seed_hello_world(github, repo_name)
    seed_hello_world(github, repo_name, number=2, title="A second issue")
    stack = await stacks.up()
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo_name}"})
    await deliver(stack, issue_delivery(github, repo_name))
    url = f"/api/v1/issues/octo-org/{repo_name.lower()}/1/tutorial"
    await assert_eventually(lambda: _generation(stack, url, 1), within=30)
    await stacks.down(stack)

    github.edit_issue(f"Octo-Org/{repo_name}", 1, body="The description now says much more.")
    assert (await deliver(stack, issue_delivery(github, repo_name, "edited"))).status_code == 503

    back = await stacks.up()
    result = await reconcile(back)
    assert result.rechecked == 1
    await assert_eventually(lambda: _generation(back, url, 2), within=30)
    assert llm.count() == 2
    # Issue 2 was never recorded (no delivery, no sync): nothing to do for it, nothing started.
    second = await back.api.get(f"/api/v1/issues/octo-org/{repo_name.lower()}/2/tutorial")
    assert second.status_code == 404
    again = await reconcile(back)
    assert (again.rechecked, again.restarted) == (0, 0)


async def test_a_sync_remembers_a_page_only_after_its_jobs_started(
    tmp_path: Path, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """The sync's workflow is lost mid-run (its dev server keeps no state and is stopped while
    the page's jobs run). Had the page's ETag been remembered with the page, the next sync
    would get 304 and never see the issues whose jobs were lost."""
    repo = repo_name.lower()
    github.add_repo("Octo-Org", repo_name, files={"README.md": "# R\n", "src/r.py": "x = 1\n"})
    for number in range(1, 6):
        labels = ["good first issue"] if number in (2, 4) else []
        github.add_issue(
            f"Octo-Org/{repo_name}", number, title=f"Issue {number}", body="B", labels=labels
        )
    server = TemporalDevServer(tmp_path, persist=False)
    settings = make_settings(
        database_url=database_url, temporal_address=server.address, github=github, llm=llm
    )
    stacks = Stacks(server, settings)
    try:
        stack = await stacks.up()
        await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo}"})
        llm.latency = 5.0  # the jobs are still running when Temporal goes away
        await stack.client.start_workflow(
            RepoSyncWorkflow.run,
            SyncRequest(repo=f"octo-org/{repo}"),
            id=f"test-sync-{uuid.uuid4()}",
            task_queue=settings.temporal_task_queue,
        )
        await assert_eventually(lambda: llm.in_flight == 2, within=30)
        llm.latency = 0.0
        await stacks.down(stack)
        with Session(stack.store.engine) as session:
            assert session.exec(select(HttpCacheEntry)).all() == []

        github.reset_log()
        back = await stacks.up()
        await back.client.execute_workflow(
            RepoSyncWorkflow.run,
            SyncRequest(repo=f"octo-org/{repo}"),
            id=f"test-sync-{uuid.uuid4()}",
            task_queue=settings.temporal_task_queue,
        )
        assert [r.status for r in github.requests if r.path.endswith("/issues")] == [200]
        for number in (2, 4):
            status = await back.api.get(f"/api/v1/issues/octo-org/{repo}/{number}/tutorial")
            assert status.json()["status"] == "COMPLETED", number
        # Now that the page's jobs have started, the page is remembered: the next one is 304.
        github.reset_log()
        await back.client.execute_workflow(
            RepoSyncWorkflow.run,
            SyncRequest(repo=f"octo-org/{repo}"),
            id=f"test-sync-{uuid.uuid4()}",
            task_queue=settings.temporal_task_queue,
        )
        assert [r.status for r in github.requests if r.path.endswith("/issues")] == [304]
    finally:
        await stacks.close()


async def test_the_reconciler_settles_runs_ended_by_operators_and_lost_stages(
    stacks: Stacks, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    seed_hello_world(github, repo_name, number=2)
    stack = await stacks.up()
    # A job an operator terminated mid-generation: its row would stay PENDING for ever.
    llm.latency = 30.0
    first = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    await assert_eventually(lambda: llm.in_flight == 1, within=30)
    ref = make_ref("octo-org", repo_name, 1)
    await stack.client.get_workflow_handle(ref.workflow_id).terminate("operator says stop")
    llm.latency = 0.0
    # A completed tutorial shown as queued with no run doing it.
    second = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#2"})
    await wait_finished(stack.api, second.json()["status_url"])
    ref2 = make_ref("octo-org", repo_name, 2)
    with stack.store.engine.begin() as connection:  # as a regeneration that never started
        connection.execute(
            sa.update(TutorialContent)
            .where(col(TutorialContent.id) == ref2.tutorial_id)
            .values(stage="queued")
        )

    result = await reconcile(stack)
    assert (result.terminated, result.stages_reset, result.restarted) == (1, 1, 0)
    terminated = (await stack.api.get(first.json()["status_url"])).json()
    assert terminated["status"] == "FAILED"
    assert terminated["failure_type"] == "Terminated"
    settled = (await stack.api.get(second.json()["status_url"])).json()
    assert (settled["status"], settled["stage"], settled["regenerating"]) == (
        "COMPLETED",
        "done",
        False,
    )
    with Session(stack.store.engine) as session:
        pending = session.exec(
            select(sa.func.count())
            .select_from(TutorialContent)
            .where(TutorialContent.status == "PENDING")
        ).one()
    assert pending == 0


async def test_tracking_while_temporal_refuses_the_schedule_changes_nothing(
    stacks: Stacks, github: FakeGitHub, repo_name: str
) -> None:
    stack = await stacks.up(worker=False)
    await stacks.server.stop()
    refused = await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo_name}"})
    assert refused.status_code == 503
    assert "nothing was changed" in refused.json()["detail"]
    back = await stacks.up(worker=False)
    assert (await back.api.get(f"/api/v1/projects/octo-org/{repo_name}")).status_code == 404
