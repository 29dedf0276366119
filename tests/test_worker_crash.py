"""A worker process killed mid-generation loses nothing: another picks the job up and the
tutorial completes exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from issuesight.core.settings import Settings
from issuesight.db.models import GitHubIssue, TutorialContent
from tests.conftest import assert_eventually
from tests.fakes import FakeGitHub, FakeOpenAI
from tests.helpers import seed_hello_world, wait_finished


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


@pytest.mark.slow
async def test_killed_worker_mid_generation_completes_once(
    make_stack,
    database_url: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
    tmp_path: Path,
) -> None:
    seed_hello_world(github, repo_name)
    llm.latency = 4.0
    stack = await make_stack(database_url, worker=False, llm_timeout_seconds=30.0)
    log = tmp_path / "worker.log"
    first = start_worker(stack.settings, tmp_path, log)
    try:
        response = await stack.api.post(
            "/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"}
        )
        assert response.status_code == 202
        await assert_eventually(lambda: llm.in_flight == 1, within=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    second = start_worker(stack.settings, tmp_path, log)
    try:
        body = await wait_finished(stack.api, response.json()["status_url"], within=60)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert body["status"] == "COMPLETED", body
    assert body["generation"] == 1
    assert llm.count() == 2  # the killed attempt's call, and the one that completed
    with stack.store.engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(TutorialContent)).scalar()
            == 1
        )
        assert connection.execute(sa.select(sa.func.count()).select_from(GitHubIssue)).scalar() == 1
