"""Shared fixtures: a real Temporal dev server for the session, real databases (SQLite and
PostgreSQL), and GitHub and the LLM faked at the network edge."""

from __future__ import annotations

import asyncio
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from issuesight.api.app import create_app
from issuesight.core.settings import Settings
from issuesight.db.engine import make_engine
from issuesight.db.migrate import upgrade
from issuesight.db.tutorials import TutorialStore
from issuesight.runtime.dev import temporal_binary
from issuesight.runtime.worker import run_worker
from issuesight.workflows.search_attributes import ALL as SEARCH_ATTRIBUTES
from tests.fakes import BackgroundServer, FakeGitHub, FakeGitHubOAuth, FakeOpenAI

POSTGRES_ADMIN_URL = os.environ.get(
    "ISSUESIGHT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("ISSUESIGHT_REQUIRE_POSTGRES") == "1"
# Made-up, built at run time so no tracked file holds a token-shaped literal.
GITHUB_TOKEN = "ghp_" + "testtoken" + "0" * 26 + "1"
OPENAI_KEY = "sk-test-openai-key-0000000000000000000001"
WEBHOOK_SECRET = "webhook-secret-for-tests-0001"
OAUTH_CLIENT_ID = "Ov23liTestClient0001"
OAUTH_CLIENT_SECRET = "oauth-client-secret-for-tests-" + "0" * 10 + "1"


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


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            tables = ", ".join(
                f'"{t}"' for t in sa.inspect(connection).get_table_names() if t != "alembic_version"
            )
            connection.execute(sa.text(f"TRUNCATE {tables} CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs on both backends."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'issuesight.db'}"
        upgrade(url)
        return url
    url = str(request.getfixturevalue("postgres_url"))
    _truncate_all(url)
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
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(api_key=OPENAI_KEY)
    with BackgroundServer(fake.app) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def github_oauth() -> Iterator[FakeGitHubOAuth]:
    """GitHub's OAuth web flow and its /user reads, alone on a server (Enterprise's layout:
    the flow at the root, the API under /api/v3)."""
    fake = FakeGitHubOAuth(client_id=OAUTH_CLIENT_ID, client_secret=OAUTH_CLIENT_SECRET)
    with BackgroundServer(fake.app) as server:
        fake.url = server.url  # type: ignore[attr-defined]
        yield fake


@pytest.fixture
def repo_name() -> str:
    """A repository name no other test uses: workflow IDs derive from issue keys, and every test
    shares the session's Temporal server."""
    return f"Hello-World-{uuid.uuid4().hex[:10]}"


# -- the stack --------------------------------------------------------------------------------


def make_settings(
    *,
    database_url: str,
    temporal_address: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    retrieval_cache_dir: Path | None = None,
    **overrides: object,
) -> Settings:
    values: dict[str, object] = {
        "retrieval_cache_dir": retrieval_cache_dir,
        "database_url": database_url,
        "temporal_address": temporal_address,
        "temporal_task_queue": f"test-{uuid.uuid4()}",
        "github_api_url": github.url,  # type: ignore[attr-defined]
        "github_token": GITHUB_TOKEN,
        "github_webhook_secret": WEBHOOK_SECRET,
        "openai_api_key": OPENAI_KEY,
        "openai_base_url": llm.url + "/v1",  # type: ignore[attr-defined]
        "llm_timeout_seconds": 10.0,
        "llm_max_attempts": 4,
        "prompt_budget_chars": 30_000,
        # Explicit: open (`make dev`'s mode, no quota or rate limit unless set) wherever
        # accounts are not the subject; the accounts tests pass auth_mode="keys".
        "auth_mode": "open",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Stack:
    """A worker (in this process) and the API (real FastAPI app through httpx) on one task
    queue of the session's Temporal server."""

    def __init__(self, settings: Settings, client: Client) -> None:
        self.settings = settings
        self.client = client
        self.app = create_app(settings, temporal=client)
        self.api = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://issuesight.test"
        )
        self.store = self.app.state.resources.store
        self._stop = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    def start_worker(self) -> None:
        self._stop = asyncio.Event()
        self._worker = asyncio.create_task(
            run_worker(self.settings, self._stop, client=self.client)
        )

    async def stop_worker(self) -> None:
        if self._worker is not None:
            self._stop.set()
            await self._worker
            self._worker = None

    async def close(self) -> None:
        await self.stop_worker()
        await self.api.aclose()
        await self.app.state.resources.close()


@pytest.fixture
async def make_stack(
    temporal_client: Client,
    temporal_address: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    retrieval_cache: Path,
) -> AsyncIterator[object]:
    stacks: list[Stack] = []

    async def factory(database_url: str, *, worker: bool = True, **overrides: object) -> Stack:
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


async def assert_eventually(check: object, *, within: float = 30.0, interval: float = 0.1) -> None:
    """Polls an async or sync predicate (it may also raise AssertionError) until it holds."""
    deadline = asyncio.get_running_loop().time() + within
    last: BaseException | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            result = check()  # type: ignore[operator]
            if asyncio.iscoroutine(result):
                result = await result
            if result is not False:
                return
        except AssertionError as exc:
            last = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s") from last
