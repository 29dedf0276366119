"""Finding tutorials: ranked full-text search and filters, shared by the JSON list route and
the explore page.

The index is kept by the database itself (migration 0003: triggers on the tables a document is
made from): SQLite's FTS5 with bm25, PostgreSQL's tsvector with ts_rank_cd. What a reader
types is never handed to either query language. It is cut into words (letters and digits), and
each word is passed as a quoted FTS5 string or through `plainto_tsquery`; every word must
match. So FTS syntax in a query (`"`, `*`, `NEAR(`, `-`, `AND`, column filters) is searched for
as text or ignored, never parsed, and cannot make a query fail.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import REGCONFIG, TSVECTOR
from sqlalchemy.engine import Engine
from sqlmodel import col

from issuesight.db.models import (
    Concept,
    GitHubIssue,
    Project,
    TutorialConcept,
    TutorialContent,
)

# Words of a query that are searched for; more say nothing a reader means and cost time.
MAX_TERMS = 16
_WORD = re.compile(r"\w+")
# Tables the search migration creates (FTS5 adds shadow tables named after its own): not
# declared as models, so schema comparisons and autogenerate must leave them alone.
SEARCH_TABLE_PREFIXES = ("tutorial_search", "search_keys")
# bm25 weights per FTS5 column, in the migration's column order: title, issue_title,
# concepts, summary, issue_body. The same order of importance as PostgreSQL's A/B/C/D.
_BM25_WEIGHTS = (10.0, 10.0, 5.0, 2.0, 1.0)
_DIFFICULTY_ORDER = {"beginner": 0, "intermediate": 1, "advanced": 2}


class Sort(StrEnum):
    RELEVANCE = "relevance"
    NEWEST = "newest"
    EASIEST = "easiest"


def is_search_table(name: str | None) -> bool:
    return bool(name) and str(name).startswith(SEARCH_TABLE_PREFIXES)


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """For Alembic's `include_name`: the search index's tables are made by hand in migration
    0003, not declared as models, so autogenerate and schema comparisons leave them alone."""
    return not (type_ == "table" and is_search_table(name))


def search_terms(text: str | None) -> list[str]:
    """The words of a query, lower-cased, in order, without repeats, at most MAX_TERMS."""
    if not text:
        return []
    words = dict.fromkeys(word.lower() for word in _WORD.findall(text))
    return list(words)[:MAX_TERMS]


@dataclass(frozen=True)
class TutorialQuery:
    """What a reader asks for. `text` with no words in it searches for nothing (all match)."""

    text: str | None = None
    repo: str | None = None
    status: str | None = None
    difficulty: str | None = None
    junior_friendly: bool | None = None
    concept: str | None = None
    include_archived: bool = False
    sort: Sort | None = None  # relevance when there are words to rank by, newest otherwise
    limit: int = 20
    offset: int = 0

    @property
    def terms(self) -> list[str]:
        return search_terms(self.text)

    @property
    def effective_sort(self) -> Sort:
        if self.sort is None or (self.sort == Sort.RELEVANCE and not self.terms):
            return Sort.RELEVANCE if self.terms else Sort.NEWEST
        return self.sort


@dataclass(frozen=True)
class ConceptChip:
    slug: str
    name: str


@dataclass(frozen=True)
class TutorialHit:
    id: uuid.UUID
    issue_key: str
    issue_title: str | None
    issue_state: str | None
    issue_opened_at: str | None  # GitHub's ISO timestamp, as GitHub wrote it
    title: str | None
    summary: str | None
    status: str
    stage: str
    difficulty: str | None
    junior_friendly: bool | None
    stale: bool
    archived: bool
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    concepts: list[ConceptChip] = field(default_factory=list)

    @property
    def repo(self) -> str:
        return self.issue_key.partition("#")[0]

    @property
    def number(self) -> int:
        return int(self.issue_key.partition("#")[2])


@dataclass(frozen=True)
class Facet:
    value: str
    label: str
    count: int


class TutorialSearch:
    """Reads only; safe to share between threads (it holds an engine)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def search(self, query: TutorialQuery) -> tuple[list[TutorialHit], int]:
        """One page of matching tutorials and how many match in all."""
        stmt = self._filtered(query)
        with self.engine.connect() as connection:
            total = connection.execute(
                sa.select(sa.func.count()).select_from(stmt.subquery())
            ).scalar_one()
            rows = connection.execute(
                stmt.order_by(*self._order(query)).limit(query.limit).offset(query.offset)
            ).all()
            chips = self._concepts(connection, [row.id for row in rows])
        hits = [
            TutorialHit(
                id=row.id,
                issue_key=row.issue_key,
                issue_title=row.issue_title,
                issue_state=row.issue_state,
                issue_opened_at=row.issue_opened_at,
                title=row.title,
                summary=row.summary,
                status=row.status,
                stage=row.stage,
                difficulty=row.difficulty,
                junior_friendly=row.junior_friendly,
                stale=row.stale,
                archived=row.archived_at is not None,
                created_at=row.created_at,
                updated_at=row.updated_at,
                completed_at=row.completed_at,
                concepts=chips.get(row.id, []),
            )
            for row in rows
        ]
        return hits, int(total)

    def repositories(self, *, include_archived: bool = False) -> list[Facet]:
        """Repositories that have tutorials, with how many: the explore page's filter."""
        count = sa.func.count(col(TutorialContent.id))
        stmt = (
            sa.select(col(Project.full_name), count)
            .join(GitHubIssue, col(GitHubIssue.project_id) == col(Project.id))
            .join(TutorialContent, col(TutorialContent.issue_id) == col(GitHubIssue.id))
            .group_by(col(Project.full_name))
            .order_by(col(Project.full_name))
        )
        if not include_archived:
            stmt = stmt.where(col(TutorialContent.archived_at).is_(None))
        with self.engine.connect() as connection:
            return [Facet(name, name, int(n)) for name, n in connection.execute(stmt)]

    def concepts(self, *, limit: int = 200) -> list[Facet]:
        """The concepts most tutorials are tagged with, with how many."""
        count = sa.func.count(col(TutorialConcept.content_id))
        stmt = (
            sa.select(col(Concept.slug), col(Concept.name), count)
            .join(TutorialConcept, col(TutorialConcept.concept_id) == col(Concept.id))
            .join(TutorialContent, col(TutorialContent.id) == col(TutorialConcept.content_id))
            .where(col(TutorialContent.archived_at).is_(None))
            .group_by(col(Concept.slug), col(Concept.name))
            .order_by(count.desc(), col(Concept.slug))
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [Facet(slug, name, int(n)) for slug, name, n in connection.execute(stmt)]

    # -- building the statement ----------------------------------------------------------

    def _filtered(self, query: TutorialQuery) -> sa.Select[Any]:
        contents = TutorialContent
        columns: list[Any] = [
            col(contents.id),
            col(contents.title),
            col(contents.status),
            col(contents.stage),
            col(contents.difficulty),
            col(contents.junior_friendly),
            col(contents.stale),
            col(contents.archived_at),
            col(contents.created_at),
            col(contents.updated_at),
            col(contents.completed_at),
            col(contents.structured)["summary"].as_string().label("summary"),
            col(GitHubIssue.issue_key),
            col(GitHubIssue.title).label("issue_title"),
            col(GitHubIssue.state).label("issue_state"),
            col(GitHubIssue.raw_data)["created_at"].as_string().label("issue_opened_at"),
        ]
        stmt = sa.select(*columns).join(GitHubIssue, col(GitHubIssue.id) == col(contents.issue_id))
        if query.repo:
            stmt = stmt.join(Project, col(Project.id) == col(GitHubIssue.project_id)).where(
                col(Project.full_name) == query.repo.lower()
            )
        if not query.include_archived:
            stmt = stmt.where(col(contents.archived_at).is_(None))
        if query.status:
            stmt = stmt.where(col(contents.status) == query.status.upper())
        if query.difficulty:
            stmt = stmt.where(col(contents.difficulty) == query.difficulty.lower())
        if query.junior_friendly is not None:
            stmt = stmt.where(col(contents.junior_friendly).is_(query.junior_friendly))
        if query.concept:
            stmt = stmt.where(
                col(contents.id).in_(
                    sa.select(col(TutorialConcept.content_id))
                    .join(Concept, col(Concept.id) == col(TutorialConcept.concept_id))
                    .where(col(Concept.slug) == query.concept.lower())
                )
            )
        terms = query.terms
        if terms:
            matches = self._matches(terms).subquery("matches")
            stmt = stmt.join(matches, matches.c.tutorial_id == col(contents.id)).add_columns(
                matches.c.search_rank
            )
        return stmt

    def _matches(self, terms: list[str]) -> sa.Select[Any]:
        """(tutorial_id, rank) of the documents holding every term; higher rank is better."""
        if self.engine.dialect.name == "postgresql":
            table = sa.table(
                "tutorial_search",
                sa.column("tutorial_id", sa.Uuid()),
                sa.column("document", TSVECTOR()),
            )
            tsquery = sa.func.plainto_tsquery(
                sa.cast(sa.literal("english"), REGCONFIG), " ".join(terms)
            )
            return sa.select(
                table.c.tutorial_id,
                sa.func.ts_rank_cd(table.c.document, tsquery).label("search_rank"),
            ).where(table.c.document.op("@@")(tsquery))
        keys = sa.table(
            "search_keys", sa.column("doc_id", sa.Integer()), sa.column("tutorial_id", sa.Uuid())
        )
        fts = sa.table("tutorial_search", sa.column("rowid", sa.Integer()))
        # Each word as an FTS5 string: double quotes around it, none inside (\w has none).
        match = " ".join(f'"{term}"' for term in terms)
        whole: sa.ColumnClause[Any] = sa.literal_column("tutorial_search")
        rank = -sa.func.bm25(whole, *_BM25_WEIGHTS)
        return (
            sa.select(keys.c.tutorial_id, rank.label("search_rank"))
            .select_from(fts.join(keys, keys.c.doc_id == fts.c.rowid))
            .where(whole.op("MATCH")(match))
        )

    @staticmethod
    def _order(query: TutorialQuery) -> list[Any]:
        contents = TutorialContent
        newest = [col(contents.updated_at).desc(), col(contents.id)]
        sort = query.effective_sort
        if sort == Sort.RELEVANCE:
            return [sa.literal_column("search_rank").desc(), *newest]
        if sort == Sort.EASIEST:
            difficulty = sa.case(_DIFFICULTY_ORDER, value=col(contents.difficulty), else_=3)
            friendly = sa.case((col(contents.junior_friendly).is_(True), 0), else_=1)
            return [difficulty, friendly, *newest]
        return newest

    @staticmethod
    def _concepts(
        connection: sa.Connection, tutorial_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[ConceptChip]]:
        if not tutorial_ids:
            return {}
        rows = connection.execute(
            sa.select(col(TutorialConcept.content_id), col(Concept.slug), col(Concept.name))
            .join(Concept, col(Concept.id) == col(TutorialConcept.concept_id))
            .where(col(TutorialConcept.content_id).in_(tutorial_ids))
            .order_by(col(Concept.slug))
        )
        chips: dict[uuid.UUID, list[ConceptChip]] = {}
        for content_id, slug, name in rows:
            chips.setdefault(content_id, []).append(ConceptChip(slug, name))
        return chips
