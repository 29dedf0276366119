"""The OpenAPI document describes the real API: schemathesis, driven by the app's own
/openapi.json, sends generated requests to the real app over real HTTP (uvicorn, every
middleware, SQLite, the session's Temporal dev server, a worker; GitHub and the LLM faked at the
network edge) and checks every answer against the document.

All of schemathesis' checks, all of its phases (explicit examples, coverage of each
constraint's edges, fuzzing, and the stateful phase that follows the document's links, e.g.
track a project, then read, pause, sync and delete it). Seeded and bounded, so a run is
repeatable and takes a couple of minutes. 0 failures: a status, header or body the document
does not describe, a schema-valid request refused or a schema-invalid one accepted, fails it.

Run it alone with `.venv/bin/pytest tests/e2e/test_openapi_conformance.py -q`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from temporalio.client import Client

from fakes import BackgroundServer, FakeGitHub, FakeOpenAI
from issuesight.accounts.store import AccountStore
from issuesight.api.app import create_app
from issuesight.core.settings import Settings
from issuesight.db.engine import make_engine
from issuesight.db.models import Role
from issuesight.runtime.worker import run_worker
from tests.helpers import make_settings, user_with_key
from tests.paths import ROOT

# Fixed, so that a failure is reproduced by running the test again.
SEED = 20261202
MAX_EXAMPLES = 30
PHASES = ("examples", "coverage", "fuzzing", "stateful")


def _config(headers: dict[str, str]) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": headers,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
            "checks": {"enabled": True},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": 30},
            },
            "request-timeout": 30,
        }
    )


def _run(url: str, headers: dict[str, str]) -> tuple[list[str], Counter[str]]:
    """Every failure schemathesis found, and how many scenarios each phase ran."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=_config(headers))
    schema.config.update(base_url=url)
    failures: set[str] = set()
    phases: Counter[str] = Counter()
    for event in from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            raise AssertionError(f"schemathesis stopped: {event.exception!r}")
        if isinstance(event, events.NonFatalError):
            failures.add(f"error in {event.label}: {event.value!r}")
        if isinstance(event, events.ScenarioFinished):
            phases[event.phase.value] += 1
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    info = check.failure_info
                    if info is None:
                        continue
                    failure = info.failure
                    case = event.recorder.cases[case_id].value
                    failures.add(
                        f"{failure.operation or event.recorder.label} [{check.name}] "
                        f"{failure.title}: {failure.message.strip()[:400]}\n"
                        f"    {case.method} {case.formatted_path} {case.body!r:.300} → "
                        f"{_status(event.recorder, case_id)}"
                    )
    return sorted(failures), phases


def _status(recorder: Any, case_id: str) -> str:
    interaction = recorder.interactions.get(case_id)
    if interaction is None or interaction.response is None:
        return "no response"
    response = interaction.response
    return f"{response.status_code} {response.content[:300]!r}"


@pytest.fixture
def serve(
    sqlite_url: str,
    temporal_address: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    retrieval_cache: Path,
) -> Iterator[Any]:
    """The app on a real uvicorn of its own (it connects to Temporal itself, in its own loop)."""

    def start(**overrides: object) -> tuple[Settings, BackgroundServer]:
        settings = make_settings(
            database_url=sqlite_url,
            temporal_address=temporal_address,
            github=github,
            llm=llm,
            retrieval_cache_dir=retrieval_cache,
            **overrides,
        )
        server = BackgroundServer(create_app(settings)).start()
        servers.append(server)
        return settings, server

    servers: list[BackgroundServer] = []
    yield start
    for server in servers:
        server.stop()


async def _conformance(
    settings: Settings, url: str, client: Client, headers: dict[str, str]
) -> None:
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop, client=client))
    # schemathesis runs in a process of its own, not a thread: CPython 3.11 keeps the ast
    # module's recursion counter per interpreter, not per thread, so ast.parse in two threads
    # at once (hypothesis describing a strategy; traceback formatting, which parses the
    # failing line for its carets, when the worker logs a failed activity) can raise
    # "SystemError: AST constructor recursion depth mismatch", as it did in CI. A plain
    # child process, awaited: multiprocessing's spawn would also leave its resource tracker
    # running until pytest exits, writing its coverage data after the suite's was combined.
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.e2e.test_openapi_conformance",
            url,
            json.dumps(headers),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await child.communicate()
        assert child.returncode == 0, err.decode(errors="replace")[-4000:]
        answer = json.loads(out.decode().splitlines()[-1])  # the last line: the answer
        failures, phases = answer["failures"], Counter(answer["phases"])
    finally:
        stop.set()
        await worker
    # Every phase ran scenarios: the stateful one too (it needs the links schemathesis infers).
    assert all(phases[phase] > 0 for phase in PHASES), phases
    print(f"schemathesis scenarios by phase: {dict(phases)}")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)


@pytest.mark.timeout(600)
async def test_open_mode_answers_as_documented(serve: Any, temporal_client: Client) -> None:
    settings, server = serve()
    await _conformance(settings, server.url, temporal_client, {})


@pytest.mark.timeout(600)
async def test_keys_mode_answers_as_documented(serve: Any, temporal_client: Client) -> None:
    """With an admin's key, so that the admin routes are exercised, not only refused; the
    write rate limit off, so that it does not answer every request 429 after the first burst."""
    settings, server = serve(auth_mode="keys", write_rate_per_minute=0)
    engine = make_engine(settings.database_url)
    try:
        _, headers = user_with_key(
            AccountStore(engine), "admin@example.com", Role.ADMIN, daily_generations=100_000
        )
    finally:
        engine.dispose()
    await _conformance(settings, server.url, temporal_client, headers)


async def test_a_body_over_the_cap_is_answered_as_documented(
    sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI
) -> None:
    """The 413s schemathesis does not send: a declared Content-Length over the cap is answered
    before any route runs (as plain text, by the body limit itself), and the document says so."""
    settings = make_settings(
        database_url=sqlite_url, temporal_address="127.0.0.1:1", github=github, llm=llm
    )
    app = create_app(settings)
    documented = app.openapi()["paths"]["/api/v1/tutorials"]["post"]["responses"]["413"]
    body = b'{"issue": "' + b"x" * settings.max_request_body_bytes + b'"}'
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://issuesight.test"
    ) as client:
        response = await client.post(
            "/api/v1/tutorials", content=body, headers={"Content-Type": "application/json"}
        )
    await app.state.resources.close()
    assert response.status_code == 413
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in documented["content"], (media_type, documented)


if __name__ == "__main__":  # the child _conformance starts: URL and headers in, JSON out
    found, ran = _run(sys.argv[1], json.loads(sys.argv[2]))
    print(json.dumps({"failures": found, "phases": dict(ran)}))
