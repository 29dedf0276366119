"""A Temporal Schedule's action carries the settings of when it was made: a worker that
starts with changed settings brings the tracked repositories' sync schedules to them, and
keeps their interval and an operator's pause."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client, ScheduleActionStartWorkflow

from issuesight.db.engine import make_engine
from issuesight.db.projects import ProjectStore
from issuesight.orchestration.schedules import sync_schedule_id, upsert_sync_schedule
from issuesight.runtime.worker import run_worker
from issuesight.workflows.contracts import SyncRequest
from tests.helpers import MakeStack, assert_eventually


async def _request(client: Client, repo: str) -> SyncRequest:
    description = await client.get_schedule_handle(sync_schedule_id(repo)).describe()
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    (request,) = await client.data_converter.decode(list(action.args), [SyncRequest])
    assert isinstance(request, SyncRequest)
    return request


async def test_a_restarted_worker_brings_sync_schedules_to_the_new_settings(
    make_stack: MakeStack, database_url: str, repo_name: str
) -> None:
    stack = await make_stack(database_url, worker=False, llm_max_attempts=3)
    repo = f"octo-org/{repo_name.lower()}"
    engine = make_engine(database_url)
    ProjectStore(engine).track("octo-org", repo_name.lower(), ["good first issue"], 30)
    engine.dispose()
    # What tracking through the API does: the schedule is made with the settings of now.
    await upsert_sync_schedule(stack.client, stack.settings, repo, 30, paused=False)
    handle = stack.client.get_schedule_handle(sync_schedule_id(repo))
    await handle.pause(note="an operator's pause")
    assert (await _request(stack.client, repo)).llm_max_attempts == 3

    changed = stack.settings.model_copy(
        update={"llm_max_attempts": 4, "llm_timeout_seconds": 33.0, "sync_max_in_flight": 2}
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(changed, stop, client=stack.client, ensure_schedules=True)
    )
    try:

        async def updated() -> bool:
            return (await _request(stack.client, repo)).llm_max_attempts == 4

        await assert_eventually(updated, within=30)
    finally:
        stop.set()
        await worker

    request = await _request(stack.client, repo)
    assert (request.llm_timeout_seconds, request.max_in_flight) == (33.0, 2)
    description = await handle.describe()
    assert description.schedule.state.paused is True
    assert description.schedule.spec.intervals[0].every == timedelta(minutes=30)
