"""The baseline workflow of the overhead figure: the TutorialWorkflow's shape (a query, activities
in sequence with the same timeouts and retry policies, dataclass payloads) with no-op activities.

Kept in its own module importing only temporalio: the workflow sandbox re-imports a workflow's
module for every run, so a heavy module would tax the baseline with import work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=20)


@dataclass(frozen=True)
class Step:
    key: str
    run_id: str


@dataclass(frozen=True)
class Done:
    key: str
    ok: bool


@activity.defn(name="bare_begin")
async def bare_begin(step: Step) -> Done:
    return Done(step.key, ok=True)


@activity.defn(name="bare_work")
async def bare_work(step: Step) -> Done:
    return Done(step.key, ok=True)


@activity.defn(name="bare_complete")
async def bare_complete(step: Step) -> Done:
    return Done(step.key, ok=True)


ACTIVITIES = [bare_begin, bare_work, bare_complete]


@workflow.defn
class BareWorkflow:
    def __init__(self) -> None:
        self._stage = "queued"

    @workflow.query
    def progress(self) -> str:
        return self._stage

    @workflow.run
    async def run(self, key: str) -> Done:
        step = Step(key, workflow.info().run_id)
        for stage, fn in zip(("begin", "work", "complete"), ACTIVITIES, strict=True):
            self._stage = stage
            await workflow.execute_activity(
                fn,
                step,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
        self._stage = "done"
        return Done(key, ok=True)
