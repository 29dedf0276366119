"""TutorialWorkflow: one per issue, its ID derived from the normalized issue key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from issuesight.domain.failures import FailureKind
    from issuesight.domain.status import Stage, TutorialStatus
    from issuesight.workflows import policies
    from issuesight.workflows.contracts import (
        ActivityName,
        BeginInput,
        BeginResult,
        CompleteInput,
        CompleteResult,
        FetchContextInput,
        FetchContextResult,
        GenerateInput,
        GenerateResult,
        MarkFailedInput,
        MarkStaleInput,
        Progress,
        TutorialOutcome,
        TutorialRequest,
    )
    from issuesight.workflows.failures import describe_failure
    from issuesight.workflows.search_attributes import (
        DIFFICULTY,
        ISSUE_NUMBER,
        ISSUE_REPO,
        TUTORIAL_STATUS,
    )

# Runs recorded before operators' search attributes existed replay without them.
SEARCH_ATTRIBUTES_PATCH = "operator-search-attributes-v1"
# Runs recorded before the database steps became local activities replay them as activities.
LOCAL_STORE_STEPS_PATCH = "store-steps-as-local-activities-v1"
# An answer cut at the output cap is retried once with twice the cap (issue #15).
LENGTH_RETRY_PATCH = "llm-length-retry-v1"


@workflow.defn
class TutorialWorkflow:
    def __init__(self) -> None:
        self._issue_key = ""
        self._stage = Stage.QUEUED
        self._failure: str | None = None
        self._stale = False
        self._operator_view = False
        self._local_store_steps = False

    @workflow.query
    def progress(self) -> Progress:
        return Progress(issue_key=self._issue_key, stage=self._stage, failure_reason=self._failure)

    @workflow.run
    async def run(self, request: TutorialRequest) -> TutorialOutcome:
        self._issue_key = request.issue_key
        self._operator_view = workflow.patched(SEARCH_ATTRIBUTES_PATCH)
        self._local_store_steps = workflow.patched(LOCAL_STORE_STEPS_PATCH)
        repo, _, number = request.issue_key.partition("#")
        self._publish(
            ISSUE_REPO.value_set(repo),
            ISSUE_NUMBER.value_set(int(number)),
            TUTORIAL_STATUS.value_set(TutorialStatus.PENDING),
        )
        begin: BeginResult = await self._store_step(
            ActivityName.BEGIN,
            BeginInput(request.issue_key, request.target_generation),
            result_type=BeginResult,
        )
        if begin.already_current and not request.refresh:
            self._stage = Stage.DONE
            self._publish(TUTORIAL_STATUS.value_set(TutorialStatus.COMPLETED))
            return TutorialOutcome(request.issue_key, generated=False, generation=begin.generation)
        try:
            completed = await self._generate(request, begin)
        except ActivityError as err:
            reason, failure_type = describe_failure(err)
            self._stage, self._failure = Stage.FAILED, reason
            self._publish(TUTORIAL_STATUS.value_set(TutorialStatus.FAILED))
            await self._store_step(
                ActivityName.MARK_FAILED, MarkFailedInput(request.issue_key, reason, failure_type)
            )
            # Failing the run (not completing it) lets a later submission start a fresh one.
            raise ApplicationError(reason, type=failure_type, non_retryable=True) from err
        self._stage = Stage.DONE
        self._publish(TUTORIAL_STATUS.value_set(TutorialStatus.COMPLETED))
        if completed is not None:
            self._publish(DIFFICULTY.value_set(completed.difficulty))
        if completed is None:  # a refresh that found nothing to regenerate
            return TutorialOutcome(
                request.issue_key, generated=False, generation=begin.generation, stale=self._stale
            )
        return TutorialOutcome(
            request.issue_key,
            generated=True,
            generation=completed.generation,
            difficulty=completed.difficulty,
        )

    async def _generate(
        self, request: TutorialRequest, begin: BeginResult
    ) -> CompleteResult | None:
        run_id = workflow.info().run_id
        self._stage = Stage.FETCHING_CONTEXT
        fetched: FetchContextResult = await workflow.execute_activity(
            ActivityName.FETCH_CONTEXT,
            FetchContextInput(request.issue_key, run_id),
            result_type=FetchContextResult,
            start_to_close_timeout=policies.FETCH_CONTEXT_TIMEOUT,
            heartbeat_timeout=policies.FETCH_CONTEXT_HEARTBEAT,
            schedule_to_close_timeout=policies.GITHUB_SCHEDULE_TO_CLOSE,
            retry_policy=policies.GITHUB_RETRY,
        )
        if self._operator_view:
            # The issue title makes the Web UI's list readable.
            workflow.upsert_memo({"title": fetched.title})
        if request.refresh and begin.fingerprint is not None:
            if begin.fingerprint in (fetched.fingerprint, fetched.earlier_fingerprint):
                await self._store_step(ActivityName.MARK_UNCHANGED, request.issue_key)
                return None
            self._stale = True
            regenerate = request.regenerate_stale and not begin.refresh_deferred
            await self._store_step(
                ActivityName.MARK_STALE, MarkStaleInput(request.issue_key, regenerate)
            )
            if not regenerate:
                return None
        self._stage = Stage.GENERATING
        try:
            await self._draft(request, run_id, output_cap_doubled=False)
        except ActivityError as err:
            # An answer cut at the output cap: once, and only once, with twice the cap. The
            # same cap again would be cut again, and every attempt is paid for.
            if describe_failure(err)[1] != FailureKind.LLM_OUTPUT_TRUNCATED or not workflow.patched(
                LENGTH_RETRY_PATCH
            ):
                raise
            await self._draft(request, run_id, output_cap_doubled=True)
        self._stage = Stage.SAVING
        completed: CompleteResult = await self._store_step(
            ActivityName.COMPLETE,
            CompleteInput(request.issue_key, run_id),
            result_type=CompleteResult,
            start_to_close=policies.COMPLETE_TIMEOUT,
        )
        return completed

    async def _draft(
        self, request: TutorialRequest, run_id: str, *, output_cap_doubled: bool
    ) -> GenerateResult:
        result: GenerateResult = await workflow.execute_activity(
            ActivityName.GENERATE,
            GenerateInput(request.issue_key, run_id, output_cap_doubled=output_cap_doubled),
            result_type=GenerateResult,
            start_to_close_timeout=policies.llm_timeout(request.llm_timeout_seconds),
            heartbeat_timeout=policies.LLM_HEARTBEAT,
            retry_policy=policies.llm_retry(request.llm_max_attempts),
        )
        return result

    def _publish(self, *updates: SearchAttributeUpdate[Any]) -> None:
        if self._operator_view:
            workflow.upsert_search_attributes(list(updates))

    async def _store_step(
        self,
        activity: ActivityName,
        argument: object,
        *,
        result_type: type | None = None,
        start_to_close: timedelta = policies.DATABASE_TIMEOUT,
    ) -> Any:
        """A short, idempotent database write. As a local activity it runs in the worker that
        holds the workflow task: no task-queue round trip and no activity events, which was a
        third of the Temporal server's work per tutorial (bench.overhead)."""
        if self._local_store_steps:
            return await workflow.execute_local_activity(
                activity,
                argument,
                result_type=result_type,
                start_to_close_timeout=start_to_close,
                retry_policy=policies.DATABASE_RETRY,
            )
        return await workflow.execute_activity(
            activity,
            argument,
            result_type=result_type,
            start_to_close_timeout=start_to_close,
            retry_policy=policies.DATABASE_RETRY,
        )
