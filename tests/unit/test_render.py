"""render_markdown: every section present, model text escaped, no script links."""

from __future__ import annotations

import re
from typing import Any

import pytest

from issuesight.context.bundle import ContextBundle, FileExcerpt
from issuesight.tutorial.finalize import FinalTutorial, finalize
from issuesight.tutorial.render import code_span, render_markdown, safe_text
from issuesight.tutorial.schema import TutorialDraft
from tests.helpers import BUNDLE_COMMIT, BUNDLE_REPO_URL, make_bundle, make_draft

HEADINGS = [
    "## Is this a good first issue?",
    "## Red flags",
    "## Learn these first",
    "## How the project fits together",
    "## Files to read first",
    "## Implementation steps",
    "## How to test",
    "## Questions to ask the maintainers",
    "## A first comment you can post",
    "## Concepts",
]


# Every section has something to show: a file, two steps, a red flag, a concept, and a
# two-line first comment; the bundle observed a flag of its own.
def _draft(**overrides: Any) -> TutorialDraft:
    return make_draft(
        **{
            "difficulty": "intermediate",
            "files_to_read": [{"path": "src/cli.py", "why": "Where it crashes."}],
            "implementation_steps": ["Handle the empty file.", "Add a message."],
            "red_flags": [{"kind": "stale", "detail": "No answer since March."}],
            "first_comment": "Hi! May I work on this?\nI would add a test first.",
            "concepts": [{"name": "Error handling", "description": "d", "parent": None}],
            **overrides,
        }
    )


def _bundle(**overrides: Any) -> ContextBundle:
    return make_bundle(
        **{
            "tree_paths": ["src/cli.py", "README.md"],
            "observed_flags": ["the issue is closed"],
            **overrides,
        }
    )


def _render(draft: TutorialDraft | None = None, bundle: ContextBundle | None = None) -> str:
    bundle = bundle or _bundle()
    final: FinalTutorial = finalize(draft or _draft(), bundle, [])
    return render_markdown(final, bundle)


def test_every_section_and_the_facts() -> None:
    md = _render()
    positions = [md.index(h) for h in HEADINGS]
    assert positions == sorted(positions)
    assert md.startswith("# Fix the crash on empty config\n")
    assert (
        "*Issue [octo-org/hello-world#42](https://github.com/octo-org/hello-world/issues/42) · "
        "difficulty: **intermediate** · junior-friendly: **yes***"
    ) in md
    assert "- **observed**: the issue is closed" in md
    assert "- **stale**: No answer since March." in md
    assert md.index("**observed**") < md.index("**stale**")
    assert "- **Python exceptions**: The fix catches one." in md
    assert (
        f"- [`src/cli.py`]({BUNDLE_REPO_URL}/blob/{BUNDLE_COMMIT}/src/cli.py): Where it crashes."
        in md
    )
    assert "1. Handle the empty file.\n2. Add a message." in md
    assert "- Run pytest." in md
    assert "`error-handling`" in md
    assert "Context read at commit 0123456789ab of octo-org/hello-world." in md


def test_first_comment_is_quoted_line_by_line() -> None:
    md = _render()
    section = md.split("## A first comment you can post\n\n", 1)[1].split("\n\n", 1)[0]
    assert section == "> Hi! May I work on this?\n> I would add a test first."


def test_optional_sections_disappear_when_empty() -> None:
    draft = _draft(
        prerequisites=[], files_to_read=[], questions_for_maintainers=[], red_flags=[], concepts=[]
    )
    md = _render(draft, _bundle(observed_flags=[], commit_sha=None))
    for heading in [
        "## Red flags",
        "## Learn these first",
        "## Files to read first",
        "## Questions to ask the maintainers",
        "## Concepts",
    ]:
        assert heading not in md
    assert "junior-friendly: **yes***" in md
    assert "Context read at commit unknown" in md


def test_not_junior_friendly_is_said() -> None:
    md = _render(_draft(junior_friendly=False, difficulty="advanced"))
    assert "difficulty: **advanced** · junior-friendly: **not really***" in md


HOSTILE = [
    "<script>alert(document.cookie)</script>",
    '<img src=x onerror="alert(1)">',
    "<iframe src=https://evil.test></iframe>",
    '<a href="javascript:alert(1)">x</a>',
]


@pytest.mark.parametrize("payload", HOSTILE)
def test_html_is_escaped_in_every_field(payload: str) -> None:
    draft = _draft(
        title=payload,
        summary=payload,
        junior_friendly_reason=payload,
        prerequisites=[{"concept": payload, "why": payload}],
        architecture_overview=payload,
        files_to_read=[{"path": "src/cli.py", "why": payload}],
        implementation_steps=[payload],
        how_to_test=[payload],
        questions_for_maintainers=[payload],
        red_flags=[{"kind": payload, "detail": payload}],
        first_comment=payload,
        concepts=[{"name": payload, "description": payload, "parent": payload}],
    )
    md = _render(draft)
    assert "<script" not in md
    assert "<img" not in md
    assert "<iframe" not in md
    assert "<a " not in md
    # The only raw HTML is the footer the renderer writes itself.
    assert re.findall(r"<[a-z/][^>]*>", md) == ["<sub>", "</sub>"]
    assert md.count("&lt;") >= 12


@pytest.mark.parametrize(
    "link",
    [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](  javascript:alert(1))",
        "![img](javascript:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[click](vbscript:msgbox(1))",
        "[click](file:///etc/passwd)",
    ],
)
def test_script_links_are_neutralized(link: str) -> None:
    for text in (safe_text(link), _render(_draft(summary=f"see {link} now", how_to_test=[link]))):
        assert not re.search(r"\]\(\s*(?:javascript|data|vbscript|file):", text, re.IGNORECASE)
        assert "]\\(" in text


@pytest.mark.parametrize(
    "link",
    [
        "[docs](https://docs.python.org/3/)",
        "[docs](http://example.com/a?b=c)",
        "[readme](README.md)",
        "[guide](./docs/guide.md#setup)",
    ],
)
def test_http_and_relative_links_are_kept(link: str) -> None:
    assert safe_text(link) == link
    assert link in _render(_draft(summary=f"read {link}"))


def test_single_line_fields_cannot_inject_headings() -> None:
    md = _render(_draft(title="Title\n# Injected heading\n<script>", how_to_test=["a\n## Fake"]))
    assert md.startswith("# Title # Injected heading &lt;script&gt;\n")
    assert "\n## Fake" not in md
    assert "- a ## Fake" in md


def test_reference_style_script_links_are_neutralized() -> None:
    md = _render(_draft(summary="[x]: javascript:alert(1)\n\nclick [x]"))
    assert not re.search(r"(?m)^ {0,3}\[[^\]]+\]:\s*javascript:", md)


def test_hostile_file_names_from_the_tree_are_escaped() -> None:
    path = "docs/a`<img src=x onerror=alert(1)>`.md"
    bundle = _bundle(tree_paths=[path])
    md = _render(_draft(files_to_read=[{"path": path, "why": "w"}]), bundle)
    assert "<img" not in md


@pytest.mark.parametrize(
    "definition",
    [
        "[x]: javascript:alert(1)",
        "   [x]:   JavaScript:alert(1)",
        "[x]:\n  data:text/html;base64,PHNjcmlwdD4=",
        "[x]: vbscript:msgbox(1)",
        "[x]: file:///etc/passwd",
        "[a\\]b]: javascript:alert(1)",
        "\\[x]: javascript:alert(1)",
    ],
)
def test_reference_definitions_to_other_schemes_are_broken(definition: str) -> None:
    unsafe = re.compile(r"\]:\s*(?:javascript|data|vbscript|file):", re.IGNORECASE)
    assert not unsafe.search(safe_text(definition))
    # In a list item or a block quote, where a definition may sit too.
    md = _render(
        _draft(
            implementation_steps=[definition],
            first_comment=f"Hi\n{definition}",
            summary=f"see [x]\n\n{definition}",
        )
    )
    assert not unsafe.search(md)


def test_https_reference_definitions_are_kept() -> None:
    definition = "[docs]: https://docs.python.org/3/"
    assert safe_text(definition) == definition
    assert definition in _render(_draft(summary=f"read [docs]\n\n{definition}"))


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("src/cli.py", "[`src/cli.py`]"),
        ("docs/a`b.md", "[``docs/a`b.md``]"),
        ("x``y.md", "[```x``y.md```]"),
        ("a<b>&c.md", "[a&lt;b&gt;&amp;c\\.md]"),
        ("new\nline.md", "[`new\\nline.md`]"),
        ("my file (1).md", "[`my file (1).md`]"),
    ],
)
def test_file_paths_are_shown_verbatim_and_linked_encoded(path: str, shown: str) -> None:
    bundle = _bundle(tree_paths=[path])
    md = _render(_draft(files_to_read=[{"path": path, "why": "w"}]), bundle)
    section = md.split("## Files to read first\n\n", 1)[1].split("\n\n", 1)[0]
    assert section.count("\n") == 0
    assert section.startswith(f"- {shown}(")
    url = section[len(f"- {shown}(") :].split("): w", 1)[0]
    assert url.startswith(f"{BUNDLE_REPO_URL}/blob/{BUNDLE_COMMIT}/")
    assert not re.search(r"[\s()<>`\\]", url)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "`plain`"),
        ("`lead", "`` `lead ``"),
        ("trail`", "`` trail` ``"),
        (" spaced ", "`  spaced  `"),
        ("a```b", "````a```b````"),
        ("tab\there", "`tab\\there`"),
        ("<b>", "&lt;b&gt;"),
        ("*a_[b]&", "\\*a\\_\\[b\\]&amp;"),
    ],
)
def test_code_span(text: str, expected: str) -> None:
    assert code_span(text) == expected


def test_named_file_with_a_hostile_name_is_escaped_too() -> None:
    path = "`<img src=x onerror=alert(1)>`"
    excerpt = FileExcerpt(path=path, url="u", reasons=["named as a path"], line=None, content="x")
    md = _render(_draft(files_to_read=[]), _bundle(files=[excerpt], tree_paths=[path]))
    assert "<img" not in md
    assert "- [\\`&lt;img src\\=x onerror\\=alert\\(1\\)&gt;\\`](" in md
