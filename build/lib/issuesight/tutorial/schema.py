"""The structured tutorial the LLM must produce: a JSON schema it is held to, and validation.

LLM output is untrusted: every field is bounded, and a reply that does not validate is a
retryable failure of the generation activity, never a half-saved tutorial.
"""

from __future__ import annotations

import functools
import json
from enum import StrEnum
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Paragraph = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]
FilePath = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class Difficulty(StrEnum):
    BEGINNER = "beginner"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Prerequisite(_Strict):
    concept: ShortText
    why: Paragraph


class FileToRead(_Strict):
    path: FilePath
    why: Paragraph


class RedFlag(_Strict):
    kind: ShortText = Field(
        description="e.g. already-assigned, linked-pull-request, stale, vague-scope"
    )
    detail: Paragraph


class ConceptTag(_Strict):
    name: ShortText
    description: Paragraph
    parent: ShortText | None = Field(default=None, description="a broader concept, if any")


class TutorialDraft(_Strict):
    """What the LLM returns. Paths and concept slugs are checked by the project afterwards."""

    title: ShortText
    summary: LongText
    difficulty: Difficulty
    junior_friendly: bool
    junior_friendly_reason: Paragraph
    prerequisites: list[Prerequisite] = Field(max_length=12)
    architecture_overview: LongText
    files_to_read: list[FileToRead] = Field(max_length=15)
    implementation_steps: list[Paragraph] = Field(min_length=1, max_length=20)
    how_to_test: list[Paragraph] = Field(min_length=1, max_length=12)
    questions_for_maintainers: list[Paragraph] = Field(max_length=10)
    red_flags: list[RedFlag] = Field(max_length=12)
    first_comment: LongText
    concepts: list[ConceptTag] = Field(max_length=12)


def _strict_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's strict structured outputs need every property required and no extras."""

    def visit(node: Any, is_property_map: bool = False) -> Any:
        if isinstance(node, dict):
            node = {
                k: visit(v, is_property_map=(k == "properties" and not is_property_map))
                for k, v in node.items()
                if is_property_map or k not in {"default", "title"}
            }
            if node.get("type") == "object" and "properties" in node:
                node["required"] = sorted(node["properties"])
                node["additionalProperties"] = False
            return node
        if isinstance(node, list):
            return [visit(item) for item in node]
        return node

    result: dict[str, Any] = visit(schema)
    return result


def tutorial_response_format() -> dict[str, Any]:
    """The `response_format` argument for chat completions: a fresh copy on every call, so a
    caller may change it without changing the next one's."""
    return cast("dict[str, Any]", json.loads(_response_format_json()))


@functools.cache
def _response_format_json() -> str:
    # pydantic builds the JSON schema anew on each call (about 1 ms): once per process is enough.
    return json.dumps(
        {
            "type": "json_schema",
            "json_schema": {
                "name": "context_bridge_tutorial",
                "strict": True,
                "schema": _strict_json_schema(TutorialDraft.model_json_schema()),
            },
        }
    )
