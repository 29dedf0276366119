"""Submitting an issue: record it, then start its workflow or attach to the running one.

Deduplication is Temporal's: the workflow ID is the issue key. "Use existing" attaches while a run
is open; "allow duplicate failed only" refuses a new run once one completed, and the stored
tutorial answers instead. The workflow itself re-checks the stored generation, so even a start
that slips past both (e.g. a regeneration request racing a plain one) never calls the LLM twice.

Quotas and unlocks (the seeds' model): the request that asks for a new generation pays one unit
of its user's daily quota; any other request for that tutorial — it exists, or it is running —
is a free unlock. Which request asks is decided in the database, in the transaction that
records the submission, so of concurrent requests exactly one pays, and a refused one leaves
nothing behind.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowQueryFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from issuesight.accounts.principal import Requester
from issuesight.accounts.store import AccountStore, Actor, UnknownUser
from issuesight.core.settings import Settings
from issuesight.db.engine import session_scope
from issuesight.db.tutorials import TutorialStore, TutorialView
from issuesight.domain.refs import IssueRef
from issuesight.domain.status import Stage, TutorialStatus
from issuesight.workflows.contracts import Progress, TutorialRequest
from issuesight.workflows.tutorial import TutorialWorkflow

log = logging.getLogger(__name__)
FINISHED_RUN_CLOSE_WAIT = 10.0


class GenerationInFlight(Exception):
    """A regeneration asked while another generation of the tutorial is on its way (a sync's
    refresh, a first run, another regeneration). Attaching to that run would answer 202 and
    may regenerate nothing: a refresh keeps the tutorial when its inputs have not changed."""

    def __init__(self, stage: str) -> None:
        super().__init__(
            f"A generation of this tutorial is already on its way (stage {stage}), asked for "
            "by a sync, a webhook or another request. Nothing was started or counted: "
            "regenerate once it has finished."
        )


@dataclass(frozen=True)
class Submission:
    view: TutorialView
    started: bool  # False: the stored tutorial already answers
    # This request asked for a new generation (the others attach to it, free, as unlocks).
    new_generation: bool = False


@dataclass(frozen=True)
class _Admission:
    view: TutorialView
    target: int | None  # the generation to start; None: the stored tutorial answers
    new_generation: bool
    previous_requested: int
    previous_stage: str
    was_failed: bool
    audit_id: uuid.UUID | None


# A connected client, or a connection to make on demand (the API's): a tutorial the database
# already answers needs no Temporal at all.
Temporal = Client | Callable[[], Awaitable[Client]]


async def submit_issue(
    ref: IssueRef,
    *,
    store: TutorialStore,
    accounts: AccountStore,
    client: Temporal,
    settings: Settings,
    requester: Requester,
    regenerate: bool = False,
    refresh: bool = False,
) -> Submission:
    """`regenerate` always generates anew; `refresh` (sync, webhooks) regenerates a completed
    tutorial only if its inputs changed.

    Raises QuotaExceeded or LLMBudgetSpent (nothing recorded, nothing started) when a user asks
    for a new generation they cannot have; asking for one that exists or is running is free.
    Raises GenerationInFlight (nothing recorded, nothing started) for a regeneration asked
    while another generation of the tutorial is on its way.

    If Temporal cannot be reached (TemporalUnavailable) or refuses the start (RPCError), the
    error propagates and one rule settles what was charged: the unit stays charged exactly when
    the work is kept to be started later. A new or failed tutorial stays PENDING with its
    generation still claimed, so the reconciler starts it once Temporal answers (the generation
    its requester paid for) and asking again attaches for free; a regeneration or refresh of a
    completed tutorial is not kept (it shows its previous stage again) and is refunded.
    Refunding a kept one made its later start a free generation, past every quota."""
    admission = await asyncio.to_thread(
        _admit,
        store,
        accounts,
        ref,
        requester,
        regenerate=regenerate,
        refresh=refresh,
        llm_budget=settings.llm_daily_token_budget,
    )
    view = admission.view
    if admission.target is None:
        return Submission(view, started=False)
    try:
        submission = await _run(
            client, settings, store, ref, admission, requester, refresh, regenerate
        )
    except BaseException:
        if admission.new_generation and view.content.status == TutorialStatus.COMPLETED:
            await asyncio.to_thread(_unclaim, store, accounts, ref, admission, "start failed")
        raise
    if admission.new_generation and not submission.started:
        await asyncio.to_thread(_unclaim, store, accounts, ref, admission, "already completed")
    return submission


async def _run(
    temporal: Temporal,
    settings: Settings,
    store: TutorialStore,
    ref: IssueRef,
    admission: _Admission,
    requester: Requester,
    refresh: bool,
    regenerate: bool,
) -> Submission:
    assert admission.target is not None
    view = admission.view
    client = temporal if isinstance(temporal, Client) else await temporal()
    completed = view.content.status == TutorialStatus.COMPLETED
    if admission.was_failed or completed:
        await _let_finished_run_close(client, ref)
    request = TutorialRequest(
        issue_key=ref.key,
        target_generation=admission.target,
        llm_max_attempts=settings.llm_max_attempts,
        llm_timeout_seconds=settings.llm_timeout_seconds,
        requested_by=requester.tag,
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
    return Submission(
        await asyncio.to_thread(_reload, store, ref),
        started=True,
        new_generation=admission.new_generation,
    )


def _admit(
    store: TutorialStore,
    accounts: AccountStore,
    ref: IssueRef,
    requester: Requester,
    *,
    regenerate: bool,
    refresh: bool,
    llm_budget: int,
) -> _Admission:
    """One transaction: record the submission, decide whether it asks for a new generation
    (exactly one of concurrent requests does), and charge its requester for it — or roll all
    of it back when the quota or the LLM budget says no."""
    audit_id: uuid.UUID | None = None
    with session_scope(store.engine) as session:
        # Only a quota needs its check and its charge to be atomic (open mode has none).
        if (
            requester.user_id is not None
            and requester.daily_limit is not None
            and not accounts.lock_requester(session, requester.user_id)
        ):
            raise UnknownUser("the requesting user no longer exists")
        store.register_in(session, ref)
        state = store.generation_state(session, ref.tutorial_id)
        if state.status == TutorialStatus.COMPLETED and not (regenerate or refresh):
            target: int | None = None
            new = False
        else:
            target = state.generation + 1 if (regenerate or refresh) else 1
            new = store.claim_generation(session, ref.tutorial_id, target)
            if regenerate and not new:
                # In the claim's transaction, so no run can slip in between the check and it.
                raise GenerationInFlight(state.stage)
        cost = 0
        if new and requester.user_id is not None:
            if requester.check_llm_budget:
                accounts.check_llm_budget(session, llm_budget)
            accounts.charge(session, requester)
            cost = 1
        if requester.user_id is not None:
            accounts.unlock(session, requester.user_id, ref.tutorial_id, original=new)
        if new or requester.user_id is not None:
            action = (
                (
                    "tutorial.regenerate"
                    if regenerate
                    else "tutorial.refresh"
                    if refresh
                    else "tutorial.generate"
                )
                if new
                else "tutorial.unlock"
            )
            audit_id = accounts.record_in(
                session,
                Actor(requester.actor, requester.user_id),
                action,
                ref.key,
                cost=cost,
                detail={"generation": target} if new else None,
            )
    view = store.get_tutorial(ref.tutorial_id)
    assert view is not None
    return _Admission(
        view=view,
        target=target,
        new_generation=new,
        previous_requested=state.requested_generation,
        previous_stage=state.stage,
        was_failed=state.status == TutorialStatus.FAILED,
        audit_id=audit_id if cost else None,
    )


def _unclaim(
    store: TutorialStore, accounts: AccountStore, ref: IssueRef, admission: _Admission, reason: str
) -> None:
    """A new generation that did not start: the next request may ask (and pay) again."""
    assert admission.target is not None
    store.release_claim(
        ref.tutorial_id, admission.target, admission.previous_requested, admission.previous_stage
    )
    if admission.audit_id is not None:
        accounts.refund(admission.audit_id, reason)


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
        # The requester as an opaque id (or "sync", "webhook"): no personal data in histories.
        memo={"requested_by": request.requested_by},
    )


async def _let_finished_run_close(client: Client, ref: IssueRef) -> None:
    """A run records its outcome (COMPLETED or FAILED) a moment before it closes. A new run
    started in that window would attach to the finishing one ("use existing") and be lost: the
    row would say a regeneration is queued that no run will do. So when the previous run is
    still open but done (its progress says so), wait for it to close, briefly; a run still at
    work is attached to, as intended."""
    handle = client.get_workflow_handle(ref.workflow_id)
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return
        try:
            progress: Progress = await handle.query(
                TutorialWorkflow.progress, rpc_timeout=timedelta(seconds=5)
            )
        except (RPCError, WorkflowQueryFailedError) as exc:
            # No worker answered: its state is unknown, so attach as before.
            log.warning(
                "could not ask an open run how far it is; attaching to it",
                extra={"issue_key": ref.key, "error": type(exc).__name__},
            )
            return
        if progress.stage not in (Stage.DONE, Stage.FAILED):
            return
        await asyncio.wait_for(handle.result(), FINISHED_RUN_CLOSE_WAIT)
    except WorkflowFailureError:
        return  # it closed, failed, as expected
    except TimeoutError:
        log.warning("a finished run is still open; attaching to it", extra={"issue_key": ref.key})
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


def _reload(store: TutorialStore, ref: IssueRef) -> TutorialView:
    view = store.get_tutorial(ref.tutorial_id)
    if view is None:
        raise LookupError(f"tutorial row for {ref.key} vanished")
    return view
