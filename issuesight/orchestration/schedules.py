"""Temporal Schedules: one per tracked repository (its sync), and one that archives.

They are Temporal's own objects, so operators see, pause, trigger and edit them in the Web UI and
with `temporal schedule …`; the API drives the same objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from issuesight.core.settings import Settings
from issuesight.workflows.contracts import ReconcileRequest, SyncRequest
from issuesight.workflows.reconcile import ReconcileWorkflow
from issuesight.workflows.sync import ArchiveWorkflow, RepoSyncWorkflow

ARCHIVE_SCHEDULE_ID = "archive-closed-issues"


def reconcile_schedule_id(task_queue: str) -> str:
    """One per task queue: deployments sharing a namespace keep their own databases."""
    return f"reconcile:{task_queue}"


def sync_schedule_id(repo: str) -> str:
    return f"repo-sync:{repo}"


@dataclass(frozen=True)
class ScheduleInfo:
    schedule_id: str
    paused: bool
    interval_minutes: int | None
    next_run: datetime | None
    recent_runs: int


def _sync_action(settings: Settings, repo: str) -> ScheduleActionStartWorkflow:
    request = SyncRequest(
        repo=repo,
        max_in_flight=settings.sync_max_in_flight,
        regenerate_stale=settings.stale_policy == "regenerate",
        rate_limit_floor=settings.sync_rate_limit_floor,
        llm_max_attempts=settings.llm_max_attempts,
        llm_timeout_seconds=settings.llm_timeout_seconds,
    )
    return ScheduleActionStartWorkflow(
        RepoSyncWorkflow.run,
        request,
        id=sync_schedule_id(repo),
        task_queue=settings.temporal_task_queue,
        static_summary=f"Sync of {repo}",
    )


def _sync_schedule(settings: Settings, repo: str, interval_minutes: int, paused: bool) -> Schedule:
    return Schedule(
        action=_sync_action(settings, repo),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=interval_minutes))]
        ),
        # A sync still running when the next is due: skip, never pile up.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(paused=paused, note=f"IssueSight sync of {repo}"),
    )


async def upsert_sync_schedule(
    client: Client, settings: Settings, repo: str, interval_minutes: int, paused: bool
) -> None:
    schedule = _sync_schedule(settings, repo, interval_minutes, paused)
    try:
        await client.create_schedule(sync_schedule_id(repo), schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(sync_schedule_id(repo)).update(replace)


async def set_paused(client: Client, repo: str, paused: bool) -> None:
    handle = client.get_schedule_handle(sync_schedule_id(repo))
    if paused:
        await handle.pause(note="paused through the IssueSight API")
    else:
        await handle.unpause(note="resumed through the IssueSight API")


async def trigger(client: Client, repo: str) -> None:
    await client.get_schedule_handle(sync_schedule_id(repo)).trigger(
        overlap=ScheduleOverlapPolicy.SKIP
    )


async def delete(client: Client, repo: str) -> None:
    try:
        await client.get_schedule_handle(sync_schedule_id(repo)).delete()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def describe(client: Client, repo: str) -> ScheduleInfo | None:
    try:
        description = await client.get_schedule_handle(sync_schedule_id(repo)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    intervals = description.schedule.spec.intervals
    next_times = description.info.next_action_times
    return ScheduleInfo(
        schedule_id=description.id,
        paused=description.schedule.state.paused,
        interval_minutes=int(intervals[0].every.total_seconds() // 60) if intervals else None,
        next_run=next_times[0] if next_times else None,
        recent_runs=len(description.info.recent_actions),
    )


async def sync_running(client: Client, repo: str) -> bool:
    """Whether the repository's schedule has a sync under way (started by it or triggered)."""
    try:
        description = await client.get_schedule_handle(sync_schedule_id(repo)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return bool(description.info.running_actions)


async def ensure_archive_schedule(client: Client, settings: Settings) -> None:
    """Daily archiving of issues closed longer than ARCHIVE_AFTER_DAYS; created, or its
    action brought to the current setting, by every worker that starts (idempotent)."""
    action = ScheduleActionStartWorkflow(
        ArchiveWorkflow.run,
        settings.archive_after_days,
        id=ARCHIVE_SCHEDULE_ID,
        task_queue=settings.temporal_task_queue,
    )
    schedule = Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=1))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(ARCHIVE_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        # One archive schedule per namespace: a deployment on another task queue sharing the
        # namespace must not take it over at each start, so only the arguments are ours.
        await _replace_action(client, ARCHIVE_SCHEDULE_ID, action, keep_task_queue=True)


async def resync_sync_schedules(
    client: Client, settings: Settings, repos: Sequence[str]
) -> list[str]:
    """Brings the sync schedules of `repos` (the tracked ones) to the current settings.

    A schedule's action carries the SyncRequest built when it was created (its attempts, LLM
    timeout, in-flight bound, stale policy, rate-limit floor): without this, a changed
    setting never reached the repositories tracked before the change. Only the action is
    replaced; the interval and an operator's pause stay as they are. Returns the repositories
    whose schedule was updated."""
    updated = []
    for repo in repos:
        try:
            if await _replace_action(client, sync_schedule_id(repo), _sync_action(settings, repo)):
                updated.append(repo)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            # Tracked, but its schedule is gone (deleted by hand): tracking it again makes one.
    return updated


async def _replace_action(
    client: Client,
    schedule_id: str,
    action: ScheduleActionStartWorkflow,
    *,
    keep_task_queue: bool = False,
) -> bool:
    """Replaces the schedule's action when its arguments, workflow id or task queue differ
    from `action`'s (with `keep_task_queue`, the schedule's own task queue stays and is not
    compared); spec, policy and state are kept. True if it was replaced."""
    wanted = await client.data_converter.encode(list(action.args))
    changed = False

    def replace(update: ScheduleUpdateInput) -> ScheduleUpdate | None:
        nonlocal changed
        current = update.description.schedule.action
        if isinstance(current, ScheduleActionStartWorkflow) and keep_task_queue:
            action.task_queue = current.task_queue
        if (
            isinstance(current, ScheduleActionStartWorkflow)
            and list(current.args) == wanted
            and current.id == action.id
            and current.task_queue == action.task_queue
        ):
            return None
        changed = True
        schedule = update.description.schedule
        schedule.action = action
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(schedule_id).update(replace)
    return changed


async def ensure_reconcile_schedule(client: Client, settings: Settings) -> None:
    """The reconciler every RECONCILE_INTERVAL_MINUTES; created, or updated to the current
    interval, by every worker that starts (idempotent)."""
    schedule_id = reconcile_schedule_id(settings.temporal_task_queue)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileWorkflow.run,
            ReconcileRequest(),
            id=schedule_id,
            task_queue=settings.temporal_task_queue,
            static_summary="Restart tutorial work that no workflow is doing",
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=timedelta(minutes=settings.reconcile_interval_minutes))
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note="IssueSight reconciler"),
    )
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def replace(update: ScheduleUpdateInput) -> ScheduleUpdate:
            # Keep an operator's pause: only the action and the interval are ours to set.
            schedule.state = update.description.schedule.state
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)
