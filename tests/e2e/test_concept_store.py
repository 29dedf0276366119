"""Concepts stored with a tutorial, on both databases: a concept's first wording stays, a later
description fills a missing one, parents and links are written once however often they are
named, and a regeneration replaces the tutorial's concepts."""

from __future__ import annotations

import uuid
from typing import TypedDict

import sqlalchemy as sa
from sqlmodel import col

from issuesight.db.models import Concept, ConceptRelationship, ProjectConcept, TutorialConcept
from issuesight.db.tutorials import ConceptInput, TutorialStore
from issuesight.domain.refs import make_ref


def _concept(
    slug: str, name: str = "", description: str = "", parent: str | None = None
) -> ConceptInput:
    parent_name = parent.replace("-", " ").title() if parent else None
    return ConceptInput(slug, name or slug.title(), description, parent, parent_name)


def _complete(store: TutorialStore, tutorial_id: uuid.UUID, concepts: list[ConceptInput]) -> int:
    return store.complete(
        tutorial_id,
        title="t",
        markdown="# t",
        structured={"summary": "s"},
        difficulty="beginner",
        junior_friendly=True,
        concepts=concepts,
        generated_from=None,
    ).generation


class _Rows(TypedDict):
    concepts: dict[str, tuple[str, str | None]]  # slug: (name, description)
    links: set[tuple[str, str]]  # (parent slug, child slug)
    project: list[str]
    tutorial_links: int


def _rows(store: TutorialStore) -> _Rows:
    with store.engine.connect() as connection:
        concepts = connection.execute(
            sa.select(col(Concept.slug), col(Concept.name), col(Concept.description))
        )
        by_id = {
            id_: slug
            for id_, slug in connection.execute(sa.select(col(Concept.id), col(Concept.slug)))
        }
        links = connection.execute(
            sa.select(col(ConceptRelationship.parent_id), col(ConceptRelationship.child_id))
        ).all()
        project = connection.execute(sa.select(col(ProjectConcept.concept_id))).scalars().all()
        linked = connection.execute(sa.select(sa.func.count()).select_from(TutorialConcept))
        return {
            "concepts": {slug: (name, description) for slug, name, description in concepts},
            "links": {(by_id[p], by_id[c]) for p, c in links},
            "project": sorted(by_id[c] for c in project),
            "tutorial_links": linked.scalar_one(),
        }


def test_concepts_parents_and_links_are_written_once(store: TutorialStore) -> None:
    repo = f"concepts-{uuid.uuid4().hex[:8]}"
    first = store.register_submission(make_ref("octo-org", repo, 1)).content.id
    second = store.register_submission(make_ref("octo-org", repo, 2)).content.id

    concepts = [
        _concept("async-io", "Async I/O", parent="concurrency"),
        _concept("event-loop", "Event loop", "Runs callbacks.", parent="async-io"),
        _concept("async-io", "Async I/O again", "A later duplicate."),
    ]
    assert _complete(store, first, concepts) == 1
    rows = _rows(store)
    assert rows["concepts"] == {
        "async-io": ("Async I/O", "A later duplicate."),
        "event-loop": ("Event loop", "Runs callbacks."),
        "concurrency": ("Concurrency", None),
    }
    assert rows["links"] == {("concurrency", "async-io"), ("async-io", "event-loop")}
    assert rows["project"] == ["async-io", "event-loop"]
    view = store.get_tutorial(first)
    assert view is not None
    assert view.concepts == ["async-io", "event-loop"]

    # Another tutorial names the parent as a concept, with a description: it fills the missing
    # one; the wording already stored for async-io stays.
    _complete(
        store,
        second,
        [
            _concept("concurrency", "Concurrency, renamed", "Doing several things at once."),
            _concept("async-io", "Renamed", "Another description.", parent="concurrency"),
        ],
    )
    rows = _rows(store)
    assert rows["concepts"]["concurrency"] == ("Concurrency", "Doing several things at once.")
    assert rows["concepts"]["async-io"] == ("Async I/O", "A later duplicate.")
    assert rows["links"] == {("concurrency", "async-io"), ("async-io", "event-loop")}
    assert rows["project"] == ["async-io", "concurrency", "event-loop"]
    assert rows["tutorial_links"] == 4


def test_a_regeneration_replaces_the_tutorials_concepts(store: TutorialStore) -> None:
    tutorial = store.register_submission(make_ref("octo-org", f"regen-{uuid.uuid4().hex[:8]}", 1))
    tutorial_id = tutorial.content.id
    assert _complete(store, tutorial_id, [_concept("git"), _concept("pytest")]) == 1
    assert _complete(store, tutorial_id, [_concept("pytest"), _concept("fixtures")]) == 2
    view = store.get_tutorial(tutorial_id)
    assert view is not None
    assert view.concepts == ["fixtures", "pytest"]
    assert _complete(store, tutorial_id, []) == 3
    view = store.get_tutorial(tutorial_id)
    assert view is not None
    assert view.concepts == []
    assert _rows(store)["tutorial_links"] == 0
