"""Transient upstream failures are waited out and recovered, within bounded retries."""

from __future__ import annotations

import time

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from tests.helpers import MakeStack, submit_and_wait


async def test_llm_rate_limit_is_waited_out_for_retry_after(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    llm.fail_next("rate_limit", times=2, retry_after=2)
    stack = await make_stack(sqlite_url)
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "COMPLETED"
    statuses = [call.status for call in llm.calls]
    assert statuses == [429, 429, 200]
    # The retry honoured Retry-After (2 s), not the policy's 1 s first interval.
    assert llm.calls[1].at - llm.calls[0].at >= 1.9
    assert body["llm_calls"] == 3


async def test_llm_server_errors_and_bad_output_are_retried(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    llm.fail_next("server_error")
    llm.fail_next("malformed")
    llm.fail_next("invalid")
    stack = await make_stack(sqlite_url, llm_max_attempts=5)
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "COMPLETED"
    assert [call.status for call in llm.calls] == [500, 200, 200, 200]
    assert body["llm_calls"] == 4


async def test_a_hung_llm_call_times_out_and_is_retried(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    llm.fail_next("hang", seconds=30)
    stack = await make_stack(sqlite_url, llm_timeout_seconds=2.0)
    started = time.monotonic()
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "COMPLETED"
    assert llm.count() == 2
    assert time.monotonic() - started < 25  # the 30 s hang was cut at the 2 s client timeout


async def test_llm_failures_are_bounded_and_end_with_a_reason(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    llm.fail_next("malformed", times=10)
    stack = await make_stack(sqlite_url, llm_max_attempts=3)
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "FAILED"
    assert body["failure_type"] == "LLMInvalidOutput"
    assert "not JSON" in body["failure_reason"]
    assert "maximum number of attempts" in body["failure_reason"]
    assert llm.count() == 3  # bounded: no fourth paid call


async def test_llm_credentials_rejected_fail_at_once(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url, openai_api_key="sk-wrong-key-000000000000000000000")
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "FAILED"
    assert body["failure_type"] == "LLMAuthenticationFailed"
    assert "OPENAI_API_KEY" in body["failure_reason"]
    assert llm.count() == 1


async def test_github_outage_is_retried_until_it_recovers(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    github.fail_next(r"/issues/1$", 502, times=2, body="<html>Bad Gateway</html>")
    stack = await make_stack(sqlite_url)
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "COMPLETED"
    assert github.count(r"/issues/1$", status=502) == 2
    assert llm.count() == 1


async def test_spent_github_rate_limit_is_waited_out_until_reset(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    github.exhaust_rate_limit(reset_in=3)
    stack = await make_stack(sqlite_url)
    started = time.time()
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "COMPLETED"
    refused = [r for r in github.requests if r.status == 403]
    served = [r for r in github.requests if r.status == 200]
    assert refused, "the spent budget was never hit"
    # No request was served before the reset: the retry waited for it instead of hammering.
    assert min(r.at for r in served) >= started + 2
    assert len(refused) <= 2
    assert llm.count() == 1


async def test_secondary_rate_limit_with_retry_after(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    github.fail_next(
        r"/timeline",
        403,
        headers={"retry-after": "2"},
        body={"message": "You have exceeded a secondary rate limit."},
    )
    stack = await make_stack(sqlite_url)
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "COMPLETED"
    timeline_requests = [r for r in github.requests if r.path.endswith("/timeline")]
    assert [r.status for r in timeline_requests] == [403, 200]
    assert timeline_requests[1].at - timeline_requests[0].at >= 1.9


async def test_a_missing_timeline_costs_the_comments_not_the_tutorial(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """Comments and linked pull requests come from the timeline; if GitHub has none for the
    issue (404), the tutorial is still written from the issue and the repository."""
    seed_hello_world(github, repo_name)
    github.fail_next(r"/timeline", 404)
    stack = await make_stack(sqlite_url)
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "COMPLETED", body
    prompt = llm.prompt_text(llm.calls[0])
    assert "greet() crashes when name is None" in prompt
    assert "I can reproduce this on Python 3.12." not in prompt
    assert [r.status for r in github.requests if r.path.endswith("/timeline")] == [404]


async def test_refused_answers_count_against_the_llm_budget(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """A malformed or schema-violating answer was paid for: LLM_DAILY_TOKEN_BUDGET sees it."""
    import sqlalchemy as sa
    from sqlmodel import col

    from issuesight.db.models import LLMUsage

    seed_hello_world(github, repo_name)
    llm.fail_next("server_error")  # no answer, no tokens
    llm.fail_next("malformed")
    llm.fail_next("invalid")
    stack = await make_stack(sqlite_url, llm_max_attempts=5)
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "COMPLETED"
    with stack.store.engine.connect() as connection:
        rows = connection.execute(sa.select(col(LLMUsage.tokens))).scalars().all()
    assert len(rows) == 3  # two refused answers and the accepted one
    accepted = body["prompt_tokens"] + body["completion_tokens"]
    assert accepted in rows
    assert sum(rows) > accepted
    spent = stack.resources.accounts.llm_budget(10**9)
    assert spent.used == sum(rows)


def _long_tutorial(llm: FakeOpenAI, summary_chars: int) -> None:
    default = llm.default_tutorial
    llm.responder = lambda call: {
        **default(call),
        "summary": "A long summary. " * (summary_chars // 16),
    }


async def test_an_answer_cut_at_the_output_cap_is_retried_once_with_twice_the_cap(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    _long_tutorial(llm, summary_chars=2000)  # about 800 tokens: over 512, under 1024
    stack = await make_stack(database_url, llm_max_output_tokens=512, llm_max_attempts=4)
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "COMPLETED", body
    assert [c.body["max_completion_tokens"] for c in llm.calls] == [512, 1024]
    assert body["llm_calls"] == 2


async def test_an_answer_cut_twice_fails_as_truncated_without_more_paid_calls(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    _long_tutorial(llm, summary_chars=7000)  # about 2000 tokens: over twice the cap
    stack = await make_stack(
        database_url,
        llm_max_output_tokens=512,
        llm_max_attempts=4,
        llm_output_cap_field="max_tokens",
    )
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1")
    assert body["status"] == "FAILED"
    assert body["failure_type"] == "LLMOutputTruncated"
    assert "output cap of 1024 tokens" in body["failure_reason"]
    assert "again on the one retry" in body["failure_reason"]
    # Once with the cap, once with twice the cap; not LLM_MAX_ATTEMPTS (4) times each.
    assert [c.body["max_tokens"] for c in llm.calls] == [512, 1024]
    assert body["llm_calls"] == 2
