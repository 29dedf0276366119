"""The status routes' PostgreSQL read (db.status_reader): the same view as
TutorialStore.get_tutorial, in UTC whatever the session's time zone, one retry when PostgreSQL
dropped its connection, and a prompt error (503 at the API) when PostgreSQL is away."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from psycopg_pool import PoolTimeout

from fakes import FakeGitHub, FakeOpenAI
from issuesight.api.app import create_app
from issuesight.api.routes.tutorials import render_tutorial
from issuesight.core import metrics
from issuesight.db import status_reader
from issuesight.db.engine import make_engine
from issuesight.db.renderings import RenderedTutorial
from issuesight.db.status_reader import APPLICATION_NAME, PostgresTutorialReader
from issuesight.db.tutorials import ConceptInput, TutorialStore, TutorialView
from issuesight.domain.refs import make_ref
from tests.helpers import make_settings, truncate_all

# A zone far from UTC: a reader that passed the session's offset through would show it.
KOLKATA = "?options=-c%20TimeZone%3DAsia/Kolkata"
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/issuesight"


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[TutorialStore]:
    truncate_all(postgres_url)
    engine = make_engine(postgres_url)
    yield TutorialStore(engine)
    engine.dispose()


@pytest.fixture
async def reader(postgres_url: str) -> AsyncIterator[PostgresTutorialReader]:
    reader = PostgresTutorialReader(postgres_url + KOLKATA, connections=2)
    yield reader
    await reader.close()


def _completed(store: TutorialStore, number: int = 7) -> uuid.UUID:
    tutorial_id = store.register_submission(make_ref("octo-org", "reads", number)).content.id
    store.complete(
        tutorial_id,
        title="Fix greet()",
        markdown="# Fix greet()",
        structured={"summary": "s", "steps": ["read", "fix"]},
        difficulty="beginner",
        junior_friendly=True,
        concepts=[
            ConceptInput("event-loop", "Event loop", "", None, None),
            ConceptInput("async-io", "Async I/O", "", None, None),
        ],
        generated_from=None,
    )
    return tutorial_id


async def test_the_postgres_read_builds_the_same_view_as_the_store(
    pg_store: TutorialStore, reader: PostgresTutorialReader
) -> None:
    tutorial_id = _completed(pg_store)
    expected = pg_store.get_tutorial(tutorial_id)
    assert expected is not None
    assert expected.content.status == "COMPLETED"

    view = await reader.get(tutorial_id)

    assert view == expected
    assert view.concepts == ["async-io", "event-loop"]
    assert view.content.structured == {"summary": "s", "steps": ["read", "fix"]}
    assert view.content.created_at.utcoffset() == expected.content.created_at.utcoffset()
    assert str(view.content.created_at.tzinfo) == "UTC"
    assert await reader.get(uuid.uuid4()) is None


def _execute(postgres_url: str, sql: str, **params: object) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(sql), params)
    finally:
        engine.dispose()


async def test_a_rendering_is_kept_until_its_row_changes(
    pg_store: TutorialStore, reader: PostgresTutorialReader, postgres_url: str
) -> None:
    tutorial_id = _completed(pg_store)
    renders: list[uuid.UUID] = []

    def counting_render(view: TutorialView) -> RenderedTutorial:
        renders.append(view.content.id)
        return render_tutorial(view)

    first = await reader.get_rendered(tutorial_id, counting_render)
    again = await reader.get_rendered(tutorial_id, counting_render)
    assert first is not None
    assert again is first
    assert renders == [tutorial_id]
    expected = pg_store.get_tutorial(tutorial_id)
    assert expected is not None
    assert first == render_tutorial(expected)

    # A column changed without updated_at: the key is the whole row, not a timestamp.
    rename = "UPDATE tutorial_contents SET title = 'Renamed' WHERE id = :id"
    _execute(postgres_url, rename, id=tutorial_id)
    renamed = await reader.get_rendered(tutorial_id, counting_render)
    assert renamed is not None
    assert b'"title":"Renamed"' in renamed.body
    assert renamed.etag != first.etag

    # A change in a joined table (its concept tags) is part of the row too.
    _execute(
        postgres_url,
        "DELETE FROM tutorial_concepts WHERE content_id = :id AND concept_id = "
        "(SELECT id FROM concepts WHERE slug = 'async-io')",
        id=tutorial_id,
    )
    retagged = await reader.get_rendered(tutorial_id, counting_render)
    assert retagged is not None
    assert b'"concepts":["event-loop"]' in retagged.body
    assert renders == [tutorial_id] * 3
    assert await reader.get_rendered(uuid.uuid4(), counting_render) is None


async def test_a_tutorial_still_pending_reads_and_renders_as_the_store_does(
    pg_store: TutorialStore, reader: PostgresTutorialReader
) -> None:
    """What every poller sees first: no structured JSON (NULL) and no concept tags."""
    tutorial_id = pg_store.register_submission(make_ref("octo-org", "reads", 9)).content.id
    expected = pg_store.get_tutorial(tutorial_id)
    assert expected is not None
    assert expected.content.structured is None
    assert expected.content.status != "COMPLETED"

    view = await reader.get(tutorial_id)
    rendered = await reader.get_rendered(tutorial_id, render_tutorial)

    assert view == expected
    assert view.concepts == []
    assert rendered == render_tutorial(expected)
    assert rendered is not None
    assert b'"tutorial":null' in rendered.body


def _batches_seen() -> tuple[float, float]:
    """(statements, ids asked for) so far, from the batch-size histogram /metrics exposes."""
    samples = {s.name: s.value for m in metrics.STATUS_READ_BATCH.collect() for s in m.samples}
    return (
        samples["issuesight_status_read_batch_size_count"],
        samples["issuesight_status_read_batch_size_sum"],
    )


@pytest.fixture
async def one_statement_reader(postgres_url: str) -> AsyncIterator[PostgresTutorialReader]:
    """One connection: a second read arriving while a statement is in flight has to wait."""
    reader = PostgresTutorialReader(postgres_url, connections=1)
    yield reader
    await reader.close()


async def test_a_read_alone_is_a_statement_of_its_own(
    pg_store: TutorialStore, one_statement_reader: PostgresTutorialReader
) -> None:
    first, second = _completed(pg_store, 1), _completed(pg_store, 2)
    statements, ids = _batches_seen()

    for tutorial_id in (first, second, first):
        view = await one_statement_reader.get(tutorial_id)
        assert view is not None
        assert view.content.id == tutorial_id

    assert _batches_seen() == (statements + 3, ids + 3)


async def test_reads_that_wait_for_a_connection_share_the_next_statement(
    pg_store: TutorialStore, one_statement_reader: PostgresTutorialReader
) -> None:
    first, second, third = (_completed(pg_store, number) for number in (1, 2, 3))
    missing = uuid.uuid4()
    asked = (first, second, first, missing, third)
    statements, ids = _batches_seen()

    views = await asyncio.gather(*(one_statement_reader.get(i) for i in asked))

    assert [v.content.id if v else None for v in views] == [first, second, first, None, third]
    assert views == [pg_store.get_tutorial(i) for i in asked]
    # The first read went alone; the four that waited behind it went together, and the
    # repeated id among them was asked for once.
    assert _batches_seen() == (statements + 2, ids + 1 + 4)


async def test_a_batch_larger_than_the_limit_is_split(
    pg_store: TutorialStore,
    one_statement_reader: PostgresTutorialReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(status_reader, "MAX_BATCH", 2)
    wanted = [_completed(pg_store, number) for number in range(1, 7)]
    statements, ids = _batches_seen()

    views = await asyncio.gather(*(one_statement_reader.get(i) for i in wanted))

    assert [v.content.id if v else None for v in views] == wanted
    # One alone, then the five that waited in statements of 2, 2 and 1.
    assert _batches_seen() == (statements + 4, ids + 6)


async def test_a_read_whose_request_went_away_leaves_its_batch_answered(
    pg_store: TutorialStore, one_statement_reader: PostgresTutorialReader
) -> None:
    first, second, third = (_completed(pg_store, number) for number in (1, 2, 3))
    alone = asyncio.create_task(one_statement_reader.get(first))
    abandoned = asyncio.create_task(one_statement_reader.get(second))
    kept = asyncio.create_task(one_statement_reader.get(third))
    await asyncio.sleep(0)  # the first is in flight, the other two wait behind it
    abandoned.cancel()

    views = await asyncio.gather(alone, kept)

    assert [v.content.id if v else None for v in views] == [first, third]
    assert abandoned.cancelled()
    again = await one_statement_reader.get(second)
    assert again is not None
    assert again.content.id == second


async def test_a_connection_postgres_dropped_costs_a_retry_not_a_failed_read(
    pg_store: TutorialStore, reader: PostgresTutorialReader, postgres_url: str
) -> None:
    tutorial_id = _completed(pg_store)
    assert await reader.get(tutorial_id) is not None  # the pool now holds a live connection

    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            killed = connection.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": APPLICATION_NAME},
            ).scalar_one()
    finally:
        admin.dispose()
    assert killed >= 1

    view = await reader.get(tutorial_id)
    assert view is not None
    assert view.content.id == tutorial_id


async def test_postgres_away_is_a_prompt_error_not_a_hang() -> None:
    """The pool gives up after its wait (PoolTimeout), an OperationalError the API maps to 503;
    a hang would be stopped by the test's timeout instead."""
    reader = PostgresTutorialReader(UNREACHABLE, connections=1, connection_wait=0.5)
    try:
        with pytest.raises(PoolTimeout) as raised:
            await reader.get(uuid.uuid4())
    finally:
        await reader.close()
    assert isinstance(raised.value, psycopg.OperationalError)


async def test_a_failed_statement_fails_every_read_in_its_batch() -> None:
    reader = PostgresTutorialReader(UNREACHABLE, connections=1, connection_wait=0.5)
    statements, ids = _batches_seen()
    try:
        outcomes = await asyncio.gather(
            *(reader.get(uuid.uuid4()) for _ in range(4)), return_exceptions=True
        )
    finally:
        await reader.close()
    assert [type(outcome) for outcome in outcomes] == [PoolTimeout] * 4
    assert _batches_seen() == (statements + 2, ids + 4)  # one alone, three in a batch


@pytest.mark.parametrize(
    "broken_url",
    [UNREACHABLE, "sqlite:///{tmp}/missing-dir/x.db"],
    ids=["postgresql-away", "sqlite-unopenable"],
)
async def test_the_status_route_answers_503_when_the_database_is_unavailable(
    broken_url: str, tmp_path: object, github: FakeGitHub, llm: FakeOpenAI
) -> None:
    settings = make_settings(
        database_url=broken_url.format(tmp=tmp_path),
        temporal_address="127.0.0.1:9",
        github=github,
        llm=llm,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await client.get(f"/api/v1/tutorials/{uuid.uuid4()}")
            by_issue = await client.get("/api/v1/issues/octo-org/reads/7/tutorial")
    finally:
        await app.state.resources.close()
    for response in (answer, by_issue):
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "5"
        assert "database is unavailable" in response.json()["detail"]


def _metric(text: str, stat: str) -> float:
    prefix = f'issuesight_status_read_pool{{stat="{stat}"}} '
    line = next(line for line in text.splitlines() if line.startswith(prefix))
    return float(line.removeprefix(prefix))


async def test_metrics_show_the_status_pool_on_postgres(
    pg_store: TutorialStore, postgres_url: str, github: FakeGitHub, llm: FakeOpenAI
) -> None:
    tutorial_id = _completed(pg_store)
    settings = make_settings(
        database_url=postgres_url,
        temporal_address="127.0.0.1:9",
        github=github,
        llm=llm,
        status_read_connections=2,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    url = f"/api/v1/tutorials/{tutorial_id}"
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answers = await asyncio.gather(*(client.get(url) for _ in range(6)))
            exposed = (await client.get("/metrics")).text
    finally:
        await app.state.resources.close()
    assert [answer.status_code for answer in answers] == [200] * 6
    assert _metric(exposed, "pool_max") == 2  # STATUS_READ_CONNECTIONS
    assert 1 <= _metric(exposed, "pool_size") <= 2
    assert _metric(exposed, "requests_waiting") == 0
    # Six reads, at most two statements at once: some of them shared a statement.
    assert 2 <= _metric(exposed, "requests_num") < 6
    assert "issuesight_status_read_batch_size_bucket" in exposed
