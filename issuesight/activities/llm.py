"""Generating the draft with the LLM: bounded, heartbeating, paid for at most once per run."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import openai
from sqlalchemy.exc import OperationalError
from temporalio import activity

from issuesight.activities._failures import to_application_error
from issuesight.context.bundle import ContextBundle
from issuesight.core import metrics
from issuesight.db.tutorials import TutorialStore
from issuesight.domain.failures import FailureKind
from issuesight.domain.refs import tutorial_id_for
from issuesight.llm.chat import OutputCapField
from issuesight.llm.errors import LLMError
from issuesight.llm.generate import generate_draft
from issuesight.llm.prompt import build_prompt
from issuesight.workflows.contracts import ActivityName, GenerateInput, GenerateResult

HEARTBEAT_EVERY = 2.0
# Waits between attempts to save a paid draft (about 15 s in all) before the attempt fails.
SAVE_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)


class LLMActivities:
    def __init__(
        self,
        llm: openai.AsyncOpenAI,
        store: TutorialStore,
        *,
        model: str,
        max_output_tokens: int,
        cap_field: OutputCapField = "max_completion_tokens",
        max_concurrency: int = 8,
    ) -> None:
        self._llm = llm
        self._store = store
        self._model = model
        self._max_output_tokens = max_output_tokens
        self._cap_field: OutputCapField = cap_field
        # LLM providers limit concurrent requests: this worker never exceeds its share.
        self._slots = asyncio.Semaphore(max_concurrency)

    @activity.defn(name=ActivityName.GENERATE)
    async def generate_tutorial_draft(self, request: GenerateInput) -> GenerateResult:
        tutorial_id = tutorial_id_for(request.issue_key)
        context = await asyncio.to_thread(self._store.load_generation, tutorial_id)
        if context.run_id == request.run_id and context.draft is not None:
            # A previous attempt got its answer but died before reporting it: don't pay again.
            usage = context.usage or {}
            return GenerateResult(
                prompt_chars=int(usage.get("prompt_chars", 0)),
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                reused_draft=True,
            )
        prompt = build_prompt(ContextBundle.model_validate(context.bundle))
        # The workflow asks for twice the cap once, after an answer was cut at the cap.
        cap = self._max_output_tokens * (2 if request.output_cap_doubled else 1)
        try:
            async with _heartbeating(), self._slots:
                await asyncio.to_thread(self._store.count_llm_call, tutorial_id)
                draft, spent = await generate_draft(
                    self._llm,
                    model=self._model,
                    prompt=prompt,
                    max_output_tokens=cap,
                    cap_field=self._cap_field,
                )
        except LLMError as exc:
            if exc.kind == FailureKind.LLM_OUTPUT_TRUNCATED and request.output_cap_doubled:
                exc.message += ", again on the one retry with twice the cap"
            metrics.LLM_CALLS.labels(outcome=exc.kind).inc()
            if exc.spent_tokens:  # a refused answer was paid for all the same
                await asyncio.to_thread(
                    self._store.record_llm_usage, tutorial_id, request.run_id, exc.spent_tokens
                )
            activity.logger.warning(
                "generation attempt failed",
                extra={"issue_key": request.issue_key, "failure_type": exc.kind},
            )
            raise to_application_error(exc) from exc
        metrics.LLM_CALLS.labels(outcome="ok").inc()
        metrics.LLM_TOKENS.labels(kind="prompt").inc(spent.prompt_tokens)
        metrics.LLM_TOKENS.labels(kind="completion").inc(spent.completion_tokens)
        usage_record = {
            "prompt_chars": prompt.chars,
            "prompt_tokens": spent.prompt_tokens,
            "completion_tokens": spent.completion_tokens,
            "model": spent.model,
            # Names this paid answer, so that saving it again after a lost commit
            # acknowledgement does not count it twice (TutorialStore.save_draft).
            "answer_id": uuid.uuid4().hex,
        }
        async with _heartbeating():
            await self._keep_paid_draft(
                tutorial_id, request.run_id, draft.model_dump(mode="json"), usage_record
            )
        return GenerateResult(
            prompt_chars=prompt.chars,
            prompt_tokens=spent.prompt_tokens,
            completion_tokens=spent.completion_tokens,
            reused_draft=False,
        )

    async def _keep_paid_draft(
        self,
        tutorial_id: uuid.UUID,
        run_id: str,
        draft: dict[str, Any],
        usage: dict[str, Any],
    ) -> None:
        """Saves an answer already paid for. A database that is briefly away (a restart, a
        failover) is waited out here, within the attempt: failing the attempt would throw the
        answer away and pay for it again (the chaos run measured one re-paid call per
        generation in flight across a PostgreSQL restart)."""
        for delay in (*SAVE_RETRY_DELAYS, None):
            try:
                await asyncio.to_thread(self._store.save_draft, tutorial_id, run_id, draft, usage)
                return
            except OperationalError as exc:
                if delay is None:
                    raise
                activity.logger.warning(
                    "saving a paid draft failed; retrying",
                    extra={"tutorial_id": str(tutorial_id), "error": type(exc).__name__},
                )
                await asyncio.sleep(delay)


@contextlib.asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    """Heartbeats while a slow call runs, so a dead worker's attempt is retried in seconds."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(HEARTBEAT_EVERY)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
