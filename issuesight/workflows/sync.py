"""RepoSyncWorkflow: one incremental sync of a tracked repository (started by its Schedule),
and ArchiveWorkflow: archiving issues closed long ago."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from issuesight.workflows import policies
    from issuesight.workflows.contracts import (
        ActivityName,
        ArchiveInput,
        ArchiveResult,
        LLMBudgetCheck,
        LLMBudgetState,
        SyncBeginResult,
        SyncCandidate,
        SyncFinishInput,
        SyncOutcome,
        SyncPageDone,
        SyncPageInput,
        SyncPageResult,
        SyncRequest,
        TutorialJobInput,
        TutorialJobResult,
    )

# History stays small for very large repositories: a fresh run every few pages.
PAGES_PER_RUN = 10
# Runs recorded before the LLM budget gate replay without it.
LLM_BUDGET_PATCH = "llm-budget-gate-v1"
# A page's ETag is remembered only once its jobs have started: remembered first, a page whose
# jobs never started answered 304 to every later sync and its issues were never seen again.
ETAG_AFTER_JOBS_PATCH = "sync-etag-after-jobs-v1"


@workflow.defn
class RepoSyncWorkflow:
    @workflow.run
    async def run(self, request: SyncRequest) -> SyncOutcome:
        url, labels = request.page_url, request.labels
        if url is None:
            begin: SyncBeginResult = await workflow.execute_activity(
                ActivityName.SYNC_BEGIN,
                request.repo,
                result_type=SyncBeginResult,
                start_to_close_timeout=policies.DATABASE_TIMEOUT,
                retry_policy=policies.DATABASE_RETRY,
            )
            url, labels = begin.first_url, begin.labels
        newest, pages, jobs = request.newest_seen, request.pages_done, request.jobs_started
        etag_after_jobs = workflow.patched(ETAG_AFTER_JOBS_PATCH)
        while url is not None:
            page: SyncPageResult = await workflow.execute_activity(
                ActivityName.SYNC_PAGE,
                SyncPageInput(request.repo, url, labels, defer_etag=etag_after_jobs),
                result_type=SyncPageResult,
                start_to_close_timeout=policies.SYNC_PAGE_TIMEOUT,
                heartbeat_timeout=policies.SYNC_PAGE_HEARTBEAT,
                schedule_to_close_timeout=policies.GITHUB_SCHEDULE_TO_CLOSE,
                retry_policy=policies.GITHUB_RETRY,
            )
            pages += 1
            if page.newest_updated_at and (newest is None or page.newest_updated_at > newest):
                newest = page.newest_updated_at
            if page.candidates and workflow.patched(LLM_BUDGET_PATCH):
                await self._wait_for_llm_budget(request)
            jobs += await self._run_jobs(page.candidates, request)
            if page.etag is not None:
                await workflow.execute_activity(
                    ActivityName.SYNC_PAGE_DONE,
                    SyncPageDone(url, page.etag, page.next_url),
                    start_to_close_timeout=policies.DATABASE_TIMEOUT,
                    retry_policy=policies.DATABASE_RETRY,
                )
            await self._respect_rate_limit(page, request.rate_limit_floor)
            url = page.next_url
            if url is not None and (
                pages - request.pages_done >= PAGES_PER_RUN
                or workflow.info().is_continue_as_new_suggested()
            ):
                workflow.continue_as_new(
                    dataclasses.replace(
                        request,
                        labels=labels,
                        page_url=url,
                        newest_seen=newest,
                        pages_done=pages,
                        jobs_started=jobs,
                    )
                )
        await workflow.execute_activity(
            ActivityName.SYNC_FINISH,
            SyncFinishInput(request.repo, newest, pages),
            start_to_close_timeout=policies.DATABASE_TIMEOUT,
            retry_policy=policies.DATABASE_RETRY,
        )
        return SyncOutcome(request.repo, pages=pages, jobs=jobs)

    async def _run_jobs(self, candidates: list[SyncCandidate], request: SyncRequest) -> int:
        """At most `max_in_flight` generations at once: the LLM's limits are the ceiling."""
        slots = asyncio.Semaphore(request.max_in_flight)

        async def one(candidate: SyncCandidate) -> TutorialJobResult:
            async with slots:
                result: TutorialJobResult = await workflow.execute_activity(
                    ActivityName.RUN_TUTORIAL_JOB,
                    TutorialJobInput(
                        candidate.issue_key,
                        refresh=candidate.refresh,
                        regenerate_stale=request.regenerate_stale,
                        llm_max_attempts=request.llm_max_attempts,
                        llm_timeout_seconds=request.llm_timeout_seconds,
                        updated_at=candidate.updated_at,
                    ),
                    result_type=TutorialJobResult,
                    start_to_close_timeout=policies.JOB_TIMEOUT,
                    heartbeat_timeout=policies.JOB_HEARTBEAT,
                    retry_policy=policies.JOB_RETRY,
                )
                return result

        await asyncio.gather(*(one(c) for c in candidates))
        return len(candidates)

    async def _wait_for_llm_budget(self, request: SyncRequest) -> None:
        """LLM_DAILY_TOKEN_BUDGET spent: no new generation starts until the window rolls.
        A durable timer, not a failure: the sync resumes where it stopped (and its schedule
        skips the runs due meanwhile)."""
        while True:
            state: LLMBudgetState = await workflow.execute_activity(
                ActivityName.LLM_BUDGET,
                LLMBudgetCheck(request.repo),
                result_type=LLMBudgetState,
                start_to_close_timeout=policies.DATABASE_TIMEOUT,
                retry_policy=policies.DATABASE_RETRY,
            )
            if state.wait_seconds <= 0:
                return
            wait = min(state.wait_seconds, request.llm_budget_recheck_seconds)
            workflow.logger.info(
                "LLM token budget spent; waiting before starting generations",
                extra={"wait": wait, "used": state.used, "budget": state.budget},
            )
            await workflow.sleep(timedelta(seconds=wait))

    async def _respect_rate_limit(self, page: SyncPageResult, floor: int) -> None:
        """Nearly out of GitHub budget: a durable timer until the reset, not a failure."""
        if page.rate_remaining is None or page.rate_reset is None:
            return
        if page.rate_remaining >= floor:
            return
        wait = page.rate_reset - workflow.now().timestamp() + 1
        if wait > 0:
            workflow.logger.info("GitHub budget low; waiting for the reset", extra={"wait": wait})
            await workflow.sleep(timedelta(seconds=wait))


@workflow.defn
class ArchiveWorkflow:
    @workflow.run
    async def run(self, older_than_days: int) -> ArchiveResult:
        result: ArchiveResult = await workflow.execute_activity(
            ActivityName.ARCHIVE_CLOSED,
            ArchiveInput(older_than_days, workflow.now().isoformat()),
            result_type=ArchiveResult,
            start_to_close_timeout=policies.ARCHIVE_TIMEOUT,
            retry_policy=policies.DATABASE_RETRY,
        )
        return result
