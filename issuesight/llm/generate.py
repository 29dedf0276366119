"""One generation: the prompt to an OpenAI-compatible server (`llm.chat`), the answer
validated as a draft."""

from __future__ import annotations

import json
from dataclasses import dataclass

import openai
from pydantic import ValidationError

from issuesight.domain.failures import FailureKind
from issuesight.llm.chat import OutputCapField, complete
from issuesight.llm.errors import LLMError
from issuesight.llm.prompt import Prompt
from issuesight.tutorial.schema import TutorialDraft, tutorial_response_format


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    model: str


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
    answer = await complete(
        client,
        model=model,
        prompt=prompt,
        response_format=tutorial_response_format(),
        temperature=0.2,
        max_output_tokens=max_output_tokens,
        cap_field=cap_field,
        what="the LLM's answer",
        cap_setting="LLM_MAX_OUTPUT_TOKENS",
    )
    try:
        draft = parse_draft(answer.content)
    except LLMError as exc:
        answer.refused(exc)
        raise
    return draft, Usage(answer.prompt_tokens, answer.completion_tokens, answer.model)


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
