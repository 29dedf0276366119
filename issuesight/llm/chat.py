"""One chat completion with a JSON-schema answer and a bounded output: the call generation and
localization both make, so that a server's answer or refusal means the same failure in both.

The openai client is built with max_retries=0 (`make_client`): Temporal owns retries, so each
attempt is counted and bounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import openai
from openai.types.shared_params import ResponseFormatJSONSchema

from issuesight.core.http import retry_after_from
from issuesight.domain.failures import FailureKind
from issuesight.llm.errors import LLMError
from issuesight.llm.prompt import Prompt

# The name the server knows for the output cap: OpenAI's current one or the older one that
# many OpenAI-compatible servers still expect (LLM_OUTPUT_CAP_FIELD).
OutputCapField = Literal["max_completion_tokens", "max_tokens"]


def make_client(api_key: str | None, base_url: str | None, timeout: float) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        # Local OpenAI-compatible servers often need no key; the SDK insists on one.
        api_key=api_key or "not-needed",
        base_url=base_url,
        timeout=timeout,
        max_retries=0,
    )


@dataclass(frozen=True)
class Answer:
    """The text of the first choice, and what the call cost."""

    content: str
    prompt_tokens: int
    completion_tokens: int
    model: str

    def refused(self, exc: LLMError) -> LLMError:
        """An answer refused after it was paid for (not JSON, off the schema): the LLM
        budget counts its tokens all the same."""
        exc.spent_tokens = self.prompt_tokens + self.completion_tokens
        return exc


async def complete(
    client: openai.AsyncOpenAI,
    *,
    model: str,
    prompt: Prompt,
    response_format: dict[str, Any],
    temperature: float,
    max_output_tokens: int,
    cap_field: OutputCapField,
    what: str,
    cap_setting: str,
) -> Answer:
    """`max_output_tokens` bounds what one call can cost, whatever the prompt asks for (an
    injected "write forever"); it is sent as `cap_field`, the name the server knows (a server
    that knows only the other name would not bound the answer, or would refuse every call).
    `what` names the answer in failures; `cap_setting` the setting that sets its cap."""
    try:
        completion = await client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            response_format=cast("ResponseFormatJSONSchema", response_format),
            temperature=temperature,
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
    first = completion.choices[0] if completion.choices else None
    content = (first.message.content or "") if first else ""
    answer = Answer(
        content=content,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        model=completion.model or model,
    )
    if first is None:
        raise answer.refused(
            LLMError("the LLM answered with no choices", kind=FailureKind.LLM_INVALID_OUTPUT)
        )
    if first.finish_reason == "length":
        raise answer.refused(
            LLMError(
                f"{what} was cut off at the output cap of {max_output_tokens} tokens "
                f"({cap_setting})",
                kind=FailureKind.LLM_OUTPUT_TRUNCATED,
            )
        )
    return answer
