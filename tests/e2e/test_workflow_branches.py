"""Every branch of TutorialWorkflow and RepoSyncWorkflow, with their activities mocked (the
samples' `test_mock_activity`): the real workflow code on the session's real Temporal server, each
activity replaced by a function of the same name that records its input and answers from a script.

These runs are also the recorded histories of RepoSyncWorkflow that test_replay.py replays
(`ISSUESIGHT_RECORD_HISTORIES=1` rewrites them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from issuesight.domain.failures import FailureKind
from issuesight.domain.status import Stage
from issuesight.workflows.contracts import (
    ActivityName,
    ArchiveInput,
    ArchiveResult,
    BeginInput,
    BeginResult,
    CompleteInput,
    CompleteResult,
    FetchContextInput,
    FetchContextResult,
    GenerateInput,
    GenerateResult,
    LLMBudgetCheck,
    LLMBudgetState,
    MarkFailedInput,
    MarkStaleInput,
    Progress,
    ReconcileRequest,
    ReconcileResult,
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
    TutorialOutcome,
    TutorialRequest,
)
from issuesight.workflows.reconcile import ReconcileWorkflow
from issuesight.workflows.sync import PAGES_PER_RUN, ArchiveWorkflow, RepoSyncWorkflow
from issuesight.workflows.tutorial import TutorialWorkflow
from tests.paths import HISTORIES

SYNC_HISTORIES = HISTORIES / "sync"
RECORD = os.environ.get("ISSUESIGHT_RECORD_HISTORIES") == "1"


@dataclass
class TutorialScript:
    """What the mocked tutorial activities answer, and what they were asked."""

    begin: BeginResult = field(default_factory=lambda: BeginResult(False, 1))
    fingerprint: str = "fp-1"
    earlier_fingerprint: str | None = None
    fetch_error: ApplicationError | None = None
    generate_error: ApplicationError | None = None
    # Raised by the first GENERATE calls, one each, before generate_error applies.
    generate_errors: list[ApplicationError] = field(default_factory=list)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    generate_started: asyncio.Event = field(default_factory=asyncio.Event)
    release_generate: asyncio.Event | None = None

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def arguments(self, name: ActivityName) -> list[Any]:
        return [argument for called, argument in self.calls if called == name]

    @activity.defn(name=ActivityName.BEGIN)
    async def begin_generation(self, argument: BeginInput) -> BeginResult:
        self.calls.append((ActivityName.BEGIN, argument))
        return self.begin

    @activity.defn(name=ActivityName.FETCH_CONTEXT)
    async def fetch_issue_context(self, argument: FetchContextInput) -> FetchContextResult:
        self.calls.append((ActivityName.FETCH_CONTEXT, argument))
        if self.fetch_error is not None:
            raise self.fetch_error
        return FetchContextResult(
            "a" * 40,
            self.fingerprint,
            "An issue",
            0,
            0,
            ["src/x.py"],
            earlier_fingerprint=self.earlier_fingerprint,
        )

    @activity.defn(name=ActivityName.GENERATE)
    async def generate_tutorial_draft(self, argument: GenerateInput) -> GenerateResult:
        self.calls.append((ActivityName.GENERATE, argument))
        self.generate_started.set()
        if self.release_generate is not None:
            await self.release_generate.wait()
        if self.generate_errors:
            raise self.generate_errors.pop(0)
        if self.generate_error is not None:
            raise self.generate_error
        return GenerateResult(1000, 250, 400, reused_draft=False)

    @activity.defn(name=ActivityName.COMPLETE)
    async def complete_tutorial(self, argument: CompleteInput) -> CompleteResult:
        self.calls.append((ActivityName.COMPLETE, argument))
        return CompleteResult(self.begin.generation, "beginner", ["testing"])

    @activity.defn(name=ActivityName.MARK_FAILED)
    async def mark_tutorial_failed(self, argument: MarkFailedInput) -> None:
        self.calls.append((ActivityName.MARK_FAILED, argument))

    @activity.defn(name=ActivityName.MARK_UNCHANGED)
    async def mark_tutorial_unchanged(self, argument: str) -> None:
        self.calls.append((ActivityName.MARK_UNCHANGED, argument))

    @activity.defn(name=ActivityName.MARK_STALE)
    async def mark_tutorial_stale(self, argument: MarkStaleInput) -> None:
        self.calls.append((ActivityName.MARK_STALE, argument))

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.begin_generation,
            self.fetch_issue_context,
            self.generate_tutorial_draft,
            self.complete_tutorial,
            self.mark_tutorial_failed,
            self.mark_tutorial_unchanged,
            self.mark_tutorial_stale,
        ]


@dataclass
class SyncScript:
    """A tracked repository's pages as the mocked sync activities serve them."""

    pages: list[SyncPageResult]
    labels: list[str] = field(default_factory=lambda: ["good first issue"])
    calls: list[tuple[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    # Jobs hold their slot until this many run at once (or a few seconds pass), so the limit is
    # observed whatever the machine's speed.
    overlap: int = 2
    overlapped: asyncio.Event = field(default_factory=asyncio.Event)
    # What successive LLM budget checks answer (seconds to wait); then 0: budget left.
    budget_waits: list[float] = field(default_factory=list)

    def arguments(self, name: ActivityName) -> list[Any]:
        return [argument for called, argument in self.calls if called == name]

    @activity.defn(name=ActivityName.SYNC_BEGIN)
    async def begin_repo_sync(self, repo: str) -> SyncBeginResult:
        self.calls.append((ActivityName.SYNC_BEGIN, repo))
        return SyncBeginResult("page-0", self.labels)

    @activity.defn(name=ActivityName.SYNC_PAGE)
    async def sync_issue_page(self, argument: SyncPageInput) -> SyncPageResult:
        self.calls.append((ActivityName.SYNC_PAGE, argument))
        return self.pages[int(argument.url.removeprefix("page-"))]

    @activity.defn(name=ActivityName.RUN_TUTORIAL_JOB)
    async def run_tutorial_job(self, argument: TutorialJobInput) -> TutorialJobResult:
        self.calls.append((ActivityName.RUN_TUTORIAL_JOB, argument))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.in_flight >= self.overlap:
            self.overlapped.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.overlapped.wait(), 5)
        self.in_flight -= 1
        return TutorialJobResult(argument.issue_key, "COMPLETED", generated=True)

    @activity.defn(name=ActivityName.SYNC_FINISH)
    async def finish_repo_sync(self, argument: SyncFinishInput) -> None:
        self.calls.append((ActivityName.SYNC_FINISH, argument))

    @activity.defn(name=ActivityName.SYNC_PAGE_DONE)
    async def remember_issue_page(self, argument: SyncPageDone) -> None:
        self.calls.append((ActivityName.SYNC_PAGE_DONE, argument))

    @activity.defn(name=ActivityName.RECONCILE)
    async def reconcile_tutorials(self, argument: ReconcileRequest) -> ReconcileResult:
        self.calls.append((ActivityName.RECONCILE, argument))
        return ReconcileResult(restarted=argument.batch, rechecked=argument.grace_seconds)

    @activity.defn(name=ActivityName.ARCHIVE_CLOSED)
    async def archive_closed_issues(self, argument: ArchiveInput) -> ArchiveResult:
        self.calls.append((ActivityName.ARCHIVE_CLOSED, argument))
        return ArchiveResult(issues=argument.older_than_days, tutorials=2)

    @activity.defn(name=ActivityName.LLM_BUDGET)
    async def check_llm_budget(self, argument: LLMBudgetCheck) -> LLMBudgetState:
        self.calls.append((ActivityName.LLM_BUDGET, argument))
        wait = self.budget_waits.pop(0) if self.budget_waits else 0.0
        return LLMBudgetState(wait, used=1000 if wait else 10, budget=1000)

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.begin_repo_sync,
            self.sync_issue_page,
            self.run_tutorial_job,
            self.finish_repo_sync,
            self.remember_issue_page,
            self.reconcile_tutorials,
            self.archive_closed_issues,
            self.check_llm_budget,
        ]


@asynccontextmanager
async def mocked_worker(client: Client, activities: list[Callable[..., Any]]) -> AsyncIterator[str]:
    task_queue = f"mocked-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[TutorialWorkflow, RepoSyncWorkflow, ArchiveWorkflow, ReconcileWorkflow],
        activities=activities,
    ):
        yield task_queue


def issue_key() -> str:
    return f"octo-org/mocked-{uuid.uuid4().hex[:8]}#7"


async def run_tutorial(
    client: Client, script: TutorialScript, request: TutorialRequest
) -> TutorialOutcome:
    async with mocked_worker(client, script.activities()) as task_queue:
        outcome: TutorialOutcome = await client.execute_workflow(
            TutorialWorkflow.run, request, id=f"mocked-{uuid.uuid4()}", task_queue=task_queue
        )
        return outcome


# -- TutorialWorkflow -------------------------------------------------------------------------


async def test_a_new_issue_is_fetched_generated_and_completed(temporal_client: Client) -> None:
    script = TutorialScript()
    key = issue_key()
    outcome = await run_tutorial(temporal_client, script, TutorialRequest(key))
    assert outcome == TutorialOutcome(key, generated=True, generation=1, difficulty="beginner")
    assert script.names() == [
        ActivityName.BEGIN,
        ActivityName.FETCH_CONTEXT,
        ActivityName.GENERATE,
        ActivityName.COMPLETE,
    ]
    # The activities get keys and the run's id, never content.
    fetch, generate = (
        script.arguments(ActivityName.FETCH_CONTEXT)[0],
        script.arguments(ActivityName.GENERATE)[0],
    )
    assert fetch.issue_key == generate.issue_key == key
    assert fetch.run_id == generate.run_id


async def test_a_current_tutorial_is_not_generated_again(temporal_client: Client) -> None:
    script = TutorialScript(begin=BeginResult(already_current=True, generation=3))
    key = issue_key()
    outcome = await run_tutorial(temporal_client, script, TutorialRequest(key))
    assert outcome == TutorialOutcome(key, generated=False, generation=3)
    assert script.names() == [ActivityName.BEGIN]


async def test_a_refresh_that_finds_nothing_changed_marks_it_unchanged(
    temporal_client: Client,
) -> None:
    script = TutorialScript(begin=BeginResult(True, 2, fingerprint="same"), fingerprint="same")
    key = issue_key()
    outcome = await run_tutorial(temporal_client, script, TutorialRequest(key, refresh=True))
    assert outcome == TutorialOutcome(key, generated=False, generation=2, stale=False)
    assert script.names() == [
        ActivityName.BEGIN,
        ActivityName.FETCH_CONTEXT,
        ActivityName.MARK_UNCHANGED,
    ]


async def test_a_tutorial_stored_under_the_earlier_fingerprint_is_not_regenerated_for_it(
    temporal_client: Client,
) -> None:
    """A new fingerprint formula is not a change of the issue: no paid regeneration."""
    script = TutorialScript(
        begin=BeginResult(True, 2, fingerprint="earlier-same"),
        fingerprint="new-formula",
        earlier_fingerprint="earlier-same",
    )
    key = issue_key()
    outcome = await run_tutorial(temporal_client, script, TutorialRequest(key, refresh=True))
    assert outcome == TutorialOutcome(key, generated=False, generation=2, stale=False)
    assert ActivityName.GENERATE not in script.names()


async def test_a_changed_issue_is_marked_stale_and_regenerated(temporal_client: Client) -> None:
    script = TutorialScript(begin=BeginResult(True, 2, fingerprint="old"), fingerprint="new")
    key = issue_key()
    outcome = await run_tutorial(temporal_client, script, TutorialRequest(key, refresh=True))
    assert outcome.generated is True
    assert script.names() == [
        ActivityName.BEGIN,
        ActivityName.FETCH_CONTEXT,
        ActivityName.MARK_STALE,
        ActivityName.GENERATE,
        ActivityName.COMPLETE,
    ]
    assert script.arguments(ActivityName.MARK_STALE) == [MarkStaleInput(key, regenerating=True)]


async def test_a_changed_issue_is_only_marked_when_the_policy_says_mark(
    temporal_client: Client,
) -> None:
    script = TutorialScript(begin=BeginResult(True, 2, fingerprint="old"), fingerprint="new")
    key = issue_key()
    request = TutorialRequest(key, refresh=True, regenerate_stale=False)
    outcome = await run_tutorial(temporal_client, script, request)
    assert outcome == TutorialOutcome(key, generated=False, generation=2, stale=True)
    assert ActivityName.GENERATE not in script.names()
    assert script.arguments(ActivityName.MARK_STALE) == [MarkStaleInput(key, regenerating=False)]


async def test_a_permanent_failure_is_recorded_and_fails_the_run_at_once(
    temporal_client: Client,
) -> None:
    script = TutorialScript(
        fetch_error=ApplicationError(
            "Repository octo-org/x was not found", type="RepositoryNotFound", non_retryable=True
        )
    )
    key = issue_key()
    with pytest.raises(WorkflowFailureError) as failed:
        await run_tutorial(temporal_client, script, TutorialRequest(key))
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "RepositoryNotFound"
    assert script.names().count(ActivityName.FETCH_CONTEXT) == 1  # not retried
    assert script.arguments(ActivityName.MARK_FAILED) == [
        MarkFailedInput(key, "Repository octo-org/x was not found", "RepositoryNotFound")
    ]
    assert ActivityName.GENERATE not in script.names()


async def test_the_llm_step_gives_up_after_its_attempts(temporal_client: Client) -> None:
    script = TutorialScript(generate_error=ApplicationError("the model is busy", type="LLMBusy"))
    key = issue_key()
    request = TutorialRequest(key, llm_max_attempts=2)
    with pytest.raises(WorkflowFailureError):
        await run_tutorial(temporal_client, script, request)
    assert script.names().count(ActivityName.GENERATE) == 2  # bounded: each attempt costs money
    [marked] = script.arguments(ActivityName.MARK_FAILED)
    assert marked.failure_type == "LLMBusy"
    assert marked.reason.endswith("(gave up after the maximum number of attempts)")


def _truncated() -> ApplicationError:
    return ApplicationError(
        "the LLM's answer was cut off at the output cap of 4096 tokens",
        type=FailureKind.LLM_OUTPUT_TRUNCATED,
        non_retryable=True,
    )


async def test_an_answer_cut_at_the_cap_is_asked_once_more_with_twice_the_cap(
    temporal_client: Client,
) -> None:
    script = TutorialScript(generate_errors=[_truncated()])
    key = issue_key()
    outcome = await run_tutorial(temporal_client, script, TutorialRequest(key, llm_max_attempts=5))
    assert outcome.generated is True
    assert [g.output_cap_doubled for g in script.arguments(ActivityName.GENERATE)] == [False, True]
    assert script.names()[-1] == ActivityName.COMPLETE


async def test_an_answer_cut_twice_fails_as_truncated(temporal_client: Client) -> None:
    script = TutorialScript(generate_error=_truncated())
    key = issue_key()
    with pytest.raises(WorkflowFailureError) as failed:
        await run_tutorial(temporal_client, script, TutorialRequest(key, llm_max_attempts=5))
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == FailureKind.LLM_OUTPUT_TRUNCATED
    # Not llm_max_attempts (5) paid calls for each cap: one with the cap, one with twice it.
    assert script.names().count(ActivityName.GENERATE) == 2
    [marked] = script.arguments(ActivityName.MARK_FAILED)
    assert marked.failure_type == FailureKind.LLM_OUTPUT_TRUNCATED


async def test_a_change_inside_the_refresh_cooldown_is_only_marked_stale(
    temporal_client: Client,
) -> None:
    script = TutorialScript(
        begin=BeginResult(True, 2, fingerprint="old", refresh_deferred=True), fingerprint="new"
    )
    key = issue_key()
    outcome = await run_tutorial(temporal_client, script, TutorialRequest(key, refresh=True))
    assert outcome == TutorialOutcome(key, generated=False, generation=2, stale=True)
    assert ActivityName.GENERATE not in script.names()
    assert script.arguments(ActivityName.MARK_STALE) == [MarkStaleInput(key, regenerating=False)]


async def test_progress_shows_the_stage_while_it_runs(temporal_client: Client) -> None:
    script = TutorialScript(release_generate=asyncio.Event())
    key = issue_key()
    async with mocked_worker(temporal_client, script.activities()) as task_queue:
        handle = await temporal_client.start_workflow(
            TutorialWorkflow.run,
            TutorialRequest(key),
            id=f"mocked-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await asyncio.wait_for(script.generate_started.wait(), 30)
        progress = await handle.query(TutorialWorkflow.progress)
        assert progress == Progress(key, Stage.GENERATING)
        assert script.release_generate is not None
        script.release_generate.set()
        await handle.result()
        assert (await handle.query(TutorialWorkflow.progress)).stage == Stage.DONE


# -- RepoSyncWorkflow -------------------------------------------------------------------------


def page(
    number: int,
    keys: list[str],
    *,
    last: bool = False,
    rate_remaining: int | None = 4000,
    rate_reset: int | None = None,
    newest: str | None = None,
    etag: str | None = None,
) -> SyncPageResult:
    return SyncPageResult(
        candidates=[SyncCandidate(k, refresh=False) for k in keys],
        next_url=None if last else f"page-{number + 1}",
        not_modified=False,
        newest_updated_at=newest,
        rate_remaining=rate_remaining,
        rate_reset=rate_reset,
        etag=etag,
    )


async def run_sync(client: Client, script: SyncScript, request: SyncRequest) -> WorkflowHistory:
    async with mocked_worker(client, script.activities()) as task_queue:
        handle = await client.start_workflow(
            RepoSyncWorkflow.run, request, id=f"mocked-sync-{uuid.uuid4()}", task_queue=task_queue
        )
        outcome = await handle.result()
        assert isinstance(outcome, SyncOutcome)
        return await handle.fetch_history()


def record(name: str, history: WorkflowHistory) -> None:
    if RECORD:
        SYNC_HISTORIES.mkdir(parents=True, exist_ok=True)
        (SYNC_HISTORIES / f"{name}.json").write_text(history.to_json())


async def test_a_sync_walks_its_pages_and_starts_a_job_per_candidate(
    temporal_client: Client,
) -> None:
    keys = [f"octo-org/r#{n}" for n in range(1, 7)]
    script = SyncScript(
        [
            page(0, keys[:4], newest="2026-01-02T00:00:00Z"),
            page(1, keys[4:], last=True, newest="2026-01-01T00:00:00Z"),
        ]
    )
    history = await run_sync(temporal_client, script, SyncRequest("octo-org/r", max_in_flight=2))
    assert [a.issue_key for a in script.arguments(ActivityName.RUN_TUTORIAL_JOB)] == keys
    assert script.most_in_flight == 2  # at most max_in_flight generations at once
    # Labels from the begin step reach every page; the newest updated_at wins.
    assert [p.labels for p in script.arguments(ActivityName.SYNC_PAGE)] == [script.labels] * 2
    assert script.arguments(ActivityName.SYNC_FINISH) == [
        SyncFinishInput("octo-org/r", "2026-01-02T00:00:00Z", 2)
    ]
    record("two_pages", history)


async def test_a_long_sync_continues_as_new_and_keeps_its_counts(
    temporal_client: Client,
) -> None:
    pages = PAGES_PER_RUN + 2
    script = SyncScript(
        [page(n, [f"octo-org/r#{n + 1}"], last=n == pages - 1) for n in range(pages)], overlap=1
    )
    async with mocked_worker(temporal_client, script.activities()) as task_queue:
        handle = await temporal_client.start_workflow(
            RepoSyncWorkflow.run,
            SyncRequest("octo-org/r"),
            id=f"mocked-sync-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        outcome = await handle.result()  # follows the continue-as-new chain
    assert outcome == SyncOutcome("octo-org/r", pages=pages, jobs=pages)
    assert len(script.arguments(ActivityName.SYNC_BEGIN)) == 1  # the next run starts mid-list
    assert script.arguments(ActivityName.SYNC_FINISH)[0].pages == pages
    first_run = await temporal_client.get_workflow_handle(
        handle.id, run_id=handle.first_execution_run_id
    ).fetch_history()
    kinds = [event.event_type for event in first_run.events]
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW in kinds


async def test_a_sync_low_on_github_budget_waits_on_a_durable_timer(
    temporal_client: Client,
) -> None:
    # The workflow waits until a second after the reset, counted from its own clock when it reads
    # the page: the reset must still be ahead then, even on a loaded machine (at +1 s a CI run
    # under coverage read the page after it and set no timer), so it costs this test ~8 s.
    reset = int(time.time()) + 8
    script = SyncScript(
        [
            page(0, [], rate_remaining=5, rate_reset=reset),
            page(1, [], last=True, rate_remaining=4000),
        ]
    )
    history = await run_sync(temporal_client, script, SyncRequest("octo-org/r"))
    kinds = [event.event_type for event in history.events]
    assert kinds.count(EventType.EVENT_TYPE_TIMER_STARTED) == 1
    assert len(script.arguments(ActivityName.SYNC_PAGE)) == 2
    record("rate_limited", history)


async def test_a_sync_with_budget_left_sets_no_timer(temporal_client: Client) -> None:
    script = SyncScript([page(0, [], last=True, rate_remaining=101, rate_reset=2**31)])
    history = await run_sync(temporal_client, script, SyncRequest("octo-org/r"))
    kinds = [event.event_type for event in history.events]
    assert EventType.EVENT_TYPE_TIMER_STARTED not in kinds


async def test_a_spent_llm_budget_holds_the_jobs_on_a_durable_timer(
    temporal_client: Client,
) -> None:
    """Spent: the sync sleeps (at most the recheck interval at a time) and asks again before
    starting any job; pages without candidates never ask."""
    script = SyncScript(
        [page(0, []), page(1, ["octo-org/r#1", "octo-org/r#2"], last=True)],
        budget_waits=[86_000.0, 0.3],
    )
    request = SyncRequest("octo-org/r", llm_budget_recheck_seconds=0.2)
    history = await run_sync(temporal_client, script, request)
    kinds = [event.event_type for event in history.events]
    assert kinds.count(EventType.EVENT_TYPE_TIMER_STARTED) == 2
    names = [name for name, _ in script.calls]
    assert names.count(ActivityName.LLM_BUDGET) == 3  # spent, spent, then budget left
    assert names.index(ActivityName.RUN_TUTORIAL_JOB) > max(
        i for i, name in enumerate(names) if name == ActivityName.LLM_BUDGET
    )
    assert script.arguments(ActivityName.LLM_BUDGET)[0] == LLMBudgetCheck("octo-org/r")
    durations = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert durations == [0.2, 0.2]  # capped by the recheck interval, not a day
    assert len(script.arguments(ActivityName.RUN_TUTORIAL_JOB)) == 2
    record("llm_budget_spent", history)


async def test_a_page_is_remembered_only_after_its_jobs_started(temporal_client: Client) -> None:
    script = SyncScript(
        [
            page(0, ["octo-org/r#1", "octo-org/r#2"], etag='W/"p0"'),
            page(1, [], last=True, etag='W/"p1"'),
        ]
    )
    history = await run_sync(temporal_client, script, SyncRequest("octo-org/r"))
    assert all(p.defer_etag for p in script.arguments(ActivityName.SYNC_PAGE))
    order = [name for name, _ in script.calls]
    first_done = order.index(ActivityName.SYNC_PAGE_DONE)
    jobs = [i for i, name in enumerate(order) if name == ActivityName.RUN_TUTORIAL_JOB]
    pages = [i for i, name in enumerate(order) if name == ActivityName.SYNC_PAGE]
    assert pages[0] < min(jobs)
    assert max(jobs) < first_done < pages[1]
    assert script.arguments(ActivityName.SYNC_PAGE_DONE) == [
        SyncPageDone("page-0", 'W/"p0"', "page-1"),
        SyncPageDone("page-1", 'W/"p1"', None),
    ]
    record("etag_after_jobs", history)


async def test_the_reconcile_workflow_runs_its_activity_with_the_request(
    temporal_client: Client,
) -> None:
    script = SyncScript([])
    async with mocked_worker(temporal_client, script.activities()) as task_queue:
        result = await temporal_client.execute_workflow(
            ReconcileWorkflow.run,
            ReconcileRequest(grace_seconds=7, batch=11),
            id=f"mocked-reconcile-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    assert result == ReconcileResult(restarted=11, rechecked=7)


async def test_the_archive_workflow_passes_its_age_and_returns_the_counts(
    temporal_client: Client,
) -> None:
    script = SyncScript([])
    async with mocked_worker(temporal_client, script.activities()) as task_queue:
        result = await temporal_client.execute_workflow(
            ArchiveWorkflow.run, 30, id=f"mocked-archive-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result == ArchiveResult(issues=30, tutorials=2)
    [argument] = script.arguments(ActivityName.ARCHIVE_CLOSED)
    assert argument.older_than_days == 30
    assert argument.now_iso  # the workflow's own clock, not the activity's
