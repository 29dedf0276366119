"""ReconcileWorkflow: started by a Temporal Schedule every RECONCILE_INTERVAL_MINUTES, it
restarts the tutorial work the database says is wanted and no workflow is doing (see
`TutorialJobActivities.reconcile_tutorials`). What the API, a webhook or a sync recorded while
Temporal was unreachable is started this way once Temporal answers again."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from issuesight.workflows.contracts import ActivityName, ReconcileRequest, ReconcileResult


@workflow.defn
class ReconcileWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileResult:
        result: ReconcileResult = await workflow.execute_activity(
            ActivityName.RECONCILE,
            request,
            result_type=ReconcileResult,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=30),
            # The next scheduled run picks up whatever this one could not.
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=5), maximum_attempts=3),
        )
        return result
