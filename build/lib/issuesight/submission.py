"""Submitting an issue: record it, then start its workflow or attach to the running one.

Deduplication is Temporal's: the workflow ID is the issue key. "Use existing" attaches while a run
is open; "allow duplicate failed only" refuses a new run once one completed, and the stored
tutorial answers instead. The workflow itself re-checks the stored generation, so even a start
that slips past both (e.g. a regeneration request racing a plain one) never calls the LLM twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from issuesight.db.models import TutorialStatus
from issuesight.db.store import Store, TutorialView
from issuesight.refs import IssueRef
from issuesight.settings import Settings
from issuesight.temporal_client import TemporalUnavailable
from issuesight.workflows.contracts import TutorialRequest
from issuesight.workflows.tutorial import TutorialWorkflow

log = logging.getLogger(__name__)
FAILED_RUN_CLOSE_WAIT = 10.0


@dataclass(frozen=True)
class Submission:
    view: TutorialView
    started: bool  # False: the stored tutorial already answers


Temporal = Client | Callable[[], Awaitable[Client]]


async def submit_issue(
    ref: IssueRef,
    *,
    store: Store,
    client: Temporal,
    settings: Settings,
    regenerate: bool = False,
    refresh: bool = False,
    requested_by: str = "api",
) -> Submission:
    """`regenerate` always generates anew; `refresh` (sync, webhooks) regenerates a completed
    tutorial only if its inputs changed. `client` may be a connection to make on demand: a
    tutorial that is already complete is answered without Temporal.

    If Temporal cannot be reached (TemporalUnavailable) or refuses the start (RPCError), the
    error propagates and what was recorded stays as it is meant to be kept: a new or failed
    tutorial stays PENDING, and the reconciler starts it once Temporal answers again; a
    completed tutorial shows its previous stage again (nothing is pending for it)."""
    view = await asyncio.to_thread(store.register_submission, ref)
    completed = view.content.status == TutorialStatus.COMPLETED
    if completed and not (regenerate or refresh):
        return Submission(view, started=False)
    previous_stage = view.content.stage
    try:
        temporal = client if isinstance(client, Client) else await client()
        if view.content.status == TutorialStatus.FAILED:
            await _let_failed_run_close(temporal, ref)
        if view.content.stage in ("done", "failed"):
            view = await asyncio.to_thread(store.mark_queued, ref.tutorial_id)
        return await _start_run(
            temporal, store, settings, ref, view, regenerate, refresh, requested_by
        )
    except (TemporalUnavailable, RPCError):
        if completed and previous_stage in ("done", "failed"):
            await asyncio.to_thread(
                store.restore_stage, ref.tutorial_id, queued_over=previous_stage
            )
        raise


async def _start_run(
    client: Client,
    store: Store,
    settings: Settings,
    ref: IssueRef,
    view: TutorialView,
    regenerate: bool,
    refresh: bool,
    requested_by: str,
) -> Submission:
    completed = view.content.status == TutorialStatus.COMPLETED
    target = view.content.generation + 1 if (regenerate or refresh) else 1
    request = TutorialRequest(
        issue_key=ref.key,
        target_generation=target,
        llm_max_attempts=settings.llm_max_attempts,
        llm_timeout_seconds=settings.llm_timeout_seconds,
        requested_by=requested_by,
        refresh=refresh and completed,
        regenerate_stale=settings.stale_policy == "regenerate",
    )
    reuse = (
        WorkflowIDReusePolicy.ALLOW_DUPLICATE
        if regenerate or refresh
        else WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
    )
    try:
        await _start(client, settings, ref, request, reuse)
    except WorkflowAlreadyStartedError:
        view = await asyncio.to_thread(_reload, store, ref)
        if view.content.status == TutorialStatus.COMPLETED:
            return Submission(view, started=False)
        # A completed run but no completed row (e.g. the database was restored from an older
        # backup): start anew; the workflow's own check still prevents a second generation.
        await _start(client, settings, ref, request, WorkflowIDReusePolicy.ALLOW_DUPLICATE)
    return Submission(await asyncio.to_thread(_reload, store, ref), started=True)


async def _start(
    client: Client,
    settings: Settings,
    ref: IssueRef,
    request: TutorialRequest,
    reuse: WorkflowIDReusePolicy,
) -> None:
    await client.start_workflow(
        TutorialWorkflow.run,
        request,
        id=ref.workflow_id,
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=reuse,
        static_summary=f"Tutorial for {ref.key}",
    )


async def _let_failed_run_close(client: Client, ref: IssueRef) -> None:
    """The failure is recorded a moment before its run closes; a start in that window would
    attach to the dying run ("use existing") and be lost. Wait for it to close, briefly."""
    handle = client.get_workflow_handle(ref.workflow_id)
    try:
        description = await handle.describe()
        if description.status == WorkflowExecutionStatus.RUNNING:
            await asyncio.wait_for(handle.result(), FAILED_RUN_CLOSE_WAIT)
    except WorkflowFailureError:
        return  # it closed, failed, as expected
    except TimeoutError:
        log.warning("a failed run is still open; attaching to it", extra={"issue_key": ref.key})
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


def _reload(store: Store, ref: IssueRef) -> TutorialView:
    view = store.get_tutorial(ref.tutorial_id)
    if view is None:
        raise LookupError(f"tutorial row for {ref.key} vanished")
    return view
