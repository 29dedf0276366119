"""Shared fixtures: a real Temporal dev server for the session, real databases (SQLite and
PostgreSQL), and GitHub and the LLM faked at the network edge."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from fakes import BackgroundServer, FakeGitHub, FakeGitHubOAuth, FakeOpenAI
from issuesight.db.engine import make_engine
from issuesight.db.migrate import upgrade
from issuesight.db.tutorials import TutorialStore
from issuesight.runtime.dev import temporal_binary
from issuesight.workflows.search_attributes import ALL as SEARCH_ATTRIBUTES
from tests.browser import chromium
from tests.helpers import (
    GITHUB_TOKEN,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    OPENAI_KEY,
    POSTGRES_ADMIN_URL,
    REQUIRE_POSTGRES,
    MakeStack,
    Stack,
    make_settings,
    truncate_all,
)
from tests.servers import PrivatePostgres, private_postgres


@pytest.fixture(scope="session")
def retrieval_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where workers keep repository archives: never the checkout's .issuesight/."""
    return tmp_path_factory.mktemp("retrieval-cache")


# -- Temporal ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    target: str = temporal_env.client.service_client.config.target_host
    return target


# -- databases --------------------------------------------------------------------------------


def _postgres_available() -> bool:
    engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if not _postgres_available():
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " and ISSUESIGHT_REQUIRE_POSTGRES=1 (CI) requires it")
        warnings.warn(message + ": PostgreSQL tests are SKIPPED", stacklevel=1)
        pytest.skip(message)
    name = f"issuesight_test_{os.getpid()}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs on both backends."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'issuesight.db'}"
        upgrade(url)
        return url
    url = str(request.getfixturevalue("postgres_url"))
    truncate_all(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For tests whose subject is not the database: the embedded default only."""
    url = f"sqlite:///{tmp_path / 'issuesight.db'}"
    upgrade(url)
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[TutorialStore]:
    engine = make_engine(database_url)
    yield TutorialStore(engine)
    engine.dispose()


# -- network-edge fakes -----------------------------------------------------------------------


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(token=GITHUB_TOKEN)
    with BackgroundServer(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(api_key=OPENAI_KEY)
    with BackgroundServer(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def github_oauth() -> Iterator[FakeGitHubOAuth]:
    """GitHub's OAuth web flow and its /user reads, alone on a server (Enterprise's layout:
    the flow at the root, the API under /api/v3)."""
    fake = FakeGitHubOAuth(client_id=OAUTH_CLIENT_ID, client_secret=OAUTH_CLIENT_SECRET)
    with BackgroundServer(fake.app) as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL of the test's own, to stop, restart or kill (never the shared one)."""
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the session's browser tests (tests/browser.py)."""
    async with chromium() as launched:
        yield launched


@pytest.fixture
def repo_name() -> str:
    """A repository name no other test uses: workflow IDs derive from issue keys, and every test
    shares the session's Temporal server."""
    return f"Hello-World-{uuid.uuid4().hex[:10]}"


# -- the stack --------------------------------------------------------------------------------


@pytest.fixture
async def make_stack(
    temporal_client: Client,
    temporal_address: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    retrieval_cache: Path,
) -> AsyncIterator[MakeStack]:
    stacks: list[Stack] = []

    async def factory(database_url: str, *, worker: bool = True, **overrides: Any) -> Stack:
        overrides.setdefault("retrieval_cache_dir", retrieval_cache)
        settings = make_settings(
            database_url=database_url,
            temporal_address=temporal_address,
            github=github,
            llm=llm,
            **overrides,
        )
        stack = Stack(settings, temporal_client)
        if worker:
            stack.start_worker()
        stacks.append(stack)
        return stack

    yield factory
    for stack in stacks:
        await stack.close()
