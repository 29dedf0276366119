"""Database steps of the workflow. Synchronous: the worker runs them in a thread pool."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from temporalio import activity

from issuesight.context.bundle import ContextBundle
from issuesight.core import metrics
from issuesight.db.issues import IssueStore
from issuesight.db.tutorials import ConceptInput, TutorialStore
from issuesight.db.types import utcnow
from issuesight.domain.refs import parse_issue_ref, tutorial_id_for
from issuesight.tutorial.finalize import finalize
from issuesight.tutorial.render import render_markdown
from issuesight.tutorial.schema import TutorialDraft
from issuesight.workflows.contracts import (
    ActivityName,
    ArchiveInput,
    ArchiveResult,
    BeginInput,
    BeginResult,
    CompleteInput,
    CompleteResult,
    MarkFailedInput,
    MarkStaleInput,
)


class StoreActivities:
    def __init__(
        self,
        store: TutorialStore,
        *,
        secrets: Sequence[str],
        refresh_cooldown: timedelta = timedelta(0),
    ) -> None:
        self._store = store
        self._secrets = tuple(secrets)
        # A changed issue regenerates its tutorial at most once per this window (the worker's
        # REFRESH_COOLDOWN_MINUTES): outsiders' comments must not buy a generation each.
        self._refresh_cooldown = refresh_cooldown

    @activity.defn(name=ActivityName.BEGIN)
    def begin_generation(self, request: BeginInput) -> BeginResult:
        ref = parse_issue_ref(request.issue_key)
        try:
            begun = self._store.begin_generation(ref.tutorial_id, request.target_generation)
        except LookupError:
            # A run started outside the API (e.g. `temporal workflow start`) has no row yet.
            self._store.register_submission(ref)
            begun = self._store.begin_generation(ref.tutorial_id, request.target_generation)
        deferred = (
            begun.completed_at is not None
            and begun.completed_at + self._refresh_cooldown > utcnow()
        )
        return BeginResult(
            already_current=begun.already_current,
            generation=begun.generation,
            fingerprint=begun.fingerprint,
            refresh_deferred=deferred,
        )

    @activity.defn(name=ActivityName.MARK_UNCHANGED)
    def mark_tutorial_unchanged(self, issue_key: str) -> None:
        self._store.finish_unchanged(tutorial_id_for(issue_key))

    @activity.defn(name=ActivityName.MARK_STALE)
    def mark_tutorial_stale(self, request: MarkStaleInput) -> None:
        self._store.mark_stale(
            tutorial_id_for(request.issue_key), regenerating=request.regenerating
        )

    @activity.defn(name=ActivityName.COMPLETE)
    def complete_tutorial(self, request: CompleteInput) -> CompleteResult:
        tutorial_id = tutorial_id_for(request.issue_key)
        context = self._store.load_generation(tutorial_id)
        if context.run_id != request.run_id or context.draft is None:
            raise LookupError(f"no draft of run {request.run_id} for {request.issue_key}")
        bundle = ContextBundle.model_validate(context.bundle)
        final = finalize(TutorialDraft.model_validate(context.draft), bundle, self._secrets)
        completion = self._store.complete(
            tutorial_id,
            title=final.draft.title,
            markdown=render_markdown(final, bundle),
            structured=final.structured(),
            difficulty=final.draft.difficulty.value,
            junior_friendly=final.draft.junior_friendly,
            concepts=[ConceptInput(**c.model_dump()) for c in final.concepts],
            generated_from=context,
        )
        if not completion.repeated:  # a retried completion was counted by the first attempt
            metrics.TUTORIALS.labels(outcome="completed").inc()
        return CompleteResult(
            generation=completion.generation,
            difficulty=final.draft.difficulty.value,
            concepts=[c.slug for c in final.concepts],
        )

    @activity.defn(name=ActivityName.MARK_FAILED)
    def mark_tutorial_failed(self, request: MarkFailedInput) -> None:
        self._store.mark_failed(
            tutorial_id_for(request.issue_key),
            reason=request.reason,
            failure_type=request.failure_type,
        )
        metrics.TUTORIALS.labels(outcome="failed").inc()
        activity.logger.warning(
            "tutorial failed",
            extra={"issue_key": request.issue_key, "failure_type": request.failure_type},
        )


class ArchiveActivities:
    def __init__(self, issues: IssueStore) -> None:
        self._issues = issues

    @activity.defn(name=ActivityName.ARCHIVE_CLOSED)
    def archive_closed_issues(self, request: ArchiveInput) -> ArchiveResult:
        # "now" comes from the workflow, so time-skipping tests and replays agree on it.
        issues, tutorials = self._issues.archive_closed(
            datetime.fromisoformat(request.now_iso), timedelta(days=request.older_than_days)
        )
        return ArchiveResult(issues=issues, tutorials=tutorials)
