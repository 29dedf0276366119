"""Regeneration serves the previous tutorial until the new one completes; /health tells the
truth about each dependency."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, col
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.worker import Worker

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.api.app import create_app
from issuesight.db.engine import make_engine, session_scope
from issuesight.db.models import TutorialContent
from issuesight.db.search import include_name
from issuesight.db.tutorials import TutorialStore
from issuesight.domain.refs import make_ref
from issuesight.domain.status import Stage
from issuesight.workflows.contracts import Progress, TutorialRequest
from tests.helpers import MakeStack, assert_eventually, make_settings, wait_finished


async def test_regenerate_keeps_serving_the_old_tutorial_until_the_new_one_is_done(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url)
    first = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    url = first.json()["status_url"]
    old = await wait_finished(stack.api, url)
    assert old["generation"] == 1

    llm.latency = 1.5
    default = llm.default_tutorial
    llm.responder = lambda call: {**default(call), "title": "The second take"}
    regen = await stack.api.post(f"/api/v1/tutorials/{old['id']}/regenerate")
    assert regen.status_code == 202
    during = (await stack.api.get(url)).json()
    assert during["status"] == "COMPLETED"
    assert during["regenerating"] is True
    assert during["markdown"] == old["markdown"]

    await asyncio.sleep(0.2)
    new = await wait_finished(stack.api, url)
    assert new["generation"] == 2
    assert new["title"] == "The second take"
    assert new["regenerating"] is False
    assert llm.count() == 2
    # A plain submission afterwards is answered from the database.
    again = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    assert again.status_code == 200
    assert llm.count() == 2
    missing = await stack.api.post(
        "/api/v1/tutorials/00000000-0000-0000-0000-000000000000/regenerate"
    )
    assert missing.status_code == 404


async def test_a_regeneration_asked_while_a_generation_runs_is_refused_and_not_counted(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """A sync's refresh (or a first generation) is on its way: the regeneration would attach
    to it and, if that run keeps the tutorial, regenerate nothing, its slot spent. 409 instead,
    and the slot is still there once the run has finished."""
    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url, regenerate_daily_limit=1)
    first = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    done = await wait_finished(stack.api, first.json()["status_url"])
    ref = make_ref("octo-org", repo_name, 1)
    engine = make_engine(database_url)
    try:
        store = TutorialStore(engine)
        with session_scope(engine) as session:  # as a sync's refresh claims it
            assert store.claim_generation(session, ref.tutorial_id, 2)
        refused = await stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate")
        assert refused.status_code == 409, refused.text
        assert "already on its way" in refused.json()["detail"]
        with session_scope(engine) as session:  # that run kept the tutorial as it was
            session.execute(
                sa.update(TutorialContent)
                .where(col(TutorialContent.id) == ref.tutorial_id)
                .values(stage=Stage.DONE, requested_generation=1)
            )
    finally:
        engine.dispose()
    regenerated = await stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate")
    assert regenerated.status_code == 202, regenerated.text  # the one daily slot was not spent
    again = await wait_finished(stack.api, first.json()["status_url"])
    assert again["generation"] == 2
    assert llm.count() == 2


@workflow.defn(name="TutorialWorkflow", sandboxed=False)
class FinishedButOpen:
    """A run that has recorded its outcome (its progress says done) and not closed yet: the
    moment every finishing run goes through."""

    def __init__(self) -> None:
        self._close = False

    @workflow.run
    async def run(self, request: TutorialRequest) -> None:
        await workflow.wait_condition(lambda: self._close)

    @workflow.signal
    def close(self) -> None:
        self._close = True

    @workflow.query
    def progress(self) -> Progress:
        return Progress("finishing", Stage.DONE)


async def test_a_regeneration_asked_while_the_last_run_closes_is_not_lost(
    make_stack: MakeStack,
    database_url: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
    temporal_client: Client,
) -> None:
    """Started with "use existing" while the finishing run was still open, the regeneration
    used to attach to it and never run: 202, a row saying "queued", and no new generation."""
    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url)
    first = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    done = await wait_finished(stack.api, first.json()["status_url"])
    ref = make_ref("octo-org", repo_name, 1)
    await temporal_client.get_workflow_handle(ref.workflow_id).result()  # that run is closed
    lingering_queue = f"finishing-{uuid.uuid4()}"
    async with Worker(temporal_client, task_queue=lingering_queue, workflows=[FinishedButOpen]):
        lingering = await temporal_client.start_workflow(
            FinishedButOpen.run,
            TutorialRequest(ref.key),
            id=ref.workflow_id,
            task_queue=lingering_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )

        async def close_soon() -> None:
            await asyncio.sleep(1.0)
            await lingering.signal(FinishedButOpen.close)

        closing = asyncio.create_task(close_soon())
        regenerated = await stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate")
        await closing
    assert regenerated.status_code == 202, regenerated.text

    async def second_generation() -> bool:
        body = (await stack.api.get(first.json()["status_url"])).json()
        return bool(body["generation"] == 2 and body["stage"] == "done")

    await assert_eventually(second_generation, within=30)
    assert llm.count() == 2


async def test_health_reports_each_dependency(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, tmp_path: Path
) -> None:
    stack = await make_stack(sqlite_url, worker=False)
    up = await stack.api.get("/health")
    assert up.status_code == 200
    assert up.json()["checks"]["database"]["status"] == "up"
    assert up.json()["checks"]["temporal"]["status"] == "up"

    no_temporal = make_settings(
        database_url=sqlite_url, temporal_address="127.0.0.1:9", github=github, llm=llm
    )
    app = create_app(no_temporal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        down = await c.get("/health")
        assert down.status_code == 503
        assert down.json()["checks"]["temporal"]["status"] == "down"
        assert down.json()["checks"]["database"]["status"] == "up"
        refused = await c.post("/api/v1/tutorials", json={"issue": "octo-org/x#1"})
        assert refused.status_code == 503
        assert "recorded" in refused.json()["detail"]
    await app.state.resources.close()

    broken_db = make_settings(
        database_url=f"sqlite:///{tmp_path}/missing-dir/x.db",
        temporal_address=stack.settings.temporal_address,
        github=github,
        llm=llm,
    )
    app = create_app(broken_db, temporal=stack.client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        down = await c.get("/health")
        assert down.status_code == 503
        assert down.json()["checks"]["database"]["status"] == "down"
    await app.state.resources.close()


def test_migrations_match_the_models(database_url: str) -> None:
    """The migrated schema is what the models declare, on both backends."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "include_name": include_name}
            )
            diff = compare_metadata(context, SQLModel.metadata)
            tables = set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert {"projects", "github_issues", "tutorial_contents", "concepts", "tutorials"} <= tables
