"""Running one tutorial job on behalf of a sync: start or attach through the issue-keyed
workflow ID (so a sync never duplicates an API submission), then wait for it."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import activity
from temporalio.client import Client, WorkflowFailureError

from issuesight.accounts.principal import SYNC
from issuesight.accounts.store import AccountStore
from issuesight.db.models import TutorialStatus
from issuesight.db.store import Store
from issuesight.refs import parse_issue_ref
from issuesight.settings import Settings
from issuesight.submission import submit_issue
from issuesight.workflows.contracts import (
    ActivityName,
    TutorialJobInput,
    TutorialJobResult,
    TutorialOutcome,
)

HEARTBEAT_EVERY = 5.0


class TutorialJobActivities:
    def __init__(
        self, client: Client, store: Store, accounts: AccountStore, settings: Settings
    ) -> None:
        self._client = client
        self._store = store
        self._accounts = accounts
        self._settings = settings

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
