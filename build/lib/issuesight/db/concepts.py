"""Reading the concept hierarchy: the tree with counts, and one concept with its parents and
children. (The tutorials tagged with a concept are a search: db.search, `concept=`.)

Concepts come from models, normalized by the project (tutorial.concepts), and their parent links
from many tutorials: the graph is not promised to be a tree. A concept may have several parents
(it is shown under each) and links may form a cycle (a concept is never shown inside itself;
a cycle with no way in from a root is entered at its first concept by slug).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from issuesight.db.models import Concept, ConceptRelationship, TutorialConcept, TutorialContent

# A pathological graph (many parents at every level) could make an expanded tree huge; past
# this many nodes, deeper concepts are listed without their children.
MAX_TREE_NODES = 5000


@dataclass
class ConceptNode:
    slug: str
    name: str
    description: str | None
    tutorials: int  # visible (not archived) tutorials tagged with it
    children: list[ConceptNode] = field(default_factory=list)


@dataclass(frozen=True)
class ConceptLink:
    slug: str
    name: str
    tutorials: int


@dataclass(frozen=True)
class ConceptDetail:
    slug: str
    name: str
    description: str | None
    tutorials: int
    parents: list[ConceptLink]
    children: list[ConceptLink]


@dataclass(frozen=True)
class _Row:
    id: uuid.UUID
    slug: str
    name: str
    description: str | None


class ConceptReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def tree(self) -> list[ConceptNode]:
        with self.engine.connect() as connection:
            concepts = {row.id: row for row in self._concepts(connection)}
            counts = self._counts(connection)
            links = connection.execute(
                sa.select(col(ConceptRelationship.parent_id), col(ConceptRelationship.child_id))
            ).all()
        children: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        has_parent: set[uuid.UUID] = set()
        for parent, child in links:
            if parent in concepts and child in concepts and parent != child:
                children[parent].append(child)
                has_parent.add(child)
        for kids in children.values():
            kids.sort(key=lambda c: concepts[c].slug)
        by_slug = sorted(concepts, key=lambda c: concepts[c].slug)
        budget = [MAX_TREE_NODES]
        reached: set[uuid.UUID] = set()

        def build(concept_id: uuid.UUID, path: frozenset[uuid.UUID]) -> ConceptNode:
            row = concepts[concept_id]
            reached.add(concept_id)
            budget[0] -= 1
            node = ConceptNode(row.slug, row.name, row.description, counts.get(concept_id, 0))
            if budget[0] > 0:
                inside = path | {concept_id}
                node.children = [
                    build(child, inside) for child in children[concept_id] if child not in inside
                ]
            return node

        roots = [build(c, frozenset()) for c in by_slug if c not in has_parent]
        for concept_id in by_slug:  # cycles that no root leads into
            if concept_id not in reached:
                roots.append(build(concept_id, frozenset()))
        return roots

    def concept(self, slug: str) -> ConceptDetail | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(
                    col(Concept.id), col(Concept.slug), col(Concept.name), col(Concept.description)
                ).where(col(Concept.slug) == slug)
            ).first()
            if row is None:
                return None
            counts = self._counts(connection)
            parents = self._linked(connection, row.id, counts, parents=True)
            children = self._linked(connection, row.id, counts, parents=False)
        return ConceptDetail(
            slug=row.slug,
            name=row.name,
            description=row.description,
            tutorials=counts.get(row.id, 0),
            parents=parents,
            children=children,
        )

    @staticmethod
    def _concepts(connection: sa.Connection) -> list[_Row]:
        rows = connection.execute(
            sa.select(
                col(Concept.id), col(Concept.slug), col(Concept.name), col(Concept.description)
            )
        )
        return [_Row(*row) for row in rows]

    @staticmethod
    def _counts(connection: sa.Connection) -> dict[uuid.UUID, int]:
        rows = connection.execute(
            sa.select(col(TutorialConcept.concept_id), sa.func.count())
            .join(TutorialContent, col(TutorialContent.id) == col(TutorialConcept.content_id))
            .where(col(TutorialContent.archived_at).is_(None))
            .group_by(col(TutorialConcept.concept_id))
        )
        return {concept_id: int(n) for concept_id, n in rows}

    @staticmethod
    def _linked(
        connection: sa.Connection,
        concept_id: uuid.UUID,
        counts: dict[uuid.UUID, int],
        *,
        parents: bool,
    ) -> list[ConceptLink]:
        """The concept's parents (or children), by slug."""
        known, other = (
            (col(ConceptRelationship.child_id), col(ConceptRelationship.parent_id))
            if parents
            else (col(ConceptRelationship.parent_id), col(ConceptRelationship.child_id))
        )
        rows = connection.execute(
            sa.select(col(Concept.id), col(Concept.slug), col(Concept.name))
            .join(ConceptRelationship, other == col(Concept.id))
            .where(known == concept_id, col(Concept.id) != concept_id)
            .order_by(col(Concept.slug))
        )
        return [ConceptLink(slug, name, counts.get(cid, 0)) for cid, slug, name in rows]
