"""A worker process killed mid-generation loses nothing: another picks the job up and the
tutorial completes exactly once."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import sqlalchemy as sa

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.db.models import GitHubIssue, TutorialContent
from tests.helpers import MakeStack, assert_eventually, start_worker, wait_finished


@pytest.mark.slow
async def test_killed_worker_mid_generation_completes_once(
    make_stack: MakeStack,
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
