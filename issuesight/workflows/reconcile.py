"""ReconcileWorkflow: started by a Temporal Schedule every RECONCILE_INTERVAL_MINUTES, it
restarts the tutorial work the database says is wanted and no workflow is doing (see
`TutorialJobActivities.reconcile_tutorials`). What the API, a webhook or a sync recorded while
Temporal was unreachable is started this way once Temporal answers again."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from issuesight.workflows import policies
    from issuesight.workflows.contracts import ActivityName, ReconcileRequest, ReconcileResult


@workflow.defn
class ReconcileWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconcileResult:
        result: ReconcileResult = await workflow.execute_activity(
            ActivityName.RECONCILE,
            request,
            result_type=ReconcileResult,
            start_to_close_timeout=policies.RECONCILE_TIMEOUT,
            heartbeat_timeout=policies.RECONCILE_HEARTBEAT,
            retry_policy=policies.RECONCILE_RETRY,
        )
        return result
