"""One generation: the prompt to an OpenAI-compatible server, the answer validated as a draft.

The openai client is built with max_retries=0: Temporal owns retries, so each attempt is
counted and bounded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, cast

import openai
from openai.types.shared_params import ResponseFormatJSONSchema
from pydantic import ValidationError

from issuesight.core.http import retry_after_from
from issuesight.domain.failures import FailureKind
from issuesight.llm.errors import LLMError
from issuesight.llm.prompt import Prompt
from issuesight.tutorial.schema import TutorialDraft, tutorial_response_format


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    model: str


def make_client(api_key: str | None, base_url: str | None, timeout: float) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        # Local OpenAI-compatible servers often need no key; the SDK insists on one.
        api_key=api_key or "not-needed",
        base_url=base_url,
        timeout=timeout,
        max_retries=0,
    )


OutputCapField = Literal["max_completion_tokens", "max_tokens"]


async def generate_draft(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    prompt: Prompt,
    max_output_tokens: int,
    cap_field: OutputCapField = "max_completion_tokens",
) -> tuple[TutorialDraft, Usage]:
    """`max_output_tokens` bounds what one call can cost, whatever the prompt asks for (an
    injected "write forever"); it is sent as `cap_field`, the name the server knows."""
    try:
        completion = await client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            response_format=cast("ResponseFormatJSONSchema", tutorial_response_format()),
            temperature=0.2,
            max_completion_tokens=(
                max_output_tokens if cap_field == "max_completion_tokens" else openai.omit
            ),
            max_tokens=max_output_tokens if cap_field == "max_tokens" else openai.omit,
        )
    except openai.APITimeoutError as exc:
        raise LLMError("the LLM did not answer in time", kind=FailureKind.LLM_TIMEOUT) from exc
    except openai.APIConnectionError as exc:
        raise LLMError(
            "the LLM server could not be reached", kind=FailureKind.LLM_UNAVAILABLE
        ) from exc
    except openai.RateLimitError as exc:
        raise LLMError(
            "the LLM server is rate limiting us",
            kind=FailureKind.LLM_RATE_LIMITED,
            retry_after=retry_after_from(exc.response.headers),
        ) from exc
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise LLMError(
            f"the LLM server refused our credentials ({exc.status_code}): check OPENAI_API_KEY",
            kind=FailureKind.LLM_AUTH,
        ) from exc
    except (openai.BadRequestError, openai.NotFoundError, openai.UnprocessableEntityError) as exc:
        raise LLMError(
            f"the LLM server rejected the request ({exc.status_code}); check LLM_MODEL and "
            "that the server supports JSON-schema output",
            kind=FailureKind.LLM_REJECTED,
        ) from exc
    except openai.APIStatusError as exc:
        raise LLMError(
            f"the LLM server failed ({exc.status_code})",
            kind=FailureKind.LLM_UNAVAILABLE,
            retry_after=retry_after_from(exc.response.headers),
        ) from exc

    usage = completion.usage
    spent = Usage(
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        model=completion.model or model,
    )
    try:
        if not completion.choices:
            raise LLMError("the LLM answered with no choices", kind=FailureKind.LLM_INVALID_OUTPUT)
        choice = completion.choices[0]
        content = choice.message.content or ""
        if choice.finish_reason == "length":
            raise LLMError(
                f"the LLM's answer was cut off at the output cap of {max_output_tokens} tokens "
                "(LLM_MAX_OUTPUT_TOKENS)",
                kind=FailureKind.LLM_OUTPUT_TRUNCATED,
            )
        draft = parse_draft(content)
    except LLMError as exc:
        exc.spent_tokens = spent.prompt_tokens + spent.completion_tokens
        raise
    return draft, spent


def parse_draft(content: str) -> TutorialDraft:
    try:
        data = json.loads(_strip_code_fence(content))
    except json.JSONDecodeError as exc:
        raise LLMError(
            f"the LLM's answer is not JSON ({exc.msg} at position {exc.pos})",
            kind=FailureKind.LLM_INVALID_OUTPUT,
        ) from exc
    try:
        return TutorialDraft.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise LLMError(
            f"the LLM's answer does not match the tutorial schema ({fields})",
            kind=FailureKind.LLM_INVALID_OUTPUT,
        ) from exc


def _strip_code_fence(content: str) -> str:
    """Some servers wrap JSON in a Markdown fence even when asked not to."""
    text = content.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text
