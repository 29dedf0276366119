"""The JSON schema the LLM is held to (OpenAI strict structured outputs) and draft validation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from issuesight.core.settings import Settings
from issuesight.tutorial.schema import TutorialDraft, tutorial_response_format

TOP_LEVEL = {
    "title",
    "summary",
    "difficulty",
    "junior_friendly",
    "junior_friendly_reason",
    "prerequisites",
    "architecture_overview",
    "files_to_read",
    "implementation_steps",
    "how_to_test",
    "questions_for_maintainers",
    "red_flags",
    "first_comment",
    "concepts",
}


def _objects(node: Any, path: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield path, node
        for key, value in node.items():
            yield from _objects(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{path}[{i}]")


def _schema() -> dict[str, Any]:
    fmt = tutorial_response_format()
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "context_bridge_tutorial"
    schema: dict[str, Any] = fmt["json_schema"]["schema"]
    return schema


def test_every_object_is_strict() -> None:
    objects = list(_objects(_schema()))
    # The draft and its four nested item types.
    assert len(objects) == 5
    for path, node in objects:
        assert node["additionalProperties"] is False, path
        assert sorted(node["required"]) == sorted(node["properties"]), path


def test_top_level_properties_all_required_including_title() -> None:
    schema = _schema()
    assert set(schema["properties"]) == TOP_LEVEL
    assert set(schema["required"]) == TOP_LEVEL
    assert schema["properties"]["title"]["type"] == "string"
    assert schema["properties"]["title"]["maxLength"] == 300


def test_optional_parent_is_required_but_nullable() -> None:
    concept = _schema()["$defs"]["ConceptTag"]
    assert "parent" in concept["required"]
    types = {option.get("type") for option in concept["properties"]["parent"]["anyOf"]}
    assert types == {"string", "null"}


def test_no_title_or_default_keywords_left() -> None:
    def keywords(node: Any, in_properties: bool = False) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if not in_properties:
                    yield key
                yield from keywords(
                    value, in_properties=(key == "properties" and not in_properties)
                )
        elif isinstance(node, list):
            for value in node:
                yield from keywords(value)

    found = set(keywords(_schema()))
    assert "default" not in found
    assert "title" not in found


def test_difficulty_enum_and_bounds() -> None:
    schema = _schema()
    assert schema["$defs"]["Difficulty"]["enum"] == ["beginner", "intermediate", "advanced"]
    assert schema["properties"]["implementation_steps"]["minItems"] == 1
    assert schema["properties"]["files_to_read"]["maxItems"] == 15


def test_schema_is_built_fresh_each_time() -> None:
    first = tutorial_response_format()
    first["json_schema"]["schema"]["properties"].pop("title")
    assert "title" in tutorial_response_format()["json_schema"]["schema"]["properties"]


def _valid() -> dict[str, Any]:
    return {
        "title": "  Fix the crash  ",
        "summary": "s",
        "difficulty": "beginner",
        "junior_friendly": True,
        "junior_friendly_reason": "r",
        "prerequisites": [],
        "architecture_overview": "a",
        "files_to_read": [],
        "implementation_steps": ["step"],
        "how_to_test": ["test"],
        "questions_for_maintainers": [],
        "red_flags": [],
        "first_comment": "hi",
        "concepts": [],
        "unexpected": "ignored",
    }


def test_draft_validation_strips_and_ignores_extras() -> None:
    draft = TutorialDraft.model_validate(_valid())
    assert draft.title == "Fix the crash"
    assert not hasattr(draft, "unexpected")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "   "),
        ("title", "x" * 301),
        ("difficulty", "expert"),
        ("implementation_steps", []),
        ("files_to_read", [{"path": "a", "why": "b"}] * 16),
        ("summary", "x" * 8_001),
    ],
)
def test_draft_validation_refuses(field: str, value: Any) -> None:
    data = _valid()
    data[field] = value
    with pytest.raises(ValidationError) as info:
        TutorialDraft.model_validate(data)
    assert info.value.errors()[0]["loc"][0] == field


# English prose runs about four characters a token with OpenAI's tokenizers (their rule of
# thumb; no tokenizer is installed here, so the sizing below is stated in that unit).
CHARS_PER_TOKEN = 4
SENTENCE = "Read how the client retries a request before you change the backoff it uses. "


def _text(chars: int) -> str:
    return (SENTENCE * (chars // len(SENTENCE) + 1))[:chars].strip()


def _generous() -> TutorialDraft:
    """A tutorial well past the usual size: every list half full, 300-character paragraphs."""
    para = _text(300)
    return TutorialDraft.model_validate(
        {
            "title": _text(80),
            "summary": _text(1200),
            "difficulty": "intermediate",
            "junior_friendly": True,
            "junior_friendly_reason": para,
            "prerequisites": [{"concept": _text(30), "why": para}] * 6,
            "architecture_overview": _text(1500),
            "files_to_read": [{"path": f"src/pkg/module_{n}.py", "why": para} for n in range(8)],
            "implementation_steps": [para] * 10,
            "how_to_test": [para] * 6,
            "questions_for_maintainers": [para] * 5,
            "red_flags": [{"kind": "stale", "detail": para}] * 6,
            "first_comment": _text(600),
            "concepts": [
                {"name": f"Concept {n}", "description": para, "parent": "Networking"}
                for n in range(6)
            ],
        }
    )


def test_the_default_output_cap_holds_a_generous_tutorial_and_its_retry_fits_the_model() -> None:
    """LLM_MAX_OUTPUT_TOKENS' default is sized from the schema: a generous tutorial (about
    5 000 tokens) fits under it, so only a runaway answer is cut; twice the cap, the one retry,
    stays within gpt-4o-mini's 16 384 output tokens. The schema's own bounds allow ~100 000."""
    default = Settings.model_fields["llm_max_output_tokens"].default
    generous = len(_generous().model_dump_json()) / CHARS_PER_TOKEN
    assert 4_000 < generous < default
    assert 2 * default <= 16_384
