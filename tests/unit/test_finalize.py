"""finalize: paths verified against the tree, concepts normalized, observed flags first, secrets
scrubbed from everything the model wrote."""

from __future__ import annotations

from typing import Any

import pytest

from issuesight.context.bundle import ContextBundle, FileExcerpt
from issuesight.core.text import REDACTED
from issuesight.tutorial.finalize import finalize
from issuesight.tutorial.schema import TutorialDraft
from tests.helpers import BUNDLE_COMMIT, BUNDLE_REPO_URL, make_bundle, make_draft

TREE = ["README.md", "src/hello/cli.py", "src/hello/config.py", "docs/guide.md", "x"]
SECRET = "configured-secret-value-123"
GHP = "ghp_" + "Z9y8X7w6V5" * 4


def _bundle(**overrides: Any) -> ContextBundle:
    return make_bundle(**{"tree_paths": TREE, **overrides})


def _files(*paths: str) -> list[dict[str, str]]:
    return [{"path": p, "why": f"why {p}"} for p in paths]


@pytest.mark.parametrize(
    ("written", "resolved"),
    [
        ("src/hello/cli.py", "src/hello/cli.py"),
        ("./src/hello/cli.py", "src/hello/cli.py"),
        ("/src/hello/cli.py", "src/hello/cli.py"),
        ("`src/hello/cli.py`", "src/hello/cli.py"),
        ("src/hello/cli.py#L10", "src/hello/cli.py"),
        ("src/hello/cli.py#L10-L20", "src/hello/cli.py"),
        ("  ./src/hello/cli.py  ", "src/hello/cli.py"),
        ("`./src/hello/cli.py#L3`", "src/hello/cli.py"),
        ("././src/hello/cli.py", "src/hello/cli.py"),
        ("//src/hello/cli.py", "src/hello/cli.py"),
        ("./x", "x"),
        ("/x", "x"),
        ("`x`", "x"),
        ("x#L10", "x"),
    ],
)
def test_paths_resolve_against_the_tree(written: str, resolved: str) -> None:
    final = finalize(make_draft(files_to_read=_files(written)), _bundle(), [])
    assert [f.path for f in final.files] == [resolved]
    assert final.unverified_paths == []
    assert final.files[0].url == f"{BUNDLE_REPO_URL}/blob/{BUNDLE_COMMIT}/{resolved}"
    assert final.files[0].why == f"why {written}".strip()


@pytest.mark.parametrize(
    "written",
    [
        "../x",
        "src/../x",
        "src/hello/../hello/cli.py",
        "../../etc/passwd",
        "src/hello/missing.py",
        "SRC/hello/cli.py",
        "src/hello",
        "https://github.com/octo-org/hello-world/blob/main/x",
        "src\\hello\\cli.py",
    ],
)
def test_unverifiable_paths_are_set_aside(written: str) -> None:
    final = finalize(make_draft(files_to_read=_files(written)), _bundle(), [])
    assert final.files == []
    assert final.unverified_paths == [written]


def test_long_unverified_paths_are_cut() -> None:
    path = "nope/" + "a" * 490
    final = finalize(make_draft(files_to_read=_files(path)), _bundle(), [])
    assert final.unverified_paths == [path[:200]]


def test_duplicates_are_dropped_keeping_the_first() -> None:
    draft = make_draft(
        files_to_read=[
            {"path": "src/hello/cli.py", "why": "first"},
            {"path": "./src/hello/cli.py", "why": "second"},
            {"path": "`src/hello/cli.py#L5`", "why": "third"},
            {"path": "README.md", "why": "readme"},
        ]
    )
    final = finalize(draft, _bundle(), [])
    assert [(f.path, f.why) for f in final.files] == [
        ("src/hello/cli.py", "first"),
        ("README.md", "readme"),
    ]


def test_files_the_issue_names_are_added() -> None:
    excerpts = [
        FileExcerpt(
            path="src/hello/config.py", url="u", reasons=["named as a path"], line=3, content="c"
        ),
        FileExcerpt(
            path="docs/guide.md",
            url="u",
            reasons=["path words match the issue: guide"],
            line=None,
            content="d",
        ),
        FileExcerpt(
            path="src/hello/cli.py",
            url="u",
            reasons=["named in a traceback"],
            line=None,
            content="e",
        ),
    ]
    draft = make_draft(files_to_read=_files("src/hello/cli.py"))
    final = finalize(draft, _bundle(files=excerpts), [])
    assert [f.path for f in final.files] == ["src/hello/cli.py", "src/hello/config.py"]
    added = final.files[1]
    assert added.why == "The issue refers to this file."
    assert added.url == f"{BUNDLE_REPO_URL}/blob/{BUNDLE_COMMIT}/src/hello/config.py"
    assert final.files[0].why == "why src/hello/cli.py"


def test_urls_use_head_without_a_commit() -> None:
    final = finalize(make_draft(files_to_read=_files("x")), _bundle(commit_sha=None), [])
    assert final.files[0].url == f"{BUNDLE_REPO_URL}/blob/HEAD/x"


def _concept(name: str, parent: str | None = None) -> dict[str, Any]:
    return {"name": name, "description": f"about {name}", "parent": parent}


def test_concepts_deduplicated_by_slug_first_wins() -> None:
    draft = make_draft(
        concepts=[
            _concept("HTTP Caching", "HTTP"),
            _concept("http caching"),
            _concept("JS", "Programming languages"),
            _concept("JavaScript"),
            _concept("!!!"),
        ]
    )
    concepts = finalize(draft, _bundle(), []).concepts
    assert [c.slug for c in concepts] == ["http-caching", "javascript"]
    assert concepts[0].name == "HTTP Caching"
    assert concepts[0].description == "about HTTP Caching"
    assert concepts[0].parent_slug == "http"
    assert concepts[0].parent_name == "HTTP"
    assert concepts[1].name == "JS"
    assert concepts[1].parent_slug == "programming-languages"


@pytest.mark.parametrize(
    ("name", "parent"),
    [("JS", "JavaScript"), ("Unit Tests", "unit testing"), ("Regex", "regex"), ("CI", "???")],
)
def test_parent_equal_to_self_or_empty_is_dropped(name: str, parent: str) -> None:
    (concept,) = finalize(make_draft(concepts=[_concept(name, parent)]), _bundle(), []).concepts
    assert concept.parent_slug is None
    assert concept.parent_name is None


def test_observed_flags_come_first_in_red_flags() -> None:
    draft = make_draft(
        red_flags=[
            {"kind": "vague-scope", "detail": "The expected behaviour is unclear."},
            {"kind": "stale", "detail": "Nobody answered for months."},
        ]
    )
    observed = ["already assigned to @alice", "the issue is closed"]
    final = finalize(draft, _bundle(observed_flags=observed), [])
    assert final.red_flags == [
        {"kind": "observed", "detail": "already assigned to @alice"},
        {"kind": "observed", "detail": "the issue is closed"},
        {"kind": "vague-scope", "detail": "The expected behaviour is unclear."},
        {"kind": "stale", "detail": "Nobody answered for months."},
    ]


def test_secrets_are_scrubbed_from_every_draft_field() -> None:
    leak = f"{SECRET} {GHP}"
    draft = make_draft(
        title=f"T {leak}",
        summary=f"S {leak}",
        junior_friendly_reason=f"J {leak}",
        prerequisites=[{"concept": f"C {leak}", "why": f"W {leak}"}],
        architecture_overview=f"A {leak}",
        files_to_read=[
            {"path": f"nope/{SECRET}.py", "why": f"W {leak}"},
            {"path": "x", "why": leak},
        ],
        implementation_steps=[f"I {leak}"],
        how_to_test=[f"H {leak}"],
        questions_for_maintainers=[f"Q {leak}"],
        red_flags=[{"kind": f"K {leak}", "detail": f"D {leak}"}],
        first_comment=f"F {leak}",
        concepts=[_concept(f"N {leak}", f"P {leak}")],
    )
    final = finalize(draft, _bundle(), [SECRET])
    dumped = final.model_dump_json() + str(final.structured())
    assert SECRET not in dumped
    assert GHP not in dumped
    assert final.draft.title == f"T {REDACTED} {REDACTED}"
    assert final.draft.first_comment == f"F {REDACTED} {REDACTED}"
    assert final.unverified_paths == [f"nope/{REDACTED}.py"]
    assert final.files[0].why == f"{REDACTED} {REDACTED}"
    assert final.red_flags == [
        {"kind": f"K {REDACTED} {REDACTED}", "detail": f"D {REDACTED} {REDACTED}"}
    ]


def test_structured_output_replaces_model_fields() -> None:
    draft = make_draft(
        files_to_read=_files("./x", "../nope"),
        concepts=[_concept("JS")],
        red_flags=[{"kind": "stale", "detail": "old"}],
    )
    data = finalize(draft, _bundle(observed_flags=["the issue is closed"]), []).structured()
    assert data["files_to_read"] == [
        {"path": "x", "why": "why ./x", "url": f"{BUNDLE_REPO_URL}/blob/{BUNDLE_COMMIT}/x"}
    ]
    assert data["unverified_paths"] == ["../nope"]
    assert [c["slug"] for c in data["concepts"]] == ["javascript"]
    assert data["red_flags"][0] == {"kind": "observed", "detail": "the issue is closed"}
    assert data["difficulty"] == "beginner"
    assert data["title"] == "Fix the crash on empty config"


def test_scrubbing_a_short_secret_at_the_length_limit_does_not_crash() -> None:
    secret = "hunter22"  # 8 characters: a legal, if weak, webhook secret
    draft = make_draft(title="x" * 292 + secret)
    assert len(draft.title) == 300
    final = finalize(draft, _bundle(), [secret])
    assert secret not in final.draft.title
    assert len(final.draft.title) <= 300
    assert final.draft.title == "x" * 292  # the marker the limit would split is left out


def test_scrubbing_cuts_every_overlong_field_to_its_limit() -> None:
    secret = "pw42"
    paragraph = ("a " + secret + " ") * 500  # 4000 characters; 7000 once scrubbed
    long_text = (secret + "b") * 1600  # 8000 characters
    draft = make_draft(
        summary=long_text,
        implementation_steps=["ok", paragraph.strip()],
        files_to_read=[{"path": "x", "why": paragraph.strip()}],
        concepts=[_concept("c" * 296 + secret)],
    )
    final = finalize(draft, _bundle(), [secret])
    dumped = final.model_dump_json()
    assert secret not in dumped
    assert len(final.draft.summary) <= 8000
    assert final.draft.summary.startswith(f"{REDACTED}b{REDACTED}b")
    assert final.draft.implementation_steps[0] == "ok"
    assert len(final.draft.implementation_steps[1]) <= 4000
    assert len(final.draft.files_to_read[0].why) <= 4000
    assert len(final.draft.concepts[0].name) <= 300
    assert TutorialDraft.model_validate(final.draft.model_dump()) == final.draft


def test_a_secret_equal_to_an_enum_value_leaves_the_enum_alone() -> None:
    final = finalize(make_draft(summary="for a beginner"), _bundle(), ["beginner"])
    assert final.draft.difficulty.value == "beginner"
    assert final.draft.summary == f"for a {REDACTED}"


def test_a_file_shown_as_a_window_links_to_its_lines() -> None:
    window = f"{BUNDLE_REPO_URL}/blob/{BUNDLE_COMMIT}/src/hello/cli.py#L40-L52"
    excerpts = [
        FileExcerpt(
            path="src/hello/cli.py", url=window, reasons=["defines main"], line=None, content="e"
        ),
        FileExcerpt(
            path="src/hello/config.py",
            url="javascript:alert(1)",
            reasons=[],
            line=None,
            content="c",
        ),
    ]
    draft = make_draft(files_to_read=_files("src/hello/cli.py", "src/hello/config.py"))
    final = finalize(draft, _bundle(files=excerpts), [])
    blob = f"{BUNDLE_REPO_URL}/blob/{BUNDLE_COMMIT}/src/hello/config.py"
    assert [f.url for f in final.files] == [window, blob]  # only ever a window of the blob URL
