"""The real TutorialWorkflow with its activities replaced by no-ops under the same names: what
Temporal costs for the workflow as shipped (two activities, two local activities, search
attributes, memo, patch markers), without the work those activities do (GitHub and LLM clients,
database writes, prompt building). bench.overhead puts it between the bare workflow and the real
one, to show which side of the gap is orchestration and which is work.

The stubs are `async def`: the real database steps run in a thread pool, and that hand-off is
counted as work, not orchestration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

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
)


@activity.defn(name=ActivityName.BEGIN)
async def begin(request: BeginInput) -> BeginResult:
    return BeginResult(already_current=False, generation=request.target_generation)


@activity.defn(name=ActivityName.FETCH_CONTEXT)
async def fetch(request: FetchContextInput) -> FetchContextResult:
    return FetchContextResult(
        commit_sha=None,
        fingerprint=request.run_id,
        title=request.issue_key,
        comments_kept=0,
        comments_total=0,
    )


@activity.defn(name=ActivityName.GENERATE)
async def generate(_: GenerateInput) -> GenerateResult:
    return GenerateResult(prompt_chars=0, prompt_tokens=0, completion_tokens=0, reused_draft=False)


@activity.defn(name=ActivityName.COMPLETE)
async def complete(_: CompleteInput) -> CompleteResult:
    return CompleteResult(generation=1, difficulty="beginner")


ACTIVITIES: list[Callable[..., Any]] = [begin, fetch, generate, complete]
