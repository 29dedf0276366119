"""parse_draft on what LLMs really send back, and generate_draft's error mapping with the openai
SDK talking to an httpx2.MockTransport (the SDK's own HTTP stack, no server)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import openai
import pytest

from issuesight.domain.failures import FailureKind
from issuesight.llm.chat import OutputCapField, make_client
from issuesight.llm.errors import LLMError
from issuesight.llm.generate import (
    Usage,
    generate_draft,
    parse_draft,
)
from issuesight.llm.prompt import Prompt
from issuesight.tutorial.schema import Difficulty, tutorial_response_format

PROMPT = Prompt(system="You are IssueSight.", user="Explain issue o/r#1.")
API_KEY = "sk-unit-test-key-000000000000000000"
CAP = 4096


def _draft_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Fix the crash",
        "summary": "It crashes.",
        "difficulty": "beginner",
        "junior_friendly": True,
        "junior_friendly_reason": "Small change.",
        "prerequisites": [],
        "architecture_overview": "One module.",
        "files_to_read": [{"path": "src/cli.py", "why": "It crashes there."}],
        "implementation_steps": ["Catch the error."],
        "how_to_test": ["Run pytest."],
        "questions_for_maintainers": [],
        "red_flags": [],
        "first_comment": "May I take this?",
        "concepts": [{"name": "Exceptions", "description": "Errors in Python.", "parent": None}],
    }
    data.update(overrides)
    return data


# -- parse_draft -------------------------------------------------------------------------------


def test_parse_valid_json() -> None:
    draft = parse_draft(json.dumps(_draft_data()))
    assert draft.title == "Fix the crash"
    assert draft.difficulty is Difficulty.BEGINNER
    assert draft.files_to_read[0].path == "src/cli.py"
    assert draft.concepts[0].parent is None


@pytest.mark.parametrize(
    "wrap",
    [
        "```json\n{}\n```",
        "```\n{}\n```",
        "  \n```json\n{}\n```\n  ",
        "```JSON\n{}```",
    ],
)
def test_parse_json_in_a_code_fence(wrap: str) -> None:
    content = wrap.replace("{}", json.dumps(_draft_data(title="Fenced"), indent=2))
    assert parse_draft(content).title == "Fenced"


@pytest.mark.parametrize(
    "content",
    [
        "",
        "Sure! Here is your tutorial: it is about a crash.",
        "{'title': 'single quotes'}",
        '{"title": "unterminated',
        "```json\n{not json}\n```",
        "```" + json.dumps(_draft_data()) + "```",  # a one-line fence leaves nothing
    ],
)
def test_parse_non_json(content: str) -> None:
    with pytest.raises(LLMError) as info:
        parse_draft(content)
    assert info.value.kind == FailureKind.LLM_INVALID_OUTPUT
    assert info.value.retryable is True
    assert "not JSON" in info.value.message
    assert "position" in info.value.message


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        (_draft_data(difficulty="expert"), ["difficulty"]),
        ({k: v for k, v in _draft_data().items() if k != "summary"}, ["summary"]),
        (_draft_data(title="", implementation_steps=[]), ["title", "implementation_steps"]),
        (_draft_data(files_to_read=[{"path": "a"}]), ["files_to_read.0.why"]),
        (_draft_data(concepts=[{"name": "x" * 301, "description": "d"}]), ["concepts.0.name"]),
    ],
)
def test_parse_schema_violations_list_the_fields(data: Any, fields: list[str]) -> None:
    with pytest.raises(LLMError) as info:
        parse_draft(json.dumps(data))
    assert info.value.kind == FailureKind.LLM_INVALID_OUTPUT
    assert "does not match the tutorial schema" in info.value.message
    listed = info.value.message.split("(", 1)[1].rstrip(")").split(", ")
    for field in fields:
        assert field in listed


def test_parse_a_json_array_is_invalid_output() -> None:
    with pytest.raises(LLMError) as info:
        parse_draft(json.dumps([_draft_data()]))
    assert info.value.kind == FailureKind.LLM_INVALID_OUTPUT
    assert "does not match the tutorial schema" in info.value.message


def test_parse_lists_at_most_five_fields() -> None:
    with pytest.raises(LLMError) as info:
        parse_draft("{}")
    listed = info.value.message.split("(", 1)[1].rstrip(")").split(", ")
    assert len(listed) == 5
    assert set(listed) <= set(_draft_data())


# -- generate_draft ----------------------------------------------------------------------------

Handler = Callable[[httpx2.Request], httpx2.Response]
# The `llm` fixture: an OpenAI client whose every request `handler` answers.
MakeLLM = Callable[[Handler], openai.AsyncOpenAI]


def _completion(
    content: str | None, *, finish_reason: str = "stop", usage: bool = True, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "served-model-2025",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 1234, "completion_tokens": 567, "total_tokens": 1801}
    body.update(extra)
    return body


@pytest.fixture
async def llm() -> AsyncIterator[MakeLLM]:
    clients: list[openai.AsyncOpenAI] = []

    def make(handler: Handler) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(
            api_key=API_KEY,
            base_url="http://llm.test/v1",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def test_success_returns_the_draft_and_usage(llm: MakeLLM) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=_completion(json.dumps(_draft_data())))

    draft, usage = await generate_draft(
        llm(handler), model="gpt-4o-mini", prompt=PROMPT, max_output_tokens=CAP
    )
    assert draft.title == "Fix the crash"
    assert usage == Usage(prompt_tokens=1234, completion_tokens=567, model="served-model-2025")
    (request,) = seen
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    sent = json.loads(request.content)
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"] == PROMPT.messages()
    assert sent["response_format"] == tutorial_response_format()
    assert sent["temperature"] == 0.2


async def test_missing_usage_counts_zero_and_keeps_the_model(llm: MakeLLM) -> None:
    body = _completion(f"```json\n{json.dumps(_draft_data())}\n```", usage=False, model="")
    _, usage = await generate_draft(
        llm(lambda r: httpx2.Response(200, json=body)),
        model="local-model",
        prompt=PROMPT,
        max_output_tokens=CAP,
    )
    assert usage == Usage(prompt_tokens=0, completion_tokens=0, model="local-model")


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        # An HTTP date is honoured too (RFC 9110); one already past means now.
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({}, None),
    ],
)
async def test_429_is_rate_limited_with_retry_after(
    llm: MakeLLM, headers: dict[str, str], retry_after: float | None
) -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        return httpx2.Response(
            429, json={"error": {"message": "Rate limit reached", "type": "rate"}}, headers=headers
        )

    with pytest.raises(LLMError) as info:
        await generate_draft(llm(handler), model="m", prompt=PROMPT, max_output_tokens=CAP)
    assert info.value.kind == FailureKind.LLM_RATE_LIMITED
    assert info.value.retry_after == retry_after
    assert info.value.retryable is True
    assert calls == 1  # the SDK does not retry on its own


@pytest.mark.parametrize(
    ("status", "kind", "retryable"),
    [
        (401, FailureKind.LLM_AUTH, False),
        (403, FailureKind.LLM_AUTH, False),
        (400, FailureKind.LLM_REJECTED, False),
        (404, FailureKind.LLM_REJECTED, False),
        (422, FailureKind.LLM_REJECTED, False),
        (500, FailureKind.LLM_UNAVAILABLE, True),
        (502, FailureKind.LLM_UNAVAILABLE, True),
        (503, FailureKind.LLM_UNAVAILABLE, True),
    ],
)
async def test_status_errors_are_mapped(
    llm: MakeLLM, status: int, kind: str, retryable: bool
) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json={"error": {"message": f"status {status}"}})

    with pytest.raises(LLMError) as info:
        await generate_draft(llm(handler), model="m", prompt=PROMPT, max_output_tokens=CAP)
    assert info.value.kind == kind
    assert info.value.retryable is retryable
    assert str(status) in info.value.message
    assert API_KEY not in info.value.message


async def test_auth_message_points_at_the_key(llm: MakeLLM) -> None:
    with pytest.raises(LLMError) as info:
        await generate_draft(
            llm(lambda r: httpx2.Response(401, json={"error": {"message": "bad key"}})),
            model="m",
            prompt=PROMPT,
            max_output_tokens=CAP,
        )
    assert "OPENAI_API_KEY" in info.value.message


async def test_unavailable_keeps_retry_after(llm: MakeLLM) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(503, json={}, headers={"retry-after": "30"})

    with pytest.raises(LLMError) as info:
        await generate_draft(llm(handler), model="m", prompt=PROMPT, max_output_tokens=CAP)
    assert info.value.kind == FailureKind.LLM_UNAVAILABLE
    assert info.value.retry_after == 30.0


@pytest.mark.parametrize(
    ("exception", "kind"),
    [
        (httpx2.ConnectError("refused"), FailureKind.LLM_UNAVAILABLE),
        (httpx2.ReadTimeout("slow"), FailureKind.LLM_TIMEOUT),
    ],
)
async def test_transport_failures(llm: MakeLLM, exception: Exception, kind: str) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise exception

    with pytest.raises(LLMError) as info:
        await generate_draft(llm(handler), model="m", prompt=PROMPT, max_output_tokens=CAP)
    assert info.value.kind == kind
    assert info.value.retryable is True


async def test_finish_reason_length_is_its_own_failure_naming_the_cap(llm: MakeLLM) -> None:
    truncated = json.dumps(_draft_data())[:200]
    body = _completion(truncated, finish_reason="length")
    with pytest.raises(LLMError) as info:
        await generate_draft(
            llm(lambda r: httpx2.Response(200, json=body)),
            model="m",
            prompt=PROMPT,
            max_output_tokens=CAP,
        )
    assert info.value.kind == FailureKind.LLM_OUTPUT_TRUNCATED
    assert info.value.retryable is False  # the workflow retries it once, with twice the cap
    assert f"output cap of {CAP} tokens" in info.value.message
    assert "LLM_MAX_OUTPUT_TOKENS" in info.value.message


async def test_length_is_refused_even_if_the_json_parses(llm: MakeLLM) -> None:
    body = _completion(json.dumps(_draft_data()), finish_reason="length")
    with pytest.raises(LLMError) as info:
        await generate_draft(
            llm(lambda r: httpx2.Response(200, json=body)),
            model="m",
            prompt=PROMPT,
            max_output_tokens=CAP,
        )
    assert info.value.kind == FailureKind.LLM_OUTPUT_TRUNCATED


@pytest.mark.parametrize("param", ["max_completion_tokens", "max_tokens"])
async def test_every_call_carries_the_output_cap(llm: MakeLLM, param: OutputCapField) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=_completion(json.dumps(_draft_data())))

    await generate_draft(
        llm(handler), model="m", prompt=PROMPT, max_output_tokens=777, cap_field=param
    )
    sent = json.loads(seen[0].content)
    assert sent[param] == 777
    other = {"max_completion_tokens", "max_tokens"} - {param}
    assert not other & set(sent)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("I cannot help with that.", "not JSON"),
        (None, "not JSON"),
        (json.dumps(_draft_data(difficulty="hard")), "difficulty"),
    ],
)
async def test_bad_content_is_invalid_output(
    llm: MakeLLM, content: str | None, needle: str
) -> None:
    body = _completion(content)
    with pytest.raises(LLMError) as info:
        await generate_draft(
            llm(lambda r: httpx2.Response(200, json=body)),
            model="m",
            prompt=PROMPT,
            max_output_tokens=CAP,
        )
    assert info.value.kind == FailureKind.LLM_INVALID_OUTPUT
    assert needle in info.value.message


async def test_no_choices_is_invalid_output(llm: MakeLLM) -> None:
    body = _completion("x")
    body["choices"] = []
    with pytest.raises(LLMError) as info:
        await generate_draft(
            llm(lambda r: httpx2.Response(200, json=body)),
            model="m",
            prompt=PROMPT,
            max_output_tokens=CAP,
        )
    assert info.value.kind == FailureKind.LLM_INVALID_OUTPUT
    assert "no choices" in info.value.message


async def test_make_client_never_retries_and_needs_no_key() -> None:
    client = make_client(None, "http://llm.test/v1", timeout=12.5)
    try:
        assert client.max_retries == 0
        assert client.api_key == "not-needed"
        assert client.timeout == 12.5
        assert str(client.base_url) == "http://llm.test/v1/"
    finally:
        await client.close()
