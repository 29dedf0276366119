"""A chaos run: a 300-issue tracked repository is synced against the fakes while the worker is
SIGKILLed twice, the API is restarted, and the PostgreSQL instance the test started itself (its
own data directory and port) is restarted. Every watched issue must end with exactly one
completed tutorial, no tutorial generated twice, and nothing pending after the reconciler's next
run. The figures (run time, LLM calls per tutorial) are printed and quoted in the README."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow

from fakes import FakeGitHub, FakeOpenAI
from issuesight.db.engine import make_engine
from issuesight.db.migrate import upgrade
from issuesight.orchestration.schedules import reconcile_schedule_id, sync_schedule_id
from issuesight.workflows.contracts import ReconcileResult
from tests.helpers import GITHUB_TOKEN, OPENAI_KEY, WEBHOOK_SECRET
from tests.servers import PrivatePostgres, free_port

ISSUES = 300
WATCHED = {n for n in range(1, ISSUES + 1) if n % 10 == 3}  # 30 issues
LLM_LATENCY = 1.0  # long enough for a kill to land mid-generation
SYNC_MAX_IN_FLIGHT = 4
TITLE = re.compile(r"Chaos issue (\d{4})")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


class Process:
    """An `issuesight` command in its own process, with its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, name: str) -> None:
        self.args, self.env, self.cwd = args, env, cwd
        self.log = cwd / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "issuesight", *self.args],
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def _seed(github: FakeGitHub, repo: str) -> None:
    github.add_repo(
        "Octo-Org",
        repo,
        files={"README.md": "# Chaos\n\nA repository under stress.\n", "src/chaos.py": "x = 1\n"},
    )
    for number in range(1, ISSUES + 1):
        labels = ["good first issue"] if number in WATCHED else (["bug"] if number % 7 == 0 else [])
        github.add_issue(
            f"Octo-Org/{repo}",
            number,
            title=f"Chaos issue {number:04d}",
            body=f"Body of issue {number}.",
            labels=labels,
        )


def _env(
    database_url: str, temporal_address: str, github: FakeGitHub, llm: FakeOpenAI
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GITHUB"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": temporal_address,
            "TEMPORAL_TASK_QUEUE": f"chaos-{uuid.uuid4()}",
            "GITHUB_API_URL": github.url,
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE_URL": llm.url + "/v1",
            "LLM_TIMEOUT_SECONDS": "30",
            "PROMPT_BUDGET_CHARS": "30000",
            "SYNC_MAX_IN_FLIGHT": str(SYNC_MAX_IN_FLIGHT),
            "LOG_FORMAT": "text",
            "LOG_LEVEL": "WARNING",
            "AUTH_MODE": "open",  # accounts are not the subject here
        }
    )
    return env


class Progress:
    """What the database says, read as the test goes (tolerating the database's restart)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    def completed(self) -> int:
        try:
            with self.engine.connect() as connection:
                return int(
                    connection.execute(
                        sa.text("SELECT count(*) FROM tutorial_contents WHERE status = 'COMPLETED'")
                    ).scalar_one()
                )
        except sa.exc.OperationalError:
            return -1

    def tutorials(self) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT i.issue_number, t.status, t.stage, t.generation, t.llm_calls "
                    "FROM tutorial_contents t JOIN github_issues i ON i.id = t.issue_id"
                )
            ).mappings()
            return [dict(row) for row in rows]


async def _until(check: Callable[[], bool], what: str, within: float = 240.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"chaos run: {what} not reached within {within:.0f}s")


async def _api_ready(url: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/api/v1/tutorials", params={"limit": 1})).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the API at {url} did not come up")


async def _reconcile(client: Client, task_queue: str) -> ReconcileResult:
    """The reconciler's schedule (created by the worker), triggered now; its run's result."""
    handle = client.get_schedule_handle(reconcile_schedule_id(task_queue))
    before = len((await handle.describe()).info.recent_actions)
    await handle.trigger()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        actions = (await handle.describe()).info.recent_actions
        if len(actions) > before:
            # The schedule's action is a workflow start: the run to wait for is the one it made.
            started = actions[-1].action
            assert isinstance(started, ScheduleActionExecutionStartWorkflow), started
            run = client.get_workflow_handle(started.workflow_id, result_type=ReconcileResult)
            result: ReconcileResult = await run.result()
            return result
        await asyncio.sleep(0.2)
    raise AssertionError("the reconciler's schedule did not start a run")


async def test_a_synced_repository_survives_killed_workers_and_restarted_api_and_database(
    postgres: PrivatePostgres,
    temporal_client: Client,
    temporal_address: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
    tmp_path: Path,
) -> None:
    repo = repo_name.lower()
    _seed(github, repo_name)
    llm.latency = LLM_LATENCY
    database_url = postgres.create_database("issuesight")
    upgrade(database_url)
    env = _env(database_url, temporal_address, github, llm)
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    worker = Process(["worker"], env, tmp_path, "worker")
    api = Process(["api", "--host", "127.0.0.1", "--port", str(api_port)], env, tmp_path, "api")
    progress = Progress(database_url)
    events: list[str] = []
    # LLM calls open at each kill (each is paid, then retried). The database's restart wastes
    # none: a paid answer's save waits it out.
    exposed: list[int] = []
    started = time.monotonic()

    def mark(event: str) -> None:
        at = f"{time.monotonic() - started:6.1f}s"
        events.append(f"{at} {event} ({progress.completed()} done, {llm.in_flight} LLM calls open)")

    try:
        worker.start()
        api.start()
        await _api_ready(api_url)
        async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
            tracked = await client.post("/api/v1/projects", json={"repo": f"octo-org/{repo}"})
            assert tracked.status_code == 201, tracked.text
            sync = await client.post(f"/api/v1/projects/octo-org/{repo}/sync")
            assert sync.status_code == 202, sync.text
        mark("sync triggered")

        await _until(lambda: progress.completed() >= 4 and llm.in_flight > 0, "4 tutorials")
        exposed.append(llm.in_flight)
        worker.kill()
        mark("worker SIGKILLed mid-generation")
        worker.start()

        await _until(lambda: progress.completed() >= 10, "10 tutorials")
        assert api.stop() == 0, api.tail()
        mark("API stopped")
        api.start()
        await _api_ready(api_url)
        mark("API restarted")

        await _until(lambda: progress.completed() >= 15, "15 tutorials")
        postgres.restart()
        mark("PostgreSQL restarted")

        await _until(lambda: progress.completed() >= 20 and llm.in_flight > 0, "20 tutorials")
        exposed.append(llm.in_flight)
        worker.kill()
        mark("worker SIGKILLed mid-generation again")
        worker.start()

        await _until(lambda: progress.completed() >= len(WATCHED), "every watched issue")
        mark("every watched issue completed")

        async def sync_closed() -> bool:
            schedule = temporal_client.get_schedule_handle(sync_schedule_id(f"octo-org/{repo}"))
            description = await schedule.describe()
            return not description.info.running_actions

        deadline = time.monotonic() + 120
        while not await sync_closed():
            assert time.monotonic() < deadline, "the sync did not finish"
            await asyncio.sleep(0.5)
        mark("sync finished")
        reconciled = await _reconcile(temporal_client, env["TEMPORAL_TASK_QUEUE"])
        mark(f"reconciler ran: {reconciled}")
        elapsed = time.monotonic() - started
    except BaseException:
        print("\n".join(events))
        print("--- worker log ---\n" + worker.tail())
        print("--- api log ---\n" + api.tail())
        raise
    finally:
        api.stop()
        worker.stop()

    rows = progress.tutorials()
    progress.engine.dispose()
    numbers = sorted(row["issue_number"] for row in rows)
    assert numbers == sorted(WATCHED)  # one tutorial per watched issue, none for the others
    assert {row["status"] for row in rows} == {"COMPLETED"}
    assert {row["stage"] for row in rows} == {"done"}
    assert {row["generation"] for row in rows} == {1}  # no tutorial generated twice
    assert (reconciled.restarted, reconciled.rechecked, reconciled.running) == (0, 0, 0)

    counted = Counter(row["llm_calls"] for row in rows)
    at_fake = Counter(
        int(match[1])
        for call in llm.calls
        if (match := TITLE.search(llm.prompt_text(call))) is not None
    )
    served = Counter(at_fake.values())
    total = sum(row["llm_calls"] for row in rows)
    # Every call beyond one per tutorial is explained by a kill: a kill loses at most the
    # SYNC_MAX_IN_FLIGHT generations under way (their call open, or answered and not yet saved).
    assert total - len(WATCHED) <= len(exposed) * SYNC_MAX_IN_FLIGHT, (counted, exposed)
    # The reconciler's scheduled runs left the running sync's issues to it: never more calls
    # at once than the sync allows.
    assert llm.max_in_flight <= SYNC_MAX_IN_FLIGHT
    summary = (
        f"chaos run: {ISSUES} issues, {len(WATCHED)} watched, {elapsed:.0f} s; "
        f"LLM calls per tutorial (counted by the worker) {dict(sorted(counted.items()))}, "
        f"{total} in all, {total / len(WATCHED):.3f} per tutorial, {total - len(WATCHED)} beyond "
        f"one, with {exposed} calls open at the two kills; "
        f"calls the fake served per tutorial {dict(sorted(served.items()))}; "
        f"0 duplicate generations; reconciler {reconciled}"
    )
    print("\n" + "\n".join(events) + "\n" + summary)
