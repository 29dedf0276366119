"""The pieces the figures share: a real Temporal dev server, real databases, GitHub and the LLM
faked as local HTTP servers (fakes/), worker processes, submitting and waiting."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from fakes import BackgroundServer, FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.accounts.principal import Requester
from issuesight.accounts.store import AccountStore
from issuesight.core.settings import Settings
from issuesight.db.migrate import upgrade
from issuesight.db.tutorials import TutorialStore
from issuesight.domain.refs import IssueRef, make_ref
from issuesight.orchestration.submission import submit_issue
from issuesight.runtime.dev import temporal_binary
from issuesight.workflows.contracts import TutorialOutcome
from issuesight.workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get(
    "ISSUESIGHT_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# Made-up, built at run time so no tracked file holds a token-shaped literal.
GITHUB_TOKEN = "ghp_" + "benchtoken" + "0" * 26 + "1"
OPENAI_KEY = "sk-bench-openai-key-000000000000000000001"
OWNER = "Octo-Org"


# -- Temporal -----------------------------------------------------------------------------------


@asynccontextmanager
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A real dev server (the same binary and search attributes as the test suite)."""
    with _banner_silenced():
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_binary(),
            search_attributes=SEARCH_ATTRIBUTES,
            dev_server_log_level="error",
        )
    try:
        yield env
    finally:
        await env.shutdown()


@contextmanager
def _banner_silenced() -> Iterator[None]:
    """The dev server prints a banner on the stdout it inherits; give it /dev/null instead."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def address(client: Client) -> str:
    target: str = client.service_client.config.target_host
    return target


async def pollers(client: Client, task_queue: str) -> set[str]:
    """Identities polling `task_queue` for activities (a worker polls as soon as it runs)."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    response = await client.workflow_service.describe_task_queue(request)
    return {p.identity for p in response.pollers}


async def wait_for_worker(
    client: Client, task_queue: str, process: subprocess.Popen[bytes], *, within: float = 60.0
) -> None:
    """Until the worker process polls `task_queue` (identities are "pid@host")."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker {process.pid} exited with {process.returncode}")
        if any(i.startswith(f"{process.pid}@") for i in await pollers(client, task_queue)):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"worker {process.pid} did not poll {task_queue} within {within}s")


# -- databases ----------------------------------------------------------------------------------


def sqlite_url(directory: Path) -> str:
    url = f"sqlite:///{directory / 'issuesight.db'}"
    upgrade(url)
    return url


@contextmanager
def postgres_database(name: str = "issuesight_bench") -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped at the end."""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def scalar(url: str, sql: str) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


# -- the network edge ---------------------------------------------------------------------------


@dataclass
class Fakes:
    github: FakeGitHub
    llm: FakeOpenAI


class NoDelayServer(BackgroundServer):
    """BackgroundServer with Nagle's algorithm off, as uvicorn has it when it binds the port.

    BackgroundServer binds its own socket without naming the protocol (proto 0), so asyncio does
    not set TCP_NODELAY on accepted connections; uvicorn writes a response's head and body
    separately, and the body then waits for the client's delayed ACK: about 40 ms per request.
    Accepted sockets inherit the option from the listening one."""

    def _serve(self, server: Any, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super()._serve(server, sock)


@contextmanager
def fakes() -> Iterator[Fakes]:
    """GitHub and the LLM as local HTTP servers, each in a thread of this process."""
    github = FakeGitHub(token=GITHUB_TOKEN)
    # GitHub's 5000 requests an hour would stop a run midway (300 tutorials take 3300): the
    # worker then rightly waits for the reset, an hour away. The figures measure other things.
    github.set_rate_limit(limit=10_000_000)
    llm = FakeOpenAI(api_key=OPENAI_KEY)
    with NoDelayServer(github.app) as gh_server, NoDelayServer(llm.app) as llm_server:
        github.url = gh_server.url
        llm.url = llm_server.url
        yield Fakes(github, llm)


def seed_issues(github: FakeGitHub, count: int) -> list[IssueRef]:
    """A fresh repository with `count` hello-world issues (each names a file in its traceback)."""
    repo = f"Bench-{uuid.uuid4().hex[:10]}"
    numbers = range(1, count + 1)
    for number in numbers:
        seed_hello_world(github, repo, number=number, title=f"greet() crashes, case {number}")
    return [make_ref(OWNER, repo, n) for n in numbers]


def make_settings(
    *, database_url: str, temporal_address: str, fake: Fakes, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "temporal_address": temporal_address,
        "temporal_task_queue": f"bench-{uuid.uuid4()}",
        "github_api_url": fake.github.url,
        "github_token": GITHUB_TOKEN,
        "openai_api_key": OPENAI_KEY,
        "openai_base_url": fake.llm.url + "/v1",
        # The benchmarks measure generation, not accounts: `make dev`'s open mode.
        "auth_mode": "open",
        # Archives stay in memory: a benchmark writes nothing into the checkout.
        "retrieval_cache_dir": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


# -- worker processes ---------------------------------------------------------------------------


def worker_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GITHUB", "LLM_"))}
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "GITHUB_API_URL": settings.github_api_url,
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE_URL": settings.openai_base_url or "",
            "LLM_TIMEOUT_SECONDS": str(settings.llm_timeout_seconds),
            "LLM_MAX_ATTEMPTS": str(settings.llm_max_attempts),
            "PROMPT_BUDGET_CHARS": str(settings.prompt_budget_chars),
            # The worker runs in a scratch directory (no stray .env); bench._worker needs ROOT.
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra or {})
    return env


def start_worker(
    settings: Settings,
    log: Path,
    *,
    module: str = "issuesight",
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """`python -m issuesight worker` (or a bench wrapper of it) in its own process."""
    args = [sys.executable, "-m", module] + (["worker"] if module == "issuesight" else [])
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            env=worker_env(settings, extra_env),
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop_worker(process: subprocess.Popen[bytes], *, timeout: float = 30.0) -> int | None:
    """SIGTERM (graceful shutdown), then SIGKILL if it does not end in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


# -- submitting and waiting ---------------------------------------------------------------------


async def submit_all(
    refs: Sequence[IssueRef], *, store: TutorialStore, client: Client, settings: Settings
) -> None:
    """Every issue through submission.submit_issue (the API's path, as open mode's local user
    asks), all at once."""
    accounts = AccountStore(store.engine)
    local = await asyncio.to_thread(accounts.ensure_local_user)
    requester = Requester.user(local, default_limit=settings.daily_generation_limit)
    await asyncio.gather(
        *(
            submit_issue(
                ref,
                store=store,
                accounts=accounts,
                client=client,
                settings=settings,
                requester=requester,
            )
            for ref in refs
        )
    )


async def wait_all(
    client: Client, refs: Sequence[IssueRef], *, within: float = 600.0
) -> list[TutorialOutcome | None]:
    """Each workflow's outcome (None for a failed one), bounded by `within` seconds."""

    async def one(ref: IssueRef) -> TutorialOutcome | None:
        handle = client.get_workflow_handle(ref.workflow_id, result_type=TutorialOutcome)
        try:
            outcome: TutorialOutcome = await handle.result()
        except WorkflowFailureError:
            return None
        return outcome

    tasks = [asyncio.create_task(one(r)) for r in refs]
    _, pending = await asyncio.wait(tasks, timeout=within)
    for task in pending:
        task.cancel()
    if pending:
        raise TimeoutError(f"{len(pending)} of {len(refs)} workflows unfinished after {within:g} s")
    return [task.result() for task in tasks]


async def wait_until(check: Any, *, within: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        await asyncio.sleep(interval)
    return False
