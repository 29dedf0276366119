"""What the API depends on may hang rather than fail: a Temporal or a PostgreSQL that accepts
connections and never answers. Requests answer 503 within a bound instead of hanging, and a
statement PostgreSQL keeps running past the bound is cancelled."""

from __future__ import annotations

import time

import httpx
import pytest
import sqlalchemy as sa

from fakes import FakeGitHub, FakeOpenAI
from issuesight.api.app import create_app
from issuesight.db.engine import make_engine
from issuesight.orchestration.temporal_client import TemporalUnavailable, connect_temporal
from tests.helpers import black_hole, make_settings

BOUND = 1.0
# What a bounded answer may take beyond the bound: the app's own work on a loaded machine.
SLACK = 4.0


async def test_a_silent_temporal_gives_503_within_the_bound(
    sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI
) -> None:
    with black_hole() as address:
        settings = make_settings(
            database_url=sqlite_url,
            temporal_address=address,
            github=github,
            llm=llm,
            temporal_rpc_timeout_seconds=BOUND,
        )
        started = time.monotonic()
        with pytest.raises(TemporalUnavailable, match="did not answer"):
            await connect_temporal(settings)
        assert time.monotonic() - started < BOUND + SLACK

        app = create_app(settings)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://issuesight.test"
        ) as api:
            started = time.monotonic()
            answer = await api.post("/api/v1/tutorials", json={"issue": "octo-org/hello#7"})
            elapsed = time.monotonic() - started
        await app.state.resources.close()
    assert answer.status_code == 503
    assert elapsed < BOUND + SLACK


def _postgres_at(address: str) -> str:
    return f"postgresql+psycopg://postgres@{address}/issuesight"


def test_a_silent_database_fails_to_connect_within_the_bound() -> None:
    with black_hole() as address:
        engine = make_engine(_postgres_at(address), connect_timeout=BOUND)
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError), engine.connect():
            pass
        elapsed = time.monotonic() - started
        engine.dispose()
    assert elapsed < BOUND + SLACK


async def test_the_api_answers_503_when_the_database_is_silent(
    sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, temporal_address: str
) -> None:
    with black_hole() as address:
        settings = make_settings(
            database_url=_postgres_at(address),
            temporal_address=temporal_address,
            github=github,
            llm=llm,
            database_connect_timeout_seconds=BOUND,
        )
        app = create_app(settings)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://issuesight.test"
        ) as api:
            started = time.monotonic()
            listing = await api.get("/api/v1/tutorials")
            elapsed = time.monotonic() - started
        await app.state.resources.close()
    assert listing.status_code == 503
    assert elapsed < BOUND + SLACK


def test_a_statement_past_the_bound_is_cancelled(postgres_url: str) -> None:
    engine = make_engine(postgres_url, statement_timeout=BOUND)
    started = time.monotonic()
    with pytest.raises(sa.exc.OperationalError, match="statement timeout"), engine.connect() as c:
        c.execute(sa.text("SELECT pg_sleep(30)"))
    assert time.monotonic() - started < BOUND + SLACK
    with engine.connect() as connection:  # the connection is usable again
        assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
    engine.dispose()
    unbounded = make_engine(postgres_url, statement_timeout=0)
    with unbounded.connect() as connection:
        assert connection.execute(sa.text("SHOW statement_timeout")).scalar_one() == "0"
    unbounded.dispose()
