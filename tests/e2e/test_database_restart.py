"""A paid LLM answer survives the database going away under it: its save is waited out within
the attempt instead of failing the attempt and paying for the answer again. Run against a
PostgreSQL this test starts and stops itself (never the shared one)."""

from __future__ import annotations

import asyncio

import pytest

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.db.migrate import upgrade
from tests.helpers import MakeStack, assert_eventually, wait_finished
from tests.servers import PrivatePostgres

pytestmark = pytest.mark.slow


async def test_an_answer_paid_for_while_the_database_is_down_is_kept(
    postgres: PrivatePostgres,
    make_stack: MakeStack,
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
) -> None:
    seed_hello_world(github, repo_name)
    url = postgres.create_database("issuesight")
    upgrade(url)
    llm.latency = 2.0
    stack = await make_stack(url)
    submitted = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    await assert_eventually(lambda: llm.in_flight == 1, within=30)
    postgres.stop()  # the answer arrives while the database is away ...
    await assert_eventually(lambda: llm.in_flight == 0, within=30)
    await asyncio.sleep(1.5)  # ... and its save fails for a while
    postgres.start()
    done = await wait_finished(stack.api, submitted.json()["status_url"], within=60)
    assert done["status"] == "COMPLETED", done
    assert llm.count() == 1  # paid once
    assert done["llm_calls"] == 1
