"""Reading an issue and its repository from GitHub, and keeping what a generation needs."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from temporalio import activity
from temporalio.exceptions import ApplicationError

from issuesight.activities._failures import to_application_error
from issuesight.context.bundle import build_bundle, earlier_fingerprint
from issuesight.context.gather import GatherOptions, Localize, gather_context
from issuesight.context.retrieve import Picks
from issuesight.db.tutorials import TutorialStore
from issuesight.domain.failures import FailureKind
from issuesight.domain.refs import InvalidIssueReference, IssueRef, parse_issue_ref, tutorial_id_for
from issuesight.github.cache import SharedReads
from issuesight.github.errors import GitHubError
from issuesight.llm.errors import LLMError
from issuesight.llm.localize import Localizer
from issuesight.workflows.contracts import ActivityName, FetchContextInput, FetchContextResult


class GitHubActivities:
    def __init__(
        self,
        github: SharedReads,
        store: TutorialStore,
        *,
        budget_chars: int,
        secrets: Sequence[str],
        gather: GatherOptions | None = None,
        localizer: Localizer | None = None,
    ) -> None:
        self._github = github
        self._store = store
        self._budget = budget_chars
        self._secrets = tuple(secrets)
        self._gather = gather or GatherOptions()
        self._localizer = localizer

    @activity.defn(name=ActivityName.FETCH_CONTEXT)
    async def fetch_issue_context(self, request: FetchContextInput) -> FetchContextResult:
        try:
            ref = parse_issue_ref(request.issue_key)
        except InvalidIssueReference as exc:
            raise ApplicationError(
                str(exc), type=FailureKind.INVALID_REFERENCE, non_retryable=True
            ) from exc
        try:
            raw = await gather_context(
                self._github, ref, self._gather, localize=self._localize_for(ref, request.run_id)
            )
        except (GitHubError, LLMError) as exc:
            raise to_application_error(exc) from exc
        bundle = build_bundle(raw, ref, budget_chars=self._budget, secrets=self._secrets)
        await asyncio.to_thread(
            self._store.save_context,
            ref,
            repo=raw.repo,
            issue=raw.issue,
            bundle=bundle.model_dump(mode="json"),
            commit_sha=raw.commit_sha,
            fingerprint=bundle.fingerprint,
            run_id=request.run_id,
        )
        return FetchContextResult(
            commit_sha=raw.commit_sha,
            fingerprint=bundle.fingerprint,
            title=bundle.issue_title[:200],
            comments_kept=len(bundle.comments),
            comments_total=bundle.comments_total,
            files=[f.path for f in bundle.files],
            earlier_fingerprint=earlier_fingerprint(raw),
        )

    def _localize_for(self, ref: IssueRef, run_id: str) -> Localize | None:
        """The localization step for this issue (RETRIEVAL_LLM=on), its calls counted on the
        tutorial and its tokens in the LLM budget's ledger, like generation's."""
        localizer = self._localizer
        if localizer is None:
            return None
        tutorial_id = tutorial_id_for(ref.key)

        async def count_call() -> None:
            await asyncio.to_thread(self._store.count_llm_call, tutorial_id)

        async def spend(tokens: int) -> None:
            await asyncio.to_thread(self._store.record_llm_usage, tutorial_id, run_id, tokens)

        async def localize(texts: list[str], entries: list[tuple[str, list[str]]]) -> Picks | None:
            key = localizer.key(ref.key, [*texts, *(path for path, _ in entries)])
            return await localizer.pick(key, texts, entries, count_call, spend)

        return localize


def heartbeat_if_in_activity() -> None:
    """GitHubClient's per-request hook: long paginations keep the activity visibly alive."""
    if activity.in_activity():
        activity.heartbeat()
