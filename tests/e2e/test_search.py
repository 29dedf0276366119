"""Full-text search on both databases: what it searches, how it ranks, that the index follows
every write (generation, regeneration, sync), that filters and sorts combine, and that no query
text, however hostile, makes it fail."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from issuesight.db.engine import make_engine
from issuesight.db.issues import IssueStore
from issuesight.db.models import TutorialContent
from issuesight.db.projects import ProjectStore
from issuesight.db.search import Sort, TutorialQuery, TutorialSearch, search_terms
from issuesight.db.tutorials import TutorialStore
from issuesight.db.types import utcnow
from tests.helpers import store_tutorial
from tests.paths import BLNS


@pytest.fixture
def search(store: TutorialStore) -> TutorialSearch:
    return TutorialSearch(store.engine)


def _keys(search: TutorialSearch, **query: Any) -> list[str]:
    hits, total = search.search(TutorialQuery(**query))
    assert total >= len(hits)
    return [hit.issue_key.rsplit("#", 1)[1] for hit in hits]


def _seed(store: TutorialStore, repo: str) -> None:
    store_tutorial(
        store,
        repo,
        1,
        issue_title="Crash when parsing dates",
        issue_body="The parser throws on leap years.",
        title="Fix the date parser",
        summary="Teach the parser about February 29th.",
        difficulty="intermediate",
        concepts=[("datetime", "Date and time", None)],
    )
    store_tutorial(
        store,
        repo,
        2,
        issue_title="Typo in the README",
        issue_body="Mentions a retry option that the parser never had.",
        title="Correct the README",
        summary="A one-line documentation change.",
        difficulty="beginner",
        concepts=[("documentation", "Documentation", None)],
    )
    store_tutorial(
        store,
        repo,
        3,
        issue_title="Retries for HTTP calls",
        issue_body="Transient errors should be retried with backoff.",
        title="Retry transient HTTP errors",
        summary="Wrap the client's send in a retry loop.",
        difficulty="advanced",
        junior_friendly=False,
        concepts=[("http-retries", "HTTP retries", "networking")],
    )


def test_searches_every_field_with_stemming(store: TutorialStore, search: TutorialSearch) -> None:
    repo = f"search-{uuid.uuid4().hex[:8]}"
    _seed(store, repo)
    assert _keys(search, text="leap", repo=f"octo-org/{repo}") == ["1"]  # issue body
    assert _keys(search, text="February", repo=f"octo-org/{repo}") == ["1"]  # summary
    assert _keys(search, text="date time", repo=f"octo-org/{repo}") == ["1"]  # concept name
    # A concept's parent is not the tutorial's concept.
    assert _keys(search, text="networking", repo=f"octo-org/{repo}") == []
    assert _keys(search, text="Documentation", repo=f"octo-org/{repo}") == ["2"]
    # Stemming: "retried", "retry", "retries" are one word; every word must match.
    assert set(_keys(search, text="retrying", repo=f"octo-org/{repo}")) == {"2", "3"}
    assert _keys(search, text="retrying backoff", repo=f"octo-org/{repo}") == ["3"]
    assert _keys(search, text="parser retry", repo=f"octo-org/{repo}") == ["2"]


def test_ranks_titles_above_bodies(store: TutorialStore, search: TutorialSearch) -> None:
    repo = f"rank-{uuid.uuid4().hex[:8]}"
    _seed(store, repo)
    # "retry" is in #3's titles and #2's issue body only: the title match ranks first.
    assert _keys(search, text="retry", repo=f"octo-org/{repo}") == ["3", "2"]
    hits, _ = search.search(TutorialQuery(text="retry", repo=f"octo-org/{repo}"))
    assert [h.concepts[0].slug for h in hits] == ["http-retries", "documentation"]


def test_filters_and_sorts_combine(store: TutorialStore, search: TutorialSearch) -> None:
    repo = f"filters-{uuid.uuid4().hex[:8]}"
    _seed(store, repo)
    store_tutorial(store, repo, 4, complete=False, issue_title="Pending one")
    mine = f"octo-org/{repo}"
    assert _keys(search, repo=mine, sort=Sort.EASIEST) == ["2", "1", "3", "4"]
    assert _keys(search, repo=mine, status="completed", junior_friendly=True) == ["2", "1"]
    assert _keys(search, repo=mine, junior_friendly=False) == ["3"]
    assert _keys(search, repo=mine, difficulty="advanced", concept="http-retries") == ["3"]
    assert _keys(search, repo=mine, difficulty="beginner", concept="http-retries") == []
    assert _keys(search, repo=mine, status="PENDING") == ["4"]
    assert _keys(search, repo=mine, text="pending") == ["4"]  # its issue title is indexed
    # Newest first by default; pages do not overlap.
    assert _keys(search, repo=mine) == ["4", "3", "2", "1"]
    assert _keys(search, repo=mine, limit=2, offset=2) == ["2", "1"]
    hits, total = search.search(TutorialQuery(repo=mine, limit=1, offset=1))
    assert total == 4
    assert len(hits) == 1


def test_index_follows_regeneration_and_sync(store: TutorialStore, search: TutorialSearch) -> None:
    repo = f"follow-{uuid.uuid4().hex[:8]}"
    tutorial_id = store_tutorial(store, repo, 1, title="About kumquats", concepts=[])
    assert _keys(search, text="kumquats") == ["1"]
    # A regeneration replaces the title and the concepts.
    store.complete(
        tutorial_id,
        title="About persimmons",
        markdown="# About persimmons",
        structured={"summary": "Nothing else."},
        difficulty="beginner",
        junior_friendly=True,
        concepts=[],
        generated_from=None,
    )
    assert _keys(search, text="kumquats") == []
    assert _keys(search, text="persimmons") == ["1"]
    # A sync that sees the issue edited re-indexes its title and body.
    ProjectStore(store.engine).track("octo-org", repo, ["good first issue"], 60)
    IssueStore(store.engine).record_issue(
        f"octo-org/{repo}",
        {"number": 1, "title": "Rambutan support", "body": "Lychee too.", "state": "open"},
        ["good first issue"],
    )
    assert _keys(search, text="rambutan lychee") == ["1"]
    assert _keys(search, text="greet") == []


def test_archived_tutorials_are_hidden_unless_asked(
    store: TutorialStore, search: TutorialSearch
) -> None:
    repo = f"archived-{uuid.uuid4().hex[:8]}"
    tutorial_id = store_tutorial(store, repo, 1, title="Quinces")
    with store.engine.begin() as connection:
        connection.execute(
            sa.update(TutorialContent)
            .where(col(TutorialContent.id) == tutorial_id)
            .values(archived_at=utcnow())
        )
    assert _keys(search, text="quinces") == []
    assert _keys(search, text="quinces", include_archived=True) == ["1"]


def test_hostile_queries_never_fail(store: TutorialStore, search: TutorialSearch) -> None:
    """FTS syntax and the Big List of Naughty Strings: each one answers, none raises."""
    repo = f"naughty-{uuid.uuid4().hex[:8]}"
    _seed(store, repo)
    naughty = json.loads(BLNS.read_text(encoding="utf-8"))
    fts_syntax = [
        '"',
        '""',
        "*",
        "NEAR(",
        "NEAR(a b, 2)",
        "-",
        "-parser",
        "parser -date",
        "title:parser",
        "parser OR date",
        "parser AND",
        "NOT",
        "^parser",
        "parser*",
        "(",
        ")",
        "a & b | !c <-> d",
        "'",
        "\\",
        "\x00",
        "parser\x00date",
        "%_%",
    ]
    for text in [*fts_syntax, *naughty]:
        search.search(TutorialQuery(text=text[:200], limit=5))
    # Syntax is text, not an operator: "-parser" finds what "parser" finds.
    assert _keys(search, text="-parser", repo=f"octo-org/{repo}") == _keys(
        search, text="parser", repo=f"octo-org/{repo}"
    )
    assert _keys(search, text="title:parser", repo=f"octo-org/{repo}") == []  # "title" too


def test_search_terms() -> None:
    assert search_terms('NEAR("a" b*) -c') == ["near", "a", "b", "c"]
    assert search_terms("Parser parser PARSER") == ["parser"]
    assert search_terms("***") == []
    assert len(search_terms(" ".join(f"w{i}" for i in range(100)))) == 16


def test_facets(store: TutorialStore, search: TutorialSearch) -> None:
    repo = f"facets-{uuid.uuid4().hex[:8]}"
    _seed(store, repo)
    repos = {f.value: f.count for f in search.repositories()}
    assert repos[f"octo-org/{repo}"] == 3
    concepts = {f.value: (f.label, f.count) for f in search.concepts()}
    assert concepts["http-retries"][0] == "HTTP retries"
    assert concepts["http-retries"][1] >= 1


def test_engine_reuse(database_url: str) -> None:
    """TutorialSearch reads through any engine: the API's reader engine is autocommit."""
    engine = make_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        assert TutorialSearch(engine).search(TutorialQuery(text="anything"))[1] >= 0
    finally:
        engine.dispose()
