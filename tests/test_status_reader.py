"""The status routes' PostgreSQL read (db.status_reader): the same view as Store.get_tutorial,
in UTC whatever the session's time zone, one retry when PostgreSQL dropped its connection, and a
prompt error (503 at the API) when PostgreSQL is away."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from psycopg_pool import PoolTimeout

from issuesight.api.app import create_app
from issuesight.db.engine import make_engine
from issuesight.db.status_reader import APPLICATION_NAME, PostgresTutorialReader
from issuesight.db.store import ConceptInput, Store
from issuesight.refs import make_ref
from tests.conftest import _truncate_all, make_settings
from tests.fakes import FakeGitHub, FakeOpenAI

# A zone far from UTC: a reader that passed the session's offset through would show it.
KOLKATA = "?options=-c%20TimeZone%3DAsia/Kolkata"
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/issuesight"


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[Store]:
    _truncate_all(postgres_url)
    engine = make_engine(postgres_url)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
async def reader(postgres_url: str) -> AsyncIterator[PostgresTutorialReader]:
    reader = PostgresTutorialReader(postgres_url + KOLKATA, connections=2)
    yield reader
    await reader.close()


def _completed(store: Store) -> uuid.UUID:
    tutorial_id = store.register_submission(make_ref("octo-org", "reads", 7)).content.id
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
    pg_store: Store, reader: PostgresTutorialReader
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


async def test_a_connection_postgres_dropped_costs_a_retry_not_a_failed_read(
    pg_store: Store, reader: PostgresTutorialReader, postgres_url: str
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
    pg_store: Store, postgres_url: str, github: FakeGitHub, llm: FakeOpenAI
) -> None:
    tutorial_id = _completed(pg_store)
    settings = make_settings(
        database_url=postgres_url, temporal_address="127.0.0.1:9", github=github, llm=llm
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for _ in range(3):
                assert (await client.get(f"/api/v1/tutorials/{tutorial_id}")).status_code == 200
            exposed = (await client.get("/metrics")).text
    finally:
        await app.state.resources.close()
    assert _metric(exposed, "pool_size") >= 1
    assert _metric(exposed, "requests_waiting") == 0
    assert _metric(exposed, "requests_num") >= 3
