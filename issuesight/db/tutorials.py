"""Every read and write of IssueSight's tables. Synchronous: activities call it from worker
threads, the API from its thread pool. Writes are upserts on natural keys, so a repeated
activity changes nothing."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from issuesight.core.text import scrub
from issuesight.db.engine import dialect_insert, session_scope, upsert
from issuesight.db.models import (
    Concept,
    ConceptRelationship,
    GenerationContext,
    GitHubIssue,
    LLMUsage,
    Project,
    ProjectConcept,
    RegenerationLimit,
    TutorialConcept,
    TutorialContent,
    TutorialRecord,
)
from issuesight.db.types import parse_time, utcnow
from issuesight.domain.failures import FailureKind
from issuesight.domain.refs import IssueRef
from issuesight.domain.status import FINISHED_STAGES, Stage, TutorialStatus


def _tutorial_read(*, batch: bool) -> sa.Select[Any]:
    contents = TutorialContent.__table__  # type: ignore[attr-defined]
    # Parameters are not required at compile time: status_reader renders the statement ahead
    # of its use.
    wanted = (
        contents.c.id == sa.any_(sa.bindparam("tutorial_ids", required=False))
        if batch
        else contents.c.id == sa.bindparam("tutorial_id", required=False)
    )
    concepts = (
        sa.select(sa.func.aggregate_strings(col(Concept.slug), ","))
        .join(TutorialConcept, col(TutorialConcept.concept_id) == col(Concept.id))
        .where(col(TutorialConcept.content_id) == contents.c.id)
        .scalar_subquery()
    )
    return (
        sa.select(
            contents,
            col(GitHubIssue.issue_key),
            col(GitHubIssue.title).label("issue_title"),
            col(GitHubIssue.state).label("issue_state"),
            concepts.label("concept_slugs"),
        )
        .join(GitHubIssue, col(GitHubIssue.id) == contents.c.issue_id)
        .where(wanted)
    )


TUTORIAL_READ = _tutorial_read(batch=False)
# The same rows for a list of ids (PostgreSQL's `= ANY(array)`): status_reader's batched reads.
TUTORIAL_BATCH_READ = _tutorial_read(batch=True)


@dataclass(frozen=True)
class TutorialView:
    """A tutorial with what the API shows beside it, read in one go."""

    content: TutorialRecord
    issue_key: str
    concepts: list[str]
    # The issue as GitHub last told us (None until it was first read).
    issue_title: str | None = None
    issue_state: str | None = None


_VIEW_EXTRAS = frozenset({"issue_key", "issue_title", "issue_state", "concept_slugs"})


def tutorial_view_from_row(row: Mapping[Any, Any]) -> TutorialView:
    """A TUTORIAL_READ row, from SQLAlchemy or straight from the driver (status_reader)."""
    fields = {
        # The driver hands timestamps back in the session's time zone; the API speaks UTC.
        k: v.astimezone(UTC) if isinstance(v, datetime) else v
        for k, v in row.items()
        if k not in _VIEW_EXTRAS
    }
    slugs = row["concept_slugs"]
    return TutorialView(
        content=TutorialRecord.model_validate(fields),
        issue_key=row["issue_key"],
        issue_title=row["issue_title"],
        issue_state=row["issue_state"],
        # Slugs are [a-z0-9-]: a comma cannot be part of one.
        concepts=sorted(slugs.split(",")) if slugs else [],
    )


@dataclass(frozen=True)
class GenerationState:
    status: TutorialStatus
    stage: str
    generation: int
    requested_generation: int


@dataclass(frozen=True)
class Begun:
    """What a run learns when it starts: whether the tutorial is already at the wanted
    generation, its generation, the fingerprint of what it was generated from, and when."""

    already_current: bool
    generation: int
    fingerprint: str | None
    completed_at: datetime | None


@dataclass(frozen=True)
class StuckTutorial:
    """A tutorial whose row says work is pending or running."""

    issue_key: str
    status: TutorialStatus
    stage: str


@dataclass(frozen=True)
class RegenerationClaim:
    """A regeneration request measured against its tutorial's limits."""

    allowed: bool
    claimed_at: datetime
    retry_after_seconds: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Completion:
    """What `complete` did: the generation the run made; `repeated` when an earlier call of
    the same run had already stored it (nothing was written this time)."""

    generation: int
    repeated: bool


@dataclass(frozen=True)
class ConceptInput:
    slug: str
    name: str
    description: str
    parent_slug: str | None
    parent_name: str | None


_KINDS = frozenset(kind.value for kind in FailureKind)
UNCLASSIFIED_REASON = (
    "Something failed inside IssueSight ({type}); the operators' logs have the details. "
    "Submitting the issue again may help."
)


def public_reason(reason: str, failure_type: str, secrets: Sequence[str] = ()) -> str:
    """A failure reason as readers see it (the status JSON, the failure page, the CLI), made
    where every reason is stored. Our own reasons quote an upstream's message at most (GitHub's
    on a 403 or 422): configured secrets and token-shaped strings are scrubbed from them. An
    exception nobody classified carries a library's text (a database's host and port, a URL, a
    path), which was never written for readers: only its type is shown."""
    if failure_type not in _KINDS:
        return UNCLASSIFIED_REASON.format(type=failure_type[:80])
    return scrub(reason, secrets)[:2000]


class TutorialStore:
    def __init__(
        self, engine: Engine, *, reader: Engine | None = None, secrets: Sequence[str] = ()
    ) -> None:
        """`reader` (engine.make_reader_engine) serves the single-statement reads; without it
        they switch `engine`'s connections to autocommit for the read, which costs CPU.
        `secrets` (Settings.secret_values) are redacted from failure reasons, with anything
        shaped like a token."""
        self.engine = engine
        self._secrets = tuple(secrets)
        # Single-statement reads need no transaction: no BEGIN and ROLLBACK round trips.
        self._reader = reader or engine.execution_options(isolation_level="AUTOCOMMIT")

    # -- submissions ---------------------------------------------------------------------

    def register_submission(self, ref: IssueRef) -> TutorialView:
        """Records that a tutorial is wanted, before anything is fetched; returns its row."""
        with session_scope(self.engine) as session:
            self.register_in(session, ref)
        view = self.get_tutorial(ref.tutorial_id)
        assert view is not None
        return view

    def register_in(self, session: Session, ref: IssueRef) -> None:
        """The project, issue and tutorial rows of a submission, inside the caller's
        transaction (a submission refused for its quota leaves none of them behind)."""
        now = utcnow()
        upsert(
            session,
            Project.__table__,  # type: ignore[attr-defined]
            {
                "id": uuid.uuid4(),
                "owner_handle": ref.owner,
                "repo_name": ref.repo,
                "full_name": ref.repo_full_name,
                "created_at": now,
                "updated_at": now,
            },
            conflict=["full_name"],
        )
        project_id = session.exec(
            select(Project.id).where(Project.full_name == ref.repo_full_name)
        ).one()
        upsert(
            session,
            GitHubIssue.__table__,  # type: ignore[attr-defined]
            {
                "id": uuid.uuid4(),
                "project_id": project_id,
                "issue_number": ref.number,
                "issue_key": ref.key,
                "is_pull_request": False,
                "created_at": now,
            },
            conflict=["issue_key"],
        )
        issue_id = session.exec(
            select(GitHubIssue.id).where(GitHubIssue.issue_key == ref.key)
        ).one()
        upsert(
            session,
            TutorialContent.__table__,  # type: ignore[attr-defined]
            {
                "id": ref.tutorial_id,
                "issue_id": issue_id,
                "status": TutorialStatus.PENDING.value,
                "stage": Stage.QUEUED,
                "generation": 0,
                "requested_generation": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "llm_calls": 0,
                "created_at": now,
                "updated_at": now,
            },
            conflict=["id"],
        )

    def generation_state(self, session: Session, tutorial_id: uuid.UUID) -> GenerationState:
        row = session.execute(
            sa.select(
                col(TutorialContent.status),
                col(TutorialContent.stage),
                col(TutorialContent.generation),
                col(TutorialContent.requested_generation),
            ).where(col(TutorialContent.id) == tutorial_id)
        ).one()
        return GenerationState(
            status=TutorialStatus(row.status),
            stage=row.stage,
            generation=row.generation,
            requested_generation=row.requested_generation,
        )

    def claim_generation(self, session: Session, tutorial_id: uuid.UUID, target: int) -> bool:
        """Asks for generation `target` of a tutorial; True if this request is the one that
        asked (it starts, and pays for, the generation), False if that generation exists or
        another request already asked for it and it is still on its way (an unlock).

        One conditional UPDATE, so of concurrent requests exactly one wins. It also queues the
        row: a failed tutorial becomes pending again, a completed one shows that a
        regeneration is queued. Done before the start, so a run that fails at once cannot be
        overwritten by it."""
        contents = TutorialContent.__table__  # type: ignore[attr-defined]
        failed = contents.c.status == TutorialStatus.FAILED.value
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            sa.update(contents)
            .where(
                contents.c.id == tutorial_id,
                contents.c.generation < target,
                sa.or_(
                    contents.c.requested_generation < target,
                    contents.c.stage.in_(FINISHED_STAGES),
                ),
            )
            .values(
                requested_generation=target,
                stage=Stage.QUEUED,
                status=sa.case((failed, TutorialStatus.PENDING.value), else_=contents.c.status),
                failure_reason=sa.case((failed, None), else_=contents.c.failure_reason),
                failure_type=sa.case((failed, None), else_=contents.c.failure_type),
                updated_at=utcnow(),
            )
        )
        return result.rowcount == 1

    def release_claim(
        self, tutorial_id: uuid.UUID, target: int, previous: int, previous_stage: str
    ) -> None:
        """The claimed regeneration of a completed tutorial was not started (Temporal
        unreachable, or a run had already completed it): the next request may claim it again
        (and pay for it then), and the tutorial shows its previous stage again, not a
        regeneration that will never come. A pending tutorial's claim is never released: it is
        kept, paid for, and the reconciler starts it."""
        contents = TutorialContent.__table__  # type: ignore[attr-defined]
        completed = contents.c.status == TutorialStatus.COMPLETED.value
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(contents)
                .where(
                    contents.c.id == tutorial_id,
                    contents.c.requested_generation == target,
                    contents.c.stage == Stage.QUEUED,
                )
                .values(
                    requested_generation=previous,
                    stage=sa.case((completed, previous_stage), else_=contents.c.stage),
                )
            )

    def settle_stage(self, tutorial_id: uuid.UUID) -> None:
        """A completed tutorial shown as queued or regenerating, with no run doing it (the
        reconciler checked): it shows as done again."""
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(TutorialContent)
                .where(
                    col(TutorialContent.id) == tutorial_id,
                    col(TutorialContent.status) == TutorialStatus.COMPLETED,
                    col(TutorialContent.stage).not_in(FINISHED_STAGES),
                )
                .values(stage=Stage.DONE, updated_at=utcnow())
            )

    # -- regeneration limits -------------------------------------------------------------

    def claim_regeneration(
        self, tutorial_id: uuid.UUID, *, cooldown: timedelta, daily_limit: int
    ) -> RegenerationClaim:
        """Counts a regeneration request against the tutorial's limits, in one statement so
        that concurrent requests cannot both slip through: at most one per `cooldown`, and at
        most `daily_limit` in the 24 hours from the first of a window."""
        now = utcnow()
        day_ago = now - timedelta(days=1)
        table = RegenerationLimit.__table__  # type: ignore[attr-defined]
        new_window = table.c.window_started_at <= day_ago
        insert = dialect_insert(self.engine)(table).values(
            tutorial_id=tutorial_id, requested_at=now, window_started_at=now, window_count=1
        )
        claim = insert.on_conflict_do_update(
            index_elements=["tutorial_id"],
            set_={
                "requested_at": now,
                "window_started_at": sa.case((new_window, now), else_=table.c.window_started_at),
                "window_count": sa.case((new_window, 1), else_=table.c.window_count + 1),
            },
            where=sa.and_(
                sa.or_(table.c.requested_at.is_(None), table.c.requested_at <= now - cooldown),
                sa.or_(new_window, table.c.window_count < daily_limit),
            ),
        ).returning(table.c.tutorial_id)  # a row back: inserted or updated, i.e. allowed
        with session_scope(self.engine) as session:
            if session.execute(claim).first() is not None:
                return RegenerationClaim(True, now)
            limit = session.get(RegenerationLimit, tutorial_id)
        assert limit is not None
        waits: list[tuple[float, str]] = []
        if limit.requested_at is not None and limit.requested_at > now - cooldown:
            left = (limit.requested_at + cooldown - now).total_seconds()
            waits.append((left, f"regenerated less than {_minutes(cooldown)} ago"))
        if limit.window_started_at > day_ago and limit.window_count >= daily_limit:
            left = (limit.window_started_at + timedelta(days=1) - now).total_seconds()
            waits.append((left, f"regenerated {limit.window_count} times in 24 hours"))
        seconds, reason = max(waits) if waits else (1.0, "regenerated just now")
        return RegenerationClaim(False, now, max(1, math.ceil(seconds)), reason)

    def refund_regeneration(self, tutorial_id: uuid.UUID, claimed_at: datetime) -> None:
        """Gives a claim back when its regeneration could not be started; a later claim, if
        any, keeps its own place."""
        table = RegenerationLimit.__table__  # type: ignore[attr-defined]
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(table)
                .where(table.c.tutorial_id == tutorial_id, table.c.requested_at == claimed_at)
                .values(requested_at=None, window_count=table.c.window_count - 1)
            )

    # -- what the reconciler looks at ------------------------------------------------------

    def stuck_tutorials(self, *, older_than: datetime, limit: int) -> list[StuckTutorial]:
        """Pending tutorials, and completed ones whose row says a new run is queued or under
        way, untouched since `older_than`: each should have a running workflow."""
        stmt = (
            select(GitHubIssue.issue_key, TutorialContent.status, TutorialContent.stage)
            .join(GitHubIssue, col(GitHubIssue.id) == col(TutorialContent.issue_id))
            .where(
                sa.or_(
                    col(TutorialContent.status) == TutorialStatus.PENDING,
                    sa.and_(
                        col(TutorialContent.status) == TutorialStatus.COMPLETED,
                        col(TutorialContent.stage).not_in(FINISHED_STAGES),
                    ),
                ),
                col(TutorialContent.updated_at) < older_than,
            )
            .order_by(col(TutorialContent.updated_at))
            .limit(limit)
        )
        with Session(self.engine) as session:
            return [
                StuckTutorial(key, TutorialStatus(status), stage)
                for key, status, stage in session.exec(stmt).all()
            ]

    # -- the generation's steps ----------------------------------------------------------

    def begin_generation(self, tutorial_id: uuid.UUID, target_generation: int) -> Begun:
        """Marks a run as started. A tutorial that has reached the wanted generation is not
        generated again, whichever run asks."""
        with session_scope(self.engine) as session:
            content = session.get(TutorialContent, tutorial_id)
            if content is None:
                raise LookupError(f"no tutorial {tutorial_id}")
            if (
                content.status == TutorialStatus.COMPLETED
                and content.generation >= target_generation
            ):
                return Begun(
                    True, content.generation, content.context_fingerprint, content.completed_at
                )
            if content.status == TutorialStatus.FAILED:
                content.status = TutorialStatus.PENDING
            content.stage = Stage.FETCHING_CONTEXT
            content.failure_reason = None
            content.failure_type = None
            content.updated_at = utcnow()
            session.add(content)
            fingerprint = content.context_fingerprint if content.generation else None
            return Begun(False, content.generation, fingerprint, content.completed_at)

    def finish_unchanged(self, tutorial_id: uuid.UUID) -> None:
        """A refresh found the same inputs: the tutorial is current, nothing was generated."""
        self._set_flags(tutorial_id, stage=Stage.DONE, stale=False)

    def mark_stale(self, tutorial_id: uuid.UUID, *, regenerating: bool) -> None:
        stage = Stage.GENERATING if regenerating else Stage.DONE
        self._set_flags(tutorial_id, stage=stage, stale=True)

    def _set_flags(self, tutorial_id: uuid.UUID, *, stage: str, stale: bool) -> None:
        with session_scope(self.engine) as session:
            content = session.get(TutorialContent, tutorial_id)
            if content is None:
                raise LookupError(f"no tutorial {tutorial_id}")
            content.stage = stage
            content.stale = stale
            content.updated_at = utcnow()
            session.add(content)

    def save_context(
        self,
        ref: IssueRef,
        *,
        repo: dict[str, Any],
        issue: dict[str, Any],
        bundle: dict[str, Any],
        commit_sha: str | None,
        fingerprint: str,
        run_id: str,
    ) -> None:
        now = utcnow()
        with session_scope(self.engine) as session:
            project = self._project_for(session, ref)
            gh_repo_id = repo.get("id") if isinstance(repo.get("id"), int) else None
            if gh_repo_id is not None and not self._taken(
                session, Project.gh_repo_id, gh_repo_id, Project.id, project.id
            ):
                project.gh_repo_id = gh_repo_id
            project.display_name = str(repo.get("full_name") or ref.repo_full_name)[:300]
            language = repo.get("language")
            project.language = language[:100] if isinstance(language, str) else None
            branch = repo.get("default_branch")
            project.default_branch = branch[:255] if isinstance(branch, str) else None
            project.raw_data = repo
            project.updated_at = now
            session.add(project)

            row = self._issue_for(session, ref, project.id)
            gh_issue_id = issue.get("id") if isinstance(issue.get("id"), int) else None
            if gh_issue_id is not None and not self._taken(
                session, GitHubIssue.gh_issue_id, gh_issue_id, GitHubIssue.id, row.id
            ):
                row.gh_issue_id = gh_issue_id
            row.title = str(issue.get("title") or "")[:1000]
            row.state = str(issue.get("state") or "")[:20] or None
            row.is_pull_request = bool(issue.get("pull_request"))
            row.raw_data = issue
            fetched = parse_time(issue.get("updated_at"))
            if fetched is not None:
                # This run reads that version: its change is being handled. Neither column goes
                # back in time (a sync or webhook may have recorded a newer one meanwhile).
                row.source_updated_at = max(fetched, row.source_updated_at or fetched)
                row.handled_updated_at = max(fetched, row.handled_updated_at or fetched)
            row.last_synced_at = now
            session.add(row)

            content = session.get(TutorialContent, ref.tutorial_id)
            assert content is not None
            content.stage = Stage.GENERATING
            content.updated_at = now
            session.add(content)

            # The stored bundle and draft are replaced or dropped here, never read: not loaded.
            existing = session.get(
                GenerationContext,
                ref.tutorial_id,
                options=[
                    defer(GenerationContext.bundle),  # type: ignore[arg-type]
                    defer(GenerationContext.draft),  # type: ignore[arg-type]
                ],
            )
            if existing is None:
                existing = GenerationContext(
                    tutorial_id=ref.tutorial_id, run_id=run_id, fingerprint=fingerprint, bundle={}
                )
            if existing.run_id != run_id or existing.fingerprint != fingerprint:
                existing.draft = None  # a new run, or new inputs: the old draft no longer holds
                existing.usage = None
                existing.completed_generation = None
            existing.run_id = run_id
            existing.commit_sha = commit_sha
            existing.fingerprint = fingerprint
            existing.bundle = bundle
            existing.created_at = now
            session.add(existing)

    def load_generation(self, tutorial_id: uuid.UUID) -> GenerationContext:
        with Session(self.engine) as session:
            context = session.get(GenerationContext, tutorial_id)
            if context is None:
                raise LookupError(f"no generation context for tutorial {tutorial_id}")
            return context

    def count_llm_call(self, tutorial_id: uuid.UUID) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(TutorialContent)
                .where(col(TutorialContent.id) == tutorial_id)
                .values(llm_calls=col(TutorialContent.llm_calls) + 1)
            )

    def record_llm_usage(self, tutorial_id: uuid.UUID, run_id: str, tokens: int) -> None:
        """Tokens an LLM call spent on an answer that was refused (the budget's ledger)."""
        with session_scope(self.engine) as session:
            session.add(LLMUsage(tutorial_id=tutorial_id, run_id=run_id, tokens=tokens))

    def save_draft(
        self, tutorial_id: uuid.UUID, run_id: str, draft: dict[str, Any], usage: dict[str, Any]
    ) -> None:
        # Two UPDATEs and at most the small usage column read back: the context's bundle (up
        # to the prompt budget) need not be read and parsed to learn whether this run still
        # owns it.
        with session_scope(self.engine) as session:
            answer_id = usage.get("answer_id")
            if answer_id is not None:
                # A save retried after a commit whose acknowledgement was lost (the connection
                # dropped in COMMIT) finds its own answer stored: counting its tokens again
                # would charge the budget twice for one call. Another paid answer has an id of
                # its own and is counted.
                stored = session.execute(
                    sa.select(col(GenerationContext.usage)).where(
                        col(GenerationContext.tutorial_id) == tutorial_id,
                        col(GenerationContext.run_id) == run_id,
                    )
                ).scalar_one_or_none()
                if isinstance(stored, dict) and stored.get("answer_id") == answer_id:
                    return
            owned: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                sa.update(GenerationContext)
                .where(
                    col(GenerationContext.tutorial_id) == tutorial_id,
                    col(GenerationContext.run_id) == run_id,
                )
                .values(draft=draft, usage=usage)
            )
            if owned.rowcount != 1:
                raise LookupError(f"generation context of {tutorial_id} belongs to another run")
            # The LLM_DAILY_TOKEN_BUDGET ledger, in the same transaction as the draft: a retried
            # activity that reuses the draft records nothing twice.
            session.add(
                LLMUsage(
                    tutorial_id=tutorial_id,
                    run_id=run_id,
                    tokens=int(usage.get("prompt_tokens", 0))
                    + int(usage.get("completion_tokens", 0)),
                )
            )
            session.execute(
                sa.update(TutorialContent)
                .where(col(TutorialContent.id) == tutorial_id)
                .values(
                    stage=Stage.SAVING,
                    model=str(usage.get("model", ""))[:200] or None,
                    prompt_tokens=col(TutorialContent.prompt_tokens)
                    + int(usage.get("prompt_tokens", 0)),
                    completion_tokens=col(TutorialContent.completion_tokens)
                    + int(usage.get("completion_tokens", 0)),
                    updated_at=utcnow(),
                )
            )

    def complete(
        self,
        tutorial_id: uuid.UUID,
        *,
        title: str,
        markdown: str,
        structured: dict[str, Any],
        difficulty: str,
        junior_friendly: bool,
        concepts: list[ConceptInput],
        generated_from: GenerationContext | None,
    ) -> Completion:
        """Stores the finished tutorial and its concepts; returns the generation it made.
        `generated_from`, the run's context as the caller loaded it, gives the commit and the
        fingerprint the tutorial was made from (loading it again here would parse its bundle
        a second time). Required: a run that left it out would store no fingerprint, and every
        later sync would regenerate the tutorial. None only where no context exists.

        Idempotent per run: the activity calling this may be retried after its transaction
        committed (a worker lost before reporting). The run's context records the generation
        it made, claimed by a conditional UPDATE in the same transaction, so a repeated call
        changes nothing and says so (`repeated`): no second generation, no metric counted
        twice."""
        now = utcnow()
        with session_scope(self.engine) as session:
            if generated_from is not None:
                contexts = GenerationContext.__table__  # type: ignore[attr-defined]
                contents = TutorialContent.__table__  # type: ignore[attr-defined]
                claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                    sa.update(contexts)
                    .where(
                        contexts.c.tutorial_id == tutorial_id,
                        contexts.c.run_id == generated_from.run_id,
                        contexts.c.completed_generation.is_(None),
                    )
                    .values(
                        completed_generation=sa.select(contents.c.generation + 1)
                        .where(contents.c.id == tutorial_id)
                        .scalar_subquery()
                    )
                )
                if claimed.rowcount != 1:
                    done = session.execute(
                        sa.select(contexts.c.completed_generation).where(
                            contexts.c.tutorial_id == tutorial_id,
                            contexts.c.run_id == generated_from.run_id,
                        )
                    ).scalar_one_or_none()
                    if done is None:
                        raise LookupError(
                            f"generation context of {tutorial_id} belongs to another run"
                        )
                    return Completion(generation=done, repeated=True)
            content = session.get(TutorialContent, tutorial_id)
            assert content is not None
            issue = session.get(GitHubIssue, content.issue_id)
            assert issue is not None
            concept_ids = self._upsert_concepts(session, concepts)
            session.execute(
                sa.delete(TutorialConcept).where(col(TutorialConcept.content_id) == tutorial_id)
            )
            upsert(
                session,
                TutorialConcept.__table__,  # type: ignore[attr-defined]
                [{"content_id": tutorial_id, "concept_id": c} for c in concept_ids],
                conflict=["content_id", "concept_id"],
            )
            upsert(
                session,
                ProjectConcept.__table__,  # type: ignore[attr-defined]
                [{"project_id": issue.project_id, "concept_id": c} for c in concept_ids],
                conflict=["project_id", "concept_id"],
            )
            content.title = title
            content.markdown_body = markdown
            content.structured = structured
            content.difficulty = difficulty
            content.junior_friendly = junior_friendly
            if generated_from is not None:
                content.commit_sha = generated_from.commit_sha
                content.context_fingerprint = generated_from.fingerprint
            content.stale = False
            content.status = TutorialStatus.COMPLETED
            content.failed_runs = 0
            content.stage = Stage.DONE
            content.failure_reason = None
            content.failure_type = None
            content.generation += 1
            content.completed_at = now
            content.updated_at = now
            session.add(content)
            return Completion(generation=content.generation, repeated=False)

    def mark_failed(self, tutorial_id: uuid.UUID, *, reason: str, failure_type: str) -> None:
        with session_scope(self.engine) as session:
            content = session.get(TutorialContent, tutorial_id)
            if content is None:
                return
            if content.status == TutorialStatus.PENDING:  # once per run, however often asked
                content.failed_runs += 1
            if content.status != TutorialStatus.COMPLETED:
                content.status = TutorialStatus.FAILED
            # A failed regeneration keeps serving the previous tutorial, with the reason beside it.
            content.stage = Stage.FAILED
            content.failure_reason = public_reason(reason, failure_type, self._secrets)
            content.failure_type = failure_type[:80]
            content.updated_at = utcnow()
            session.add(content)

    # -- reads ---------------------------------------------------------------------------

    def get_tutorial(self, tutorial_id: uuid.UUID) -> TutorialView | None:
        """One Core statement, no ORM session: the status route is the hottest read there is
        (every submitter polls it), and the identity map buys nothing for a detached view."""
        with self._reader.connect() as connection:
            row = connection.execute(TUTORIAL_READ, {"tutorial_id": tutorial_id}).first()
        return None if row is None else tutorial_view_from_row(row._mapping)

    # -- helpers -------------------------------------------------------------------------

    def _project_for(self, session: Session, ref: IssueRef) -> Project:
        project = session.exec(
            select(Project).where(Project.full_name == ref.repo_full_name)
        ).first()
        if project is None:
            project = Project(
                owner_handle=ref.owner, repo_name=ref.repo, full_name=ref.repo_full_name
            )
            session.add(project)
            session.flush()
        return project

    def _issue_for(self, session: Session, ref: IssueRef, project_id: uuid.UUID) -> GitHubIssue:
        row = session.exec(select(GitHubIssue).where(GitHubIssue.issue_key == ref.key)).first()
        if row is None:
            row = GitHubIssue(project_id=project_id, issue_number=ref.number, issue_key=ref.key)
            session.add(row)
            session.flush()
        return row

    @staticmethod
    def _taken(
        session: Session, column: Any, value: int, id_column: Any, own_id: uuid.UUID
    ) -> bool:
        """Whether another row already holds a GitHub id (a renamed repo, a transferred issue)."""
        other = session.exec(select(id_column).where(column == value, id_column != own_id)).first()
        return other is not None

    @staticmethod
    def _upsert_concepts(session: Session, concepts: list[ConceptInput]) -> list[uuid.UUID]:
        """Concepts, their parents and the links between them in a few multi-row statements,
        whatever the number of concepts; returns the concepts' ids, deduplicated, in order."""
        wording: dict[str, tuple[str, str | None]] = {}
        for concept in concepts:  # a concept's own wording wins over its mention as a parent
            name, description = wording.get(concept.slug, (concept.name, None))
            wording[concept.slug] = (name, description or concept.description or None)
        for concept in concepts:
            if concept.parent_slug:
                parent_name = concept.parent_name or concept.parent_slug
                wording.setdefault(concept.parent_slug, (parent_name, None))
        if not wording:
            return []
        # The first wording of a concept stays; a later description only fills a missing one.
        upsert(
            session,
            Concept.__table__,  # type: ignore[attr-defined]
            [
                {"id": uuid.uuid4(), "slug": slug, "name": name, "description": description}
                for slug, (name, description) in wording.items()
            ],
            conflict=["slug"],
        )
        stored = {
            concept.slug: concept
            for concept in session.exec(select(Concept).where(col(Concept.slug).in_(wording)))
        }
        for slug, (_, description) in wording.items():
            if description and not stored[slug].description:
                stored[slug].description = description
                session.add(stored[slug])
        upsert(
            session,
            ConceptRelationship.__table__,  # type: ignore[attr-defined]
            [
                {"parent_id": parent, "child_id": child, "rel_type": "subconcept_of"}
                for parent, child in dict.fromkeys(
                    (stored[c.parent_slug].id, stored[c.slug].id)
                    for c in concepts
                    if c.parent_slug and c.parent_slug != c.slug
                )
            ],
            conflict=["parent_id", "child_id", "rel_type"],
        )
        return list(dict.fromkeys(stored[c.slug].id for c in concepts))


def _minutes(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
