"""The optional localization call (RETRIEVAL_LLM=on) spends the operator's LLM money like
generation does, so it is bounded like it: against the fake LLM server through the real openai
client, its output cap goes in the field the server knows, an answer cut at the cap is final
(not paid for again), a 429's Retry-After reaches the activity's retry, attempts are bounded
and every paid token is counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from fakes import FakeOpenAI
from issuesight.domain.failures import FailureKind
from issuesight.llm.chat import OutputCapField, make_client
from issuesight.llm.errors import LLMError
from issuesight.llm.localize import Localizer
from tests.helpers import OPENAI_KEY

TEXTS = ["greet() crashes on None", "Calling greet(None) raises a TypeError."]
ENTRIES = [("src/hello/app.py", ["def greet(name)"]), ("tests/test_app.py", ["def test_greet()"])]
PICKS = {"files": ["src/hello/app.py"], "functions": ["greet"]}


@pytest.fixture
async def client(llm: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    made = make_client(OPENAI_KEY, llm.url + "/v1", 10.0)
    yield made
    await made.close()


class Ledger:
    """What the activity's callbacks would record: calls on the tutorial, tokens in the LLM
    budget's ledger."""

    def __init__(self) -> None:
        self.calls = 0
        self.tokens = 0

    async def count_call(self) -> None:
        self.calls += 1

    async def spend(self, tokens: int) -> None:
        self.tokens += tokens


def localizer(
    client: openai.AsyncOpenAI, *, attempts: int = 3, cap_field: OutputCapField | None = None
) -> Localizer:
    extra: dict[str, Any] = {} if cap_field is None else {"cap_field": cap_field}
    return Localizer(
        client, model="gpt-4o-mini", max_tokens=400, max_attempts=attempts, cache_dir=None, **extra
    )


async def pick(made: Localizer, ledger: Ledger) -> Any:
    return await made.pick(
        made.key("octo-org/hello#1", TEXTS), TEXTS, ENTRIES, ledger.count_call, ledger.spend
    )


@pytest.mark.parametrize("cap_field", [None, "max_completion_tokens", "max_tokens"])
async def test_the_output_cap_goes_in_the_field_the_server_knows(
    client: openai.AsyncOpenAI, llm: FakeOpenAI, cap_field: OutputCapField | None
) -> None:
    llm.responder = lambda call: PICKS
    ledger = Ledger()
    picks = await pick(localizer(client, cap_field=cap_field), ledger)
    assert picks is not None
    assert picks.files == ("src/hello/app.py",)
    body = llm.calls[0].body
    sent = cap_field or "max_completion_tokens"  # LLM_OUTPUT_CAP_FIELD's default
    other = "max_tokens" if sent == "max_completion_tokens" else "max_completion_tokens"
    assert body[sent] == 400
    assert other not in body
    assert ledger.tokens > 0


async def test_an_answer_cut_at_the_cap_is_final_and_paid_for_once(
    client: openai.AsyncOpenAI, llm: FakeOpenAI
) -> None:
    llm.responder = lambda call: PICKS
    llm.fail_next("length", times=10)
    ledger = Ledger()
    made = localizer(client, attempts=3)
    assert await pick(made, ledger) is None  # given up at once: the ranking stands
    assert await pick(made, ledger) is None  # and not asked again
    assert llm.count() == 1
    assert ledger.calls == 1
    assert ledger.tokens > 0  # cut, but paid for: in the LLM budget's ledger


async def test_a_429s_retry_after_reaches_the_retry(
    client: openai.AsyncOpenAI, llm: FakeOpenAI
) -> None:
    llm.fail_next("rate_limit", retry_after=7)
    with pytest.raises(LLMError) as raised:
        await pick(localizer(client), Ledger())
    assert raised.value.kind == FailureKind.LLM_RATE_LIMITED
    assert raised.value.retry_after == 7


async def test_attempts_are_bounded_and_every_one_counted(
    client: openai.AsyncOpenAI, llm: FakeOpenAI
) -> None:
    llm.fail_next("malformed", times=10)
    ledger = Ledger()
    made = localizer(client, attempts=2)
    with pytest.raises(LLMError):  # retryable while attempts remain: the activity retries
        await pick(made, ledger)
    assert await pick(made, ledger) is None  # the last attempt: given up
    assert await pick(made, ledger) is None  # no third paid call
    assert llm.count() == 2
    assert ledger.calls == 2
    assert ledger.tokens > 0
