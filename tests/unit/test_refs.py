"""Issue references: the accepted spellings, normalization, derived keys and every rejection."""

from __future__ import annotations

import functools
import json
import sys
import uuid
from collections.abc import Callable

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from issuesight.domain.refs import (
    ISSUE_REFERENCE_PATTERN,
    ISSUE_REPO_PATTERN,
    MAX_ISSUE_NUMBER,
    MAX_REFERENCE_LENGTH,
    OWNER_PATTERN,
    REPO_NAME_PATTERN,
    REPO_PATTERN,
    VALID_FORMS,
    InvalidIssueReference,
    IssueRef,
    make_ref,
    parse_issue_ref,
    parse_repo_name,
    parse_submitted_issue_ref,
    tutorial_id_for,
)
from tests.paths import BLNS


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("octo-org/hello-world#42", "octo-org/hello-world#42"),
        ("Octo-Org/Hello-World#42", "octo-org/hello-world#42"),
        ("  octo-org/hello-world#42\n", "octo-org/hello-world#42"),
        ("\tOCTO/REPO#7 ", "octo/repo#7"),
        ("a/b#1", "a/b#1"),
        ("o/my_repo.js#3", "o/my_repo.js#3"),
        ("o/r#0001", "o/r#1"),
        (f"o/r#{MAX_ISSUE_NUMBER}", f"o/r#{MAX_ISSUE_NUMBER}"),
        ("https://github.com/octo-org/hello-world/issues/42", "octo-org/hello-world#42"),
        ("https://github.com/octo-org/hello-world/issues/42/", "octo-org/hello-world#42"),
        ("http://github.com/octo-org/hello-world/issues/42", "octo-org/hello-world#42"),
        ("https://www.github.com/octo-org/hello-world/issues/42", "octo-org/hello-world#42"),
        ("github.com/octo-org/hello-world/issues/42", "octo-org/hello-world#42"),
        ("www.github.com/Octo-Org/Hello-World/issues/42", "octo-org/hello-world#42"),
        ("HTTPS://GITHUB.COM/OCTO-ORG/HELLO-WORLD/ISSUES/42", "octo-org/hello-world#42"),
        ("https://github.com/octo-org/hello-world/issues/42?foo=bar", "octo-org/hello-world#42"),
        (
            "https://github.com/octo-org/hello-world/issues/42#issuecomment-123",
            "octo-org/hello-world#42",
        ),
        ("https://github.com/octo-org/hello-world/issues/42/?a=1#x", "octo-org/hello-world#42"),
        ("  https://github.com/Octo-Org/Hello-World/issues/42  ", "octo-org/hello-world#42"),
    ],
)
def test_valid_forms_normalize_to_one_key(text: str, key: str) -> None:
    ref = parse_issue_ref(text)
    assert ref.key == key
    assert str(ref) == key
    assert ref.owner == ref.owner.lower()
    assert ref.repo == ref.repo.lower()


def test_parts_and_derived_properties() -> None:
    ref = parse_issue_ref("Octo-Org/Hello-World#42")
    assert ref == IssueRef(owner="octo-org", repo="hello-world", number=42)
    assert ref.number == 42
    assert isinstance(ref.number, int)
    assert ref.repo_full_name == "octo-org/hello-world"
    assert ref.workflow_id == "tutorial:octo-org/hello-world#42"
    assert ref.html_url == "https://github.com/octo-org/hello-world/issues/42"


def test_tutorial_id_is_deterministic_uuid5_and_equal_across_spellings() -> None:
    spellings = [
        "octo-org/hello-world#42",
        "OCTO-ORG/Hello-World#42",
        " octo-org/hello-world#0042 ",
        "https://github.com/Octo-Org/hello-world/issues/42",
        "http://www.github.com/octo-org/HELLO-WORLD/issues/42/#top",
    ]
    ids = {parse_issue_ref(s).tutorial_id for s in spellings}
    workflow_ids = {parse_issue_ref(s).workflow_id for s in spellings}
    assert len(ids) == 1
    assert workflow_ids == {"tutorial:octo-org/hello-world#42"}
    (tutorial_id,) = ids
    assert tutorial_id.version == 5
    assert tutorial_id == tutorial_id_for("octo-org/hello-world#42")
    # Stable across processes: a fixed namespace, not a random one.
    expected = uuid.uuid5(
        uuid.UUID("5b0f6c8e-2f43-4d55-9a8e-6c1d3f9b7a21"), "octo-org/hello-world#42"
    )
    assert tutorial_id == expected


def test_different_issues_get_different_ids() -> None:
    a = parse_issue_ref("o/r#1")
    b = parse_issue_ref("o/r#2")
    c = parse_issue_ref("o/r2#1")
    assert len({a.tutorial_id, b.tutorial_id, c.tutorial_id}) == 3
    assert len({a.workflow_id, b.workflow_id, c.workflow_id}) == 3


@pytest.mark.parametrize(
    ("text", "reason_part"),
    [
        ("https://github.com/octo-org/hello-world/pull/42", "pull request"),
        ("https://github.com/octo-org/hello-world/pulls/42", "pull request"),
        ("github.com/octo-org/hello-world/PULL/42", "pull request"),
        ("https://gitlab.com/octo-org/hello-world/issues/42", "only github.com"),
        ("https://example.com/octo-org/hello-world/issues/42", "only github.com"),
        ("https://github.com.evil.test/o/r/issues/1", "only github.com"),
        ("octo-org/hello-world#0", "out of range"),
        ("https://github.com/o/r/issues/0", "out of range"),
        ("octo-org/hello-world#-1", "positive integer"),
        ("https://github.com/o/r/issues/-5", "positive integer"),
        (f"o/r#{MAX_ISSUE_NUMBER + 1}", "out of range"),
        ("o/r#9999999999", "out of range"),
        ("o/r#12345678901", "not an issue reference"),
        ("o/" + "r" * MAX_REFERENCE_LENGTH + "#1", "characters long"),
        ("octo-org/..#1", "not a repository name"),
        ("octo-org/.#1", "not a repository name"),
        ("https://github.com/octo-org/../issues/1", "not a repository name"),
        ("octo-org/hello-world.git#1", "not a repository name"),
        ("https://github.com/o/hello-world.git/issues/1", "not a repository name"),
        ("-octo/hello-world#1", "not an issue reference"),
        ("octo-/hello-world#1", "not an issue reference"),
        ("oc--to/hello-world#1", "not an issue reference"),
        ("a" * 40 + "/r#1", "not an issue reference"),
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("octo-org/hello-world", "not an issue reference"),
        ("octo-org#1", "not an issue reference"),
        ("octo-org/hello world#1", "not an issue reference"),
        ("octo-org/hello-world#1 trailing", "not an issue reference"),
        ("https://github.com/o/r/issues/1 extra", "not an issue reference"),
        ("https://github.com/o/r/issues/abc", "not an issue reference"),
        ("o/r#1.5", "not an issue reference"),
        ("o/r#\u0661", "not an issue reference"),  # Arabic-Indic digit one
    ],
)
def test_rejections_say_why(text: str, reason_part: str) -> None:
    with pytest.raises(InvalidIssueReference) as info:
        parse_issue_ref(text)
    assert reason_part in info.value.reason
    assert reason_part in str(info.value)
    assert VALID_FORMS in str(info.value)
    assert isinstance(info.value, ValueError)


def test_length_limit_applies_after_stripping() -> None:
    ref_text = "o/r#1"
    padded = " " * 1000 + ref_text + " " * 1000
    assert parse_issue_ref(padded).key == "o/r#1"
    exactly = "o/" + "r" * (MAX_REFERENCE_LENGTH - len("o/#1")) + "#1"
    assert len(exactly) == MAX_REFERENCE_LENGTH
    # 100 characters is the repository name limit, so this fails on the pattern, not the length.
    with pytest.raises(InvalidIssueReference, match="not an issue reference"):
        parse_issue_ref(exactly)


@pytest.mark.parametrize("value", [None, 42, b"o/r#1", ["o/r#1"]])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidIssueReference, match="must be a string"):
        parse_issue_ref(value)  # type: ignore[arg-type]


def test_long_message_is_quoted_and_cut() -> None:
    text = "x" * 250
    with pytest.raises(InvalidIssueReference) as info:
        parse_issue_ref(text)
    assert repr("x" * 80) in info.value.reason
    assert "x" * 81 not in info.value.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("octo-org/hello-world", ("octo-org", "hello-world")),
        ("  Octo-Org/Hello.World_2 ", ("octo-org", "hello.world_2")),
        ("a/b", ("a", "b")),
    ],
)
def test_parse_repo_name_valid(text: str, expected: tuple[str, str]) -> None:
    assert parse_repo_name(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "octo", "octo/", "/repo", "octo/..", "octo/.", "-octo/repo", "o/r/x", "o/r#1", "o r/x"],
)
def test_parse_repo_name_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="not a repository name"):
        parse_repo_name(text)


def test_make_ref_normalizes_and_validates() -> None:
    assert make_ref("Octo-Org", "Hello-World", 42) == IssueRef("octo-org", "hello-world", 42)
    assert make_ref("o", "r", 7).key == "o/r#7"
    with pytest.raises(InvalidIssueReference, match="out of range"):
        make_ref("o", "r", 0)
    with pytest.raises(InvalidIssueReference, match="positive integer"):
        make_ref("o", "r", -3)
    with pytest.raises(InvalidIssueReference):
        make_ref("o/x", "r", 1)
    with pytest.raises(InvalidIssueReference):
        make_ref("o", "r#2", 1)


def _blns() -> list[str]:
    data: list[str] = json.loads(BLNS.read_text(encoding="utf-8"))
    assert len(data) > 500
    return data


def test_naughty_strings_parse_or_raise_invalid_reference() -> None:
    """Every entry of the Big List of Naughty Strings, alone and in each position of a
    reference, either parses to a well-formed ref or raises InvalidIssueReference."""
    parsed = 0
    reasons: list[str] = []
    for naughty in _blns():
        for text in (
            naughty,
            f"{naughty}/repo#1",
            f"owner/{naughty}#1",
            f"owner/repo#{naughty}",
            f"https://github.com/{naughty}/repo/issues/1",
            f"https://github.com/owner/repo/issues/1?{naughty}",
        ):
            try:
                ref = parse_issue_ref(text)
            except InvalidIssueReference as exc:
                reasons.append(exc.reason)
                continue
            parsed += 1
            assert ref.key.isascii(), (text, ref.key)
            assert ref.owner == ref.owner.lower()
            assert ref.repo == ref.repo.lower()
            assert 1 <= ref.number <= MAX_ISSUE_NUMBER
            assert parse_issue_ref(ref.key) == ref
    assert len(reasons) > 0
    assert all(reasons)
    # The query string after a URL is ignored, so those spellings with no whitespace parse.
    assert parsed > 0


@pytest.mark.parametrize(
    "text",
    [
        "https://github.com/\u017f/repo/issues/1",  # LATIN SMALL LETTER LONG S
        "https://github.com/owner/\u0131x/issues/1",  # LATIN SMALL LETTER DOTLESS I
    ],
)
def test_url_form_refuses_non_ascii_names(text: str) -> None:
    with pytest.raises(InvalidIssueReference):
        parse_issue_ref(text)


@pytest.mark.parametrize(
    "text", ["octo-org/Hello-World.GIT#1", "https://github.com/o/r.Git/issues/1"]
)
def test_dot_git_suffix_is_refused_in_any_case(text: str) -> None:
    with pytest.raises(InvalidIssueReference, match="not a repository name"):
        parse_issue_ref(text)


# -- the documented patterns say what the parsers accept -----------------------------------------
# The API's OpenAPI document carries these patterns; schemathesis (tests/e2e/
# test_openapi_conformance.py) holds the API to them. Here each is held to its parser, with the
# JSON Schema validator schemathesis uses (ECMA-262 regular expressions, not Python's).


@functools.cache
def _matches(pattern: str) -> Callable[[str], bool]:
    return jsonschema_rs.validator_for({"type": "string", "pattern": pattern}).is_valid


def _accepted(parse: Callable[[str], object], text: str) -> bool:
    try:
        parse(text)
    except ValueError:  # InvalidIssueReference is one
        return False
    return True


_SPACE = st.sampled_from(
    [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()] + ["\ufeff"]
)
# Near misses as well as hits: the parsers' own grammars, loosened, padded with any whitespace.
_NAME_CHARS = "abcXYZ019._-"
_LOOSE_NAME = st.builds(
    str.__add__,
    st.text(_NAME_CHARS, max_size=3),
    st.sampled_from(["", ".git", ".GiT", "--", ".", ".."]),
)
_LONG_NAME = st.text(_NAME_CHARS, min_size=37, max_size=41) | st.text(
    _NAME_CHARS, min_size=98, max_size=101
)
_LOOSE_NUMBER = st.builds(
    "{}{}{}".format,
    st.sampled_from(["", "-", "+"]),
    st.sampled_from(["", "0", "000"]),
    st.integers(0, 3 * 2**31).map(str),
)


@st.composite
def _references(draw: st.DrawFn) -> str:
    owner = draw(_LOOSE_NAME | _LONG_NAME)
    repo = draw(_LOOSE_NAME | _LONG_NAME)
    number = draw(_LOOSE_NUMBER)
    short = f"{owner}/{repo}#{number}"
    scheme = draw(st.sampled_from(["", "https://", "HTTP://", "ftp://"]))
    host = draw(st.sampled_from(["github.com", "WWW.GitHub.com", "gitlab.com", "github.com."]))
    kind = draw(st.sampled_from(["issues", "ISSUES", "pull", "issue"]))
    tail = draw(st.sampled_from(["", "/", "?a=1", "#x y", "/?q=\u00a0z", "\u2028"]))
    url = f"{scheme}{host}/{owner}/{repo}/{kind}/{number}{tail}"
    # Up to and past the length limit, which counts the padding.
    pad = st.lists(_SPACE, max_size=3).map("".join) | st.integers(60, 100).map(" ".__mul__)
    return draw(pad) + draw(st.sampled_from([short, url])) + draw(pad)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(_references())
def test_reference_pattern_matches_exactly_what_parses(text: str) -> None:
    """The pattern with its maxLength, as the API documents the body's `issue`."""
    documented = _matches(ISSUE_REFERENCE_PATTERN)(text) and len(text) <= MAX_REFERENCE_LENGTH
    assert documented == _accepted(parse_submitted_issue_ref, text), text


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    _LOOSE_NAME | _LONG_NAME,
    _LOOSE_NAME | _LONG_NAME,
    st.lists(_SPACE, max_size=2).map("".join),
)
def test_repository_patterns_match_exactly_what_parses(owner: str, repo: str, pad: str) -> None:
    name = f"{pad}{owner}/{repo}{pad}"
    assert _matches(REPO_NAME_PATTERN)(name) == _accepted(parse_repo_name, name), name
    # Path segments: as the routes check them, owner and repository apart.
    segments = _matches(OWNER_PATTERN)(owner) and _matches(REPO_PATTERN)(repo)
    assert segments == _accepted(parse_repo_name, f"{owner}/{repo}"), (owner, repo)
    issue = _accepted(lambda r: make_ref(owner, r, 1), repo)
    if _matches(OWNER_PATTERN)(owner):
        assert _matches(ISSUE_REPO_PATTERN)(repo) == issue, repo


@pytest.mark.parametrize(
    "text",
    [
        "a/b#1",
        "o/r#0001",
        f"o/r#{MAX_ISSUE_NUMBER}",
        "  https://github.com/Octo-Org/Hello-World/issues/42/?a=1#x  ",
    ],
)
def test_reference_pattern_examples(text: str) -> None:
    assert _matches(ISSUE_REFERENCE_PATTERN)(text)
    for bad in (
        "o/r#0",
        f"o/r#{MAX_ISSUE_NUMBER + 1}",
        "o/r.git#1",
        "o/..#1",
        "o/" + "r" * 101 + "#1",
    ):
        assert not _matches(ISSUE_REFERENCE_PATTERN)(bad), bad
