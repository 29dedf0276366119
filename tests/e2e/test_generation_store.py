"""A run's draft is stored only while the run still owns the generation context, on both
databases; the tutorial's token counts add up over attempts."""

from __future__ import annotations

import pytest

from issuesight.db.tutorials import TutorialStore
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
