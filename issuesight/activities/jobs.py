"""Starting tutorial jobs from inside Temporal: on behalf of a sync (start or attach through
the issue-keyed workflow ID, so a sync never duplicates an API submission, then wait for it),
and the reconciler, which finds work the database says is wanted but no workflow is doing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from issuesight.accounts.principal import RECONCILER, SYNC
from issuesight.accounts.store import AccountStore
from issuesight.core.settings import Settings
from issuesight.db.issues import IssueStore, PendingIssue
from issuesight.db.tutorials import StuckTutorial, TutorialStore
from issuesight.db.types import parse_time, utcnow
from issuesight.domain.failures import FailureKind
from issuesight.domain.refs import IssueRef, parse_issue_ref
from issuesight.domain.status import TutorialStatus
from issuesight.orchestration.schedules import sync_running
from issuesight.orchestration.submission import submit_issue
from issuesight.workflows.contracts import (
    ActivityName,
    ReconcileRequest,
    ReconcileResult,
    TutorialJobInput,
    TutorialJobResult,
    TutorialOutcome,
)

log = logging.getLogger(__name__)
HEARTBEAT_EVERY = 5.0
# Runs an operator ended: the reconciler does not restart them (the README's "terminate a job").
ENDED_BY_OPERATOR = (WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.CANCELED)
RECONCILE_CONCURRENCY = 8


class TutorialJobActivities:
    def __init__(
        self,
        client: Client,
        store: TutorialStore,
        accounts: AccountStore,
        settings: Settings,
        issues: IssueStore,
    ) -> None:
        self._client = client
        self._store = store
        self._accounts = accounts
        self._settings = settings
        self._issues = issues

    @activity.defn(name=ActivityName.RUN_TUTORIAL_JOB)
    async def run_tutorial_job(self, request: TutorialJobInput) -> TutorialJobResult:
        ref = parse_issue_ref(request.issue_key)
        settings = self._settings.model_copy(
            update={
                "llm_max_attempts": request.llm_max_attempts,
                "llm_timeout_seconds": request.llm_timeout_seconds,
                "stale_policy": "regenerate" if request.regenerate_stale else "mark",
            }
        )
        submission = await submit_issue(
            ref,
            store=self._store,
            accounts=self._accounts,
            client=self._client,
            settings=settings,
            refresh=request.refresh,
            requester=SYNC,
        )
        # Started (or found done): this version of the issue no longer needs a job.
        await asyncio.to_thread(self._issues.mark_handled, ref.key, parse_time(request.updated_at))
        if not submission.started:
            return TutorialJobResult(ref.key, submission.view.content.status, generated=False)
        waiting = asyncio.create_task(
            self._client.get_workflow_handle(ref.workflow_id, result_type=TutorialOutcome).result()
        )
        try:
            while not waiting.done():
                activity.heartbeat()
                await asyncio.wait({waiting}, timeout=HEARTBEAT_EVERY)
            outcome: TutorialOutcome = waiting.result()
        except WorkflowFailureError:
            return TutorialJobResult(ref.key, TutorialStatus.FAILED, generated=False)
        finally:
            if not waiting.done():
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
        return TutorialJobResult(ref.key, TutorialStatus.COMPLETED, generated=outcome.generated)

    @activity.defn(name=ActivityName.RECONCILE)
    async def reconcile_tutorials(self, request: ReconcileRequest) -> ReconcileResult:
        """Work the database says is wanted and no workflow is doing, started again:

        - pending tutorials (and completed ones shown as regenerating) without a running
          workflow: restarted; one whose run an operator terminated is marked FAILED instead;
        - watched issues of tracked repositories without a tutorial, or with a change no job
          has started for (a webhook answered 503, a sync that died between its page and its
          jobs): started, unless their repository's sync is under way (it starts them);
        - stale tutorials whose refresh cooldown is over: refreshed (STALE_POLICY=regenerate).

        Nothing is started while LLM_DAILY_TOKEN_BUDGET is spent (counted as deferred).

        Every start goes through the issue-keyed workflow ID, so racing a submission or a sync
        attaches instead of duplicating, and the workflow never generates a generation twice.
        """
        older_than = utcnow() - timedelta(seconds=request.grace_seconds)
        budget = self._settings.llm_daily_token_budget
        # While LLM_DAILY_TOKEN_BUDGET is spent nothing is started: the work stays recorded and
        # a later run starts it. Operators' terminations and lost stages are still settled.
        spent = bool(budget) and (await asyncio.to_thread(self._accounts.llm_budget, budget)).spent
        stuck = await asyncio.to_thread(
            self._store.stuck_tutorials, older_than=older_than, limit=request.batch
        )
        pending = await asyncio.to_thread(self._issues.pending_watched_issues, limit=request.batch)
        stale: list[str] = []
        if self._settings.stale_policy == "regenerate":
            cooldown = timedelta(minutes=self._settings.refresh_cooldown_minutes)
            stale = await asyncio.to_thread(
                self._issues.stale_past_cooldown,
                completed_before=utcnow() - cooldown,
                limit=request.batch,
            )
        # A sync under way starts its repository's jobs itself, within SYNC_MAX_IN_FLIGHT:
        # starting them here too would only add to its load.
        repos = {parse_issue_ref(item.issue_key).repo_full_name for item in pending}
        running = await asyncio.gather(*(sync_running(self._client, repo) for repo in repos))
        syncing = {repo for repo, busy in zip(repos, running, strict=True) if busy}
        slots = asyncio.Semaphore(RECONCILE_CONCURRENCY)

        async def limited(work: Awaitable[str]) -> str:
            async with slots:
                activity.heartbeat()
                return await work

        deferred = len(pending) + len(stale) if spent else 0
        if spent:
            pending, stale = [], []
        outcomes = await asyncio.gather(
            *(limited(self._restart_stuck(row, start=not spent)) for row in stuck),
            *(limited(self._start_pending(item, syncing)) for item in pending),
            *(limited(self._refresh_stale(key)) for key in stale),
        )
        counts = dict.fromkeys(ReconcileResult.__dataclass_fields__, 0)
        for outcome in outcomes:
            counts[outcome] += 1
        counts["deferred"] += deferred
        result = ReconcileResult(**counts)
        log.info("reconciled", extra=counts)
        return result

    async def _restart_stuck(self, row: StuckTutorial, *, start: bool) -> str:
        ref = parse_issue_ref(row.issue_key)
        status = await self._run_status(ref)
        if status == WorkflowExecutionStatus.RUNNING:
            return "running"
        if row.status == TutorialStatus.PENDING and status in ENDED_BY_OPERATOR:
            await asyncio.to_thread(
                self._store.mark_failed,
                ref.tutorial_id,
                reason=f"the job was {status.name.lower()} before it finished; submit the "
                "issue again to retry it",
                failure_type=FailureKind.TERMINATED,
            )
            return "terminated"
        if row.status == TutorialStatus.PENDING:
            if not start:
                return "deferred"
            await self._submit(ref, refresh=False)
            return "restarted"
        # Completed, and shown as regenerating with no run doing it.
        await asyncio.to_thread(self._store.settle_stage, ref.tutorial_id)
        return "stages_reset"

    async def _start_pending(self, item: PendingIssue, syncing: set[str]) -> str:
        ref = parse_issue_ref(item.issue_key)
        if ref.repo_full_name in syncing:
            return "running"  # its sync will start it
        if await self._run_status(ref) == WorkflowExecutionStatus.RUNNING:
            return "running"  # its change is looked at again on the next run
        await self._submit(ref, refresh=item.has_tutorial)
        await asyncio.to_thread(self._issues.mark_handled, ref.key, item.updated_at)
        return "rechecked"

    async def _refresh_stale(self, issue_key: str) -> str:
        ref = parse_issue_ref(issue_key)
        if await self._run_status(ref) == WorkflowExecutionStatus.RUNNING:
            return "running"
        await self._submit(ref, refresh=True)
        return "refreshed"

    async def _submit(self, ref: IssueRef, *, refresh: bool) -> None:
        await submit_issue(
            ref,
            store=self._store,
            accounts=self._accounts,
            client=self._client,
            settings=self._settings,
            refresh=refresh,
            requester=RECONCILER,
        )

    async def _run_status(self, ref: IssueRef) -> WorkflowExecutionStatus | None:
        """The latest run's status; None if the workflow never existed (or is past retention)."""
        try:
            description = await self._client.get_workflow_handle(ref.workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return description.status
