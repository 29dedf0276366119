"""The commands a person runs: `issuesight submit --wait` against a served API, and
`issuesight dev` bringing the whole stack up and down."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fakes import BackgroundServer, FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.api.app import create_app
from issuesight.cli.submit import submit_and_follow
from tests.helpers import MakeStack, assert_eventually


async def test_submit_wait_shows_progress_and_prints_the_tutorial(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    llm.latency = 1.0
    stack = await make_stack(sqlite_url)
    with BackgroundServer(create_app(stack.settings, temporal=stack.client)) as api:
        out = io.StringIO()
        code = await submit_and_follow(f"octo-org/{repo_name}#1", api.url, True, 60, out)
        assert code == 0, out.getvalue()
        lines = out.getvalue().splitlines()
        assert lines[0].startswith(f"accepted octo-org/{repo_name.lower()}#1")
        assert any("generating" in line for line in lines)
        assert any(line.startswith("# ") for line in lines)  # the Markdown tutorial

        again = io.StringIO()
        assert await submit_and_follow(f"octo-org/{repo_name}#1", api.url, False, 5, again) == 0
        assert again.getvalue().startswith("# ")

        bad = io.StringIO()
        assert await submit_and_follow("not a reference", api.url, True, 5, bad) == 2
        assert "owner/repo#123" in bad.getvalue()
    assert llm.count() == 1


async def test_submit_reports_an_unreachable_api() -> None:
    out = io.StringIO()
    assert await submit_and_follow("o/r#1", "http://127.0.0.1:9", True, 5, out) == 2
    assert "cannot reach" in out.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
async def test_dev_runs_the_whole_stack_and_stops_cleanly(tmp_path: Path) -> None:
    api_port, temporal_port, ui_port = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GITHUB"))}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
            "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
            "TEMPORAL_TASK_QUEUE": "dev-smoke",
            # Nothing in a test may reach the real GitHub or LLM: a closed local port.
            "GITHUB_API_URL": "http://127.0.0.1:9",
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        }
    )
    log = (tmp_path / "dev.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "issuesight",
        "dev",
        "--port",
        str(api_port),
        "--ui-port",
        str(ui_port),
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as http:

            async def healthy() -> bool:
                try:
                    return (await http.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await assert_eventually(healthy, within=60, interval=0.5)
            health = (await http.get("/health")).json()
            assert health["checks"]["database"]["backend"] == "sqlite"
            assert (await http.get("/docs")).status_code == 200
            home = await http.get("/")  # what a newcomer opens first
            assert home.status_code == 200
            assert "Find a good first issue" in home.text
            assert (await http.get("/static/app.css")).status_code == 200
            accepted = await http.post("/api/v1/tutorials", json={"issue": "octo/hello#1"})
            assert accepted.status_code == 202
            ui = await http.get(f"http://127.0.0.1:{ui_port}/", timeout=10)
            assert ui.status_code == 200
        assert (tmp_path / ".issuesight" / "temporal.db").exists()
    finally:
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 60)
        log.close()
    output = (tmp_path / "dev.log").read_text()
    assert code == 0, output[-3000:]
    assert "startup heap frozen" in output  # long-running: full collections skip startup objects


async def test_sync_and_projects_commands(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    from issuesight.cli.projects import list_projects, sync_repo

    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url)
    with BackgroundServer(create_app(stack.settings, temporal=stack.client)) as api:
        out = io.StringIO()
        assert await sync_repo(f"octo-org/{repo_name}", api.url, False, None, out) == 2
        assert "--track" in out.getvalue()
        out = io.StringIO()
        assert await sync_repo(f"octo-org/{repo_name}", api.url, True, None, out) == 0
        assert "sync of" in out.getvalue()

        async def one_tutorial() -> bool:
            table = io.StringIO()
            await list_projects(api.url, table)
            row = table.getvalue().splitlines()[1].split()
            return row[0] == f"octo-org/{repo_name.lower()}" and row[4] == "1"

        await assert_eventually(one_tutorial, within=30)
    assert llm.count() == 1
