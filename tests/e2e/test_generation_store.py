"""A run's draft is stored only while the run still owns the generation context, on both
databases; the tutorial's token counts add up over attempts."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from issuesight.accounts import budget
from issuesight.db.models import GenerationContext
from issuesight.db.tutorials import Completion, TutorialStore
from issuesight.db.types import utcnow
from issuesight.domain.refs import make_ref

REF = make_ref("octo-org", "drafts", 7)
DRAFT = {"title": "Fix greet()", "summary": "s"}


def _with_context(store: TutorialStore, run_id: str) -> None:
    store.register_submission(REF)
    store.save_context(
        REF,
        repo={"id": 1, "full_name": "octo-org/drafts"},
        issue={"id": 70, "title": "greet() crashes", "state": "open"},
        bundle={"issue_title": "greet() crashes"},
        commit_sha="a" * 40,
        fingerprint="f1",
        run_id=run_id,
    )


def test_the_owning_run_stores_its_draft_and_usage(store: TutorialStore) -> None:
    _with_context(store, "run-1")
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "model": "m-1"}
    store.save_draft(REF.tutorial_id, "run-1", DRAFT, usage)
    store.save_draft(REF.tutorial_id, "run-1", DRAFT, usage)  # a retried attempt pays again

    context = store.load_generation(REF.tutorial_id)
    assert context.draft == DRAFT
    assert context.usage == usage
    assert context.bundle == {"issue_title": "greet() crashes"}
    view = store.get_tutorial(REF.tutorial_id)
    assert view is not None
    assert view.content.stage == "saving"
    assert view.content.model == "m-1"
    assert (view.content.prompt_tokens, view.content.completion_tokens) == (20, 10)


def test_saving_the_same_answer_again_counts_it_once(store: TutorialStore) -> None:
    """The save of a paid answer is retried when the database fails under it; if the failure
    was the lost acknowledgement of a commit that landed, the retry finds the answer stored and
    neither the tutorial's tokens nor the daily token budget's ledger count it again."""
    _with_context(store, "run-1")
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "model": "m-1", "answer_id": "a1"}
    store.save_draft(REF.tutorial_id, "run-1", DRAFT, usage)
    store.save_draft(REF.tutorial_id, "run-1", DRAFT, usage)
    view = store.get_tutorial(REF.tutorial_id)
    assert view is not None
    assert (view.content.prompt_tokens, view.content.completion_tokens) == (10, 5)
    with Session(store.engine) as session:
        assert budget.status(session, 1_000, utcnow()).used == 15
    # Another paid answer in the same run (a second attempt that overlapped the first) is.
    store.save_draft(REF.tutorial_id, "run-1", DRAFT, {**usage, "answer_id": "a2"})
    view = store.get_tutorial(REF.tutorial_id)
    assert view is not None
    assert (view.content.prompt_tokens, view.content.completion_tokens) == (20, 10)


def test_another_run_cannot_store_a_draft(store: TutorialStore) -> None:
    _with_context(store, "run-2")
    with pytest.raises(LookupError, match="another run"):
        store.save_draft(REF.tutorial_id, "run-1", DRAFT, {"prompt_tokens": 99})

    context = store.load_generation(REF.tutorial_id)
    assert context.draft is None
    view = store.get_tutorial(REF.tutorial_id)
    assert view is not None
    assert view.content.stage == "generating"
    assert view.content.prompt_tokens == 0


def test_new_context_keeps_the_draft_only_for_the_same_run_and_inputs(store: TutorialStore) -> None:
    _with_context(store, "run-1")
    store.save_draft(REF.tutorial_id, "run-1", DRAFT, {"prompt_tokens": 1})

    _with_context(store, "run-1")  # the fetch retried within the run: same inputs
    assert store.load_generation(REF.tutorial_id).draft == DRAFT

    _with_context(store, "run-2")  # a new run: its draft must come from its own call
    context = store.load_generation(REF.tutorial_id)
    assert (context.run_id, context.draft, context.usage) == ("run-2", None, None)
    assert context.bundle == {"issue_title": "greet() crashes"}


def _complete(store: TutorialStore, context: GenerationContext) -> Completion:
    return store.complete(
        REF.tutorial_id,
        title="Fix greet()",
        markdown="# Fix greet()",
        structured={"summary": "s"},
        difficulty="beginner",
        junior_friendly=True,
        concepts=[],
        generated_from=context,
    )


def test_a_retried_completion_of_the_same_run_changes_nothing(store: TutorialStore) -> None:
    _with_context(store, "run-1")
    store.save_draft(REF.tutorial_id, "run-1", DRAFT, {"prompt_tokens": 10, "completion_tokens": 5})
    context = store.load_generation(REF.tutorial_id)

    first = _complete(store, context)
    view = store.get_tutorial(REF.tutorial_id)
    assert view is not None
    completed_at = view.content.completed_at
    # The worker was lost after the commit and before reporting: the activity runs again.
    again = _complete(store, context)

    assert first == Completion(generation=1, repeated=False)
    assert again == Completion(generation=1, repeated=True)
    view = store.get_tutorial(REF.tutorial_id)
    assert view is not None
    assert view.content.generation == 1
    assert view.content.completed_at == completed_at
    with Session(store.engine) as session:
        spent = budget.status(session, 1_000, utcnow())
    assert spent.used == 15  # the budget's ledger counted the run once

    # The next run makes the next generation, once.
    _with_context(store, "run-2")
    store.save_draft(REF.tutorial_id, "run-2", DRAFT, {"prompt_tokens": 1})
    second_run = store.load_generation(REF.tutorial_id)
    assert _complete(store, second_run) == Completion(generation=2, repeated=False)
    assert _complete(store, second_run) == Completion(generation=2, repeated=True)
    # The first run's late retry finds its context taken by the second run: it writes nothing.
    with pytest.raises(LookupError, match="another run"):
        _complete(store, context)
    view = store.get_tutorial(REF.tutorial_id)
    assert view is not None
    assert view.content.generation == 2
