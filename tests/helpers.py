"""Builders and waiting helpers shared by the tests (unit and end-to-end); no test imports
another test module."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import json
import os
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
import sqlalchemy as sa
from temporalio.client import Client

from fakes import FakeGitHub, FakeOpenAI
from issuesight.accounts.store import CLI, AccountStore, UserView
from issuesight.api.app import create_app
from issuesight.api.deps import Resources
from issuesight.context.bundle import ContextBundle
from issuesight.core.settings import Settings
from issuesight.db.engine import make_engine
from issuesight.db.models import Role
from issuesight.db.tutorials import ConceptInput, TutorialStore
from issuesight.domain.refs import make_ref
from issuesight.runtime.worker import run_worker
from issuesight.tutorial.schema import TutorialDraft
from issuesight.workflows.contracts import SyncOutcome, SyncRequest
from issuesight.workflows.sync import RepoSyncWorkflow
from tests.paths import FIXTURES as ALL_FIXTURES

OCTOKIT_WEBHOOKS = ALL_FIXTURES / "webhooks/octokit-webhooks"


async def submit_and_wait(stack: Stack, issue: str, *, within: float = 60.0) -> dict[str, Any]:
    """Submits `issue` through the API as a client would (202 expected) and returns the job's
    final status."""
    response = await stack.api.post("/api/v1/tutorials", json={"issue": issue})
    assert response.status_code == 202, response.text
    return await wait_finished(stack.api, response.json()["status_url"], within=within)


async def wait_finished(
    api: httpx.AsyncClient, status_url: str, *, within: float = 60.0
) -> dict[str, Any]:
    """Polls the status endpoint as a submitter would, until the job has finished."""
    deadline = asyncio.get_running_loop().time() + within
    body: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        response = await api.get(status_url)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["stage"] in ("done", "failed"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"not finished within {within}s; last status {body}")


# -- a draft and its context, as the pipeline hands them on (finalize, render, prompt) ---------


def make_draft(**overrides: Any) -> TutorialDraft:
    """A valid model answer (schema-checked as the LLM's would be): every required field, no
    files, red flags or concepts; `overrides` replace whole fields."""
    data: dict[str, Any] = {
        "title": "Fix the crash on empty config",
        "summary": "The CLI crashes when the config file is empty.",
        "difficulty": "beginner",
        "junior_friendly": True,
        "junior_friendly_reason": "Small, well-scoped change.",
        "prerequisites": [{"concept": "Python exceptions", "why": "The fix catches one."}],
        "architecture_overview": "cli.py reads config.py.",
        "files_to_read": [],
        "implementation_steps": ["Handle the empty file."],
        "how_to_test": ["Run pytest."],
        "questions_for_maintainers": ["Should an empty file be an error?"],
        "red_flags": [],
        "first_comment": "Hi! May I work on this?",
        "concepts": [],
    }
    data.update(overrides)
    return TutorialDraft.model_validate(data)


BUNDLE_COMMIT = "0123456789abcdef0123456789abcdef01234567"
BUNDLE_REPO_URL = "https://github.com/octo-org/hello-world"


def make_bundle(**overrides: Any) -> ContextBundle:
    """The context of `octo-org/hello-world#42` at BUNDLE_COMMIT: an issue with no comments,
    files or flags; `overrides` replace whole fields."""
    values: dict[str, Any] = {
        "issue_key": "octo-org/hello-world#42",
        "repo_full_name": "octo-org/hello-world",
        "repo_description": "",
        "repo_language": None,
        "repo_url": BUNDLE_REPO_URL,
        "commit_sha": BUNDLE_COMMIT,
        "issue_title": "t",
        "issue_body": "b",
        "issue_body_truncated": False,
        "issue_state": "open",
        "issue_url": "https://github.com/octo-org/hello-world/issues/42",
        "labels": [],
        "assignees": [],
        "author": "a",
        "created_at": None,
        "updated_at": None,
        "comments": [],
        "comments_total": 0,
        "readme": None,
        "contributing_path": None,
        "contributing": None,
        "files": [],
        "tree_outline": [],
        "tree_paths": [],
        "tree_truncated": False,
        "linked_pull_requests": [],
        "observed_flags": [],
        "fingerprint": "f" * 64,
        "budget_chars": 60_000,
    }
    values.update(overrides)
    return ContextBundle(**values)


# -- tutorials written straight to the store (search, pages) -----------------------------------


def structured_tutorial(**overrides: Any) -> dict[str, Any]:
    """A stored tutorial's structured fields, as tutorial.finalize makes them."""
    data: dict[str, Any] = {
        "title": "Make greet() accept None",
        "summary": "greet(None) raises a TypeError; it should greet a stranger instead.",
        "difficulty": "beginner",
        "junior_friendly": True,
        "junior_friendly_reason": "One function and one test.",
        "prerequisites": [{"concept": "Python functions", "why": "The fix is in one."}],
        "architecture_overview": "A single module, `src/hello/app.py`, holds `greet`.",
        "files_to_read": [
            {
                "path": "src/hello/app.py",
                "why": "Where greet lives.",
                "url": "https://github.com/octo-org/hello/blob/abc123/src/hello/app.py",
            }
        ],
        "unverified_paths": [],
        "implementation_steps": ["Handle `None` in greet.", "Add a test."],
        "how_to_test": ["Run `make test`."],
        "questions_for_maintainers": ["Should None mean 'stranger'?"],
        "red_flags": [],
        "first_comment": "Hi! I'd like to fix this. Is 'Hello stranger' the wanted output?",
        "concepts": [],
    }
    data.update(overrides)
    return data


def store_tutorial(
    store: TutorialStore,
    repo: str,
    number: int,
    *,
    issue_title: str = "greet() crashes when name is None",
    issue_body: str = "Calling greet(None) crashes.",
    issue_state: str = "open",
    title: str = "Make greet() accept None",
    summary: str = "greet(None) raises a TypeError.",
    difficulty: str = "beginner",
    junior_friendly: bool = True,
    concepts: Sequence[tuple[str, str, str | None]] = (),
    complete: bool = True,
    commit_sha: str = "abc123def4567890",
    **structured: Any,
) -> uuid.UUID:
    """A tutorial for `octo-org/<repo>#<number>` written through the real TutorialStore, as the
    workflow's activities write it; `concepts` are (slug, name, parent slug)."""
    ref = make_ref("octo-org", repo, number)
    store.register_submission(ref)
    store.save_context(
        ref,
        repo={"full_name": f"octo-org/{repo}", "html_url": f"https://github.com/octo-org/{repo}"},
        issue={
            "number": number,
            "title": issue_title,
            "body": issue_body,
            "state": issue_state,
            "created_at": "2024-01-02T03:04:05Z",
            "updated_at": "2024-01-03T03:04:05Z",
        },
        bundle={},
        commit_sha=commit_sha,
        fingerprint="f" * 64,
        run_id="run-1",
    )
    if complete:
        store.complete(
            ref.tutorial_id,
            title=title,
            markdown=f"# {title}",
            structured=structured_tutorial(
                title=title,
                summary=summary,
                difficulty=difficulty,
                junior_friendly=junior_friendly,
                concepts=[
                    {
                        "slug": s,
                        "name": n,
                        "description": f"About {n}.",
                        "parent_slug": p,
                        "parent_name": p,
                    }
                    for s, n, p in concepts
                ],
                **structured,
            ),
            difficulty=difficulty,
            junior_friendly=junior_friendly,
            concepts=[ConceptInput(s, n, f"About {n}.", p, p) for s, n, p in concepts],
            generated_from=store.load_generation(ref.tutorial_id),
        )
    return ref.tutorial_id


def user_with_key(
    accounts: AccountStore, email: str, role: Role = Role.MEMBER, **user: Any
) -> tuple[UserView, dict[str, str]]:
    """A user and the headers that carry a fresh key of theirs."""
    made = accounts.create_user(email, role, actor=CLI)
    if user:
        made = accounts.update_user(made.id, actor=CLI, **user)
    _, key = accounts.create_key(made.id, "tests", actor=CLI)
    return made, bearer(key)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def metric(app_metrics: str, name: str, **labels: str) -> float:
    """A sample's value from Prometheus text, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in app_metrics.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        sample_name, _, sample_labels = sample.partition("{")
        if sample_name != name:
            continue
        got = ",".join(sorted(sample_labels.rstrip("}").split(","))) if sample_labels else ""
        if got == wanted:
            return float(value)
    return 0.0


# -- the pages' sign-in ------------------------------------------------------------------------


def form_value(html: str, name: str) -> str:
    """The value of a page's (first) hidden input `name`."""
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert match is not None, f"no {name} on the page"
    return match.group(1)


async def sign_in_with_key(
    client: httpx.AsyncClient, key: str, *, next_url: str = "/me"
) -> httpx.Response:
    """What a browser does: open the sign-in page (its cookie and form token), post the key."""
    form = await client.get("/signin")
    assert form.status_code == 200, form.text
    return await client.post(
        "/signin",
        data={"key": key, "signin_token": form_value(form.text, "signin_token"), "next": next_url},
    )


async def csrf_of(client: httpx.AsyncClient, path: str = "/me") -> str:
    """The synchronizer token the signed-in browser's forms carry."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return form_value(page.text, "csrf_token")


def signed_in_as(html: str) -> str | None:
    """Whom a page's header names as signed in."""
    match = re.search(r'Signed in as</span>\s*<a href="/me"[^>]*>([^<]+)</a>', html)
    return match.group(1) if match else None


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


def truncate_all(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            tables = ", ".join(
                f'"{t}"' for t in sa.inspect(connection).get_table_names() if t != "alembic_version"
            )
            connection.execute(sa.text(f"TRUNCATE {tables} CASCADE"))
    finally:
        engine.dispose()


def make_settings(
    *,
    database_url: str,
    temporal_address: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    retrieval_cache_dir: Path | None = None,
    **overrides: Any,
) -> Settings:
    # Any: Settings validates each field's type (a wrong override fails there, at run time).
    values: dict[str, Any] = {
        "retrieval_cache_dir": retrieval_cache_dir,
        "database_url": database_url,
        "temporal_address": temporal_address,
        "temporal_task_queue": f"test-{uuid.uuid4()}",
        "github_api_url": github.url,
        "github_token": GITHUB_TOKEN,
        "github_webhook_secret": WEBHOOK_SECRET,
        "openai_api_key": OPENAI_KEY,
        "openai_base_url": llm.url + "/v1",
        "llm_timeout_seconds": 10.0,
        "llm_max_attempts": 4,
        "prompt_budget_chars": 30_000,
        # Explicit: open (`make dev`'s mode, no quota or rate limit unless set) wherever
        # accounts are not the subject; the accounts tests pass auth_mode="keys".
        "auth_mode": "open",
        # Any Host: the tests' clients call the app by made-up names (issuesight.test, t,
        # api). tests/e2e/test_hosts.py checks the defaults, which refuse those in open mode.
        "allowed_hosts": ("*",),
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextmanager
def black_hole() -> Iterator[str]:
    """A loopback `host:port` that accepts connections and never answers: a stuck or
    black-holed server, which a closed port (refused at once) does not imitate."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:  # the listener was closed: the test is over
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        for connection in accepted:
            connection.close()
        thread.join(timeout=5)


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
        self.resources: Resources = self.app.state.resources
        self.store = self.resources.store
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
        await self.resources.close()


class MakeStack(Protocol):
    """The `make_stack` fixture: a Stack on `database_url` (its worker started unless
    `worker=False`), Settings fields overridden by keyword, closed when the test ends."""

    async def __call__(
        self, database_url: str, *, worker: bool = True, **overrides: Any
    ) -> Stack: ...


async def assert_eventually(
    check: Callable[[], object | Awaitable[object]], *, within: float = 30.0, interval: float = 0.1
) -> None:
    """Polls an async or sync predicate (it may also raise AssertionError) until it holds."""
    deadline = asyncio.get_running_loop().time() + within
    last: BaseException | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result is not False:
                return
        except AssertionError as exc:
            last = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s") from last


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def issue_delivery(github: FakeGitHub, repo: str, action: str = "opened") -> bytes:
    """A real octokit `issues` payload pointed at our fake repository's issue #1."""
    payload: dict[str, Any] = json.loads(
        (OCTOKIT_WEBHOOKS / f"issues/{action}.payload.json").read_text()
    )
    current = current_issue(github, repo)
    fake = github.repo(f"Octo-Org/{repo}")
    payload["repository"].update(
        full_name=f"Octo-Org/{repo}",
        private=fake.private,
        visibility=fake.visibility or ("private" if fake.private else "public"),
    )
    payload["repository"]["owner"]["login"] = fake.owner
    payload["issue"].update(
        {k: current[k] for k in ("number", "title", "body", "labels", "state", "updated_at", "id")}
    )
    return json.dumps(payload).encode()


async def deliver(
    stack: Stack,
    body: bytes,
    *,
    event: str = "issues",
    delivery: str | None = None,
    signature: str | None = "sign",
) -> httpx.Response:
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    if signature == "sign":
        headers["X-Hub-Signature-256"] = sign(body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return await stack.api.post("/api/v1/webhooks/github", content=body, headers=headers)


async def run_sync(client: Client, settings: Settings, repo: str) -> SyncOutcome:
    outcome: SyncOutcome = await client.execute_workflow(
        RepoSyncWorkflow.run,
        SyncRequest(
            repo=f"octo-org/{repo}",
            max_in_flight=3,
            rate_limit_floor=settings.sync_rate_limit_floor,
            regenerate_stale=settings.stale_policy == "regenerate",
        ),
        id=f"test-sync-{uuid.uuid4()}",
        task_queue=settings.temporal_task_queue,
    )
    return outcome


def spend_llm_budget(stack: Stack, tokens: int) -> None:
    """Usage as an earlier generation would have recorded it (the ledger the budget reads)."""
    from issuesight.db.engine import session_scope
    from issuesight.db.models import LLMUsage
    from issuesight.domain.refs import make_ref as ref_of

    spender = ref_of("octo-org", f"spender-{uuid.uuid4().hex[:6]}", 1)
    stack.store.register_submission(spender)
    with session_scope(stack.store.engine) as session:
        session.add(LLMUsage(tutorial_id=spender.tutorial_id, run_id="earlier", tokens=tokens))


def start_worker(
    settings: Settings, cwd: Path, log: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "issuesight", "worker"],
        env={**worker_env(settings), **(extra_env or {})},
        cwd=cwd,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def current_issue(github: FakeGitHub, repo: str) -> dict[str, Any]:
    """The issue as the fake GitHub serves it now, so the delivery matches the API's view
    (read with the token, as the worker reads it: a private repository's issue too)."""
    response = httpx.get(
        f"{github.url}/repos/Octo-Org/{repo}/issues/1",
        headers={"Authorization": f"Bearer {GITHUB_TOKEN}"},
    )
    issue: dict[str, Any] = response.json()
    return issue


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GITHUB"))}
    env.update(
        {
            "DATABASE_URL": settings.database_url,
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
            "GITHUB_API_URL": settings.github_api_url,
            "GITHUB_TOKEN": settings.github_token.get_secret_value()
            if settings.github_token
            else "",
            "OPENAI_API_KEY": settings.openai_api_key.get_secret_value()
            if settings.openai_api_key
            else "",
            "OPENAI_BASE_URL": settings.openai_base_url or "",
            "LLM_TIMEOUT_SECONDS": str(settings.llm_timeout_seconds),
            "PROMPT_BUDGET_CHARS": str(settings.prompt_budget_chars),
        }
    )
    return env
