"""Untrusted text made safe: decoding, cleaning, secret scrubbing and bounded truncation."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from issuesight.core.text import (
    REDACTED,
    clean,
    decode_text,
    scrub,
    truncate_head,
    truncate_inline,
    truncate_middle,
    window_around_line,
)

GHP = "ghp_" + "A1b2C3d4E5" * 4  # 44 characters, as GitHub classic tokens are
PAT = "github_pat_" + "11ABCDEFG0_" + "x" * 40
OPENAI = "sk-proj-" + "abcDEF123_-" * 3
ANTHROPIC = "sk-ant-" + "Q" * 30
AWS = "AKIA" + "ABCDEFGHIJ234567"
SLACK = "xoxb-1234567890-abcdefABCDEF"


def _text(size: int) -> str:
    """Distinct, position-revealing text: the head and tail can be recognized."""
    return "".join(chr(ord("a") + (i * 7) % 26) for i in range(size))


# -- decode_text / clean ---------------------------------------------------------------------


def test_decode_plain_utf8() -> None:
    assert decode_text("héllo wörld ✓\n".encode()) == "héllo wörld ✓\n"


def test_decode_empty() -> None:
    assert decode_text(b"") == ""


def test_decode_nul_in_first_8kb_is_binary() -> None:
    assert decode_text(b"\x00abc") is None
    assert decode_text(b"a" * 8191 + b"\x00") is None
    assert decode_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") is None


def test_decode_nul_after_8kb_is_text_with_nul_removed() -> None:
    data = b"a" * 8192 + b"\x00" + b"tail"
    result = decode_text(data)
    assert result is not None
    assert "\x00" not in result
    assert result == "a" * 8192 + "tail"


def test_decode_invalid_utf8_is_replaced() -> None:
    result = decode_text(b"ok \xff\xfe bad \xc3(")
    assert result is not None
    assert result.startswith("ok ")
    assert "\ufffd" in result
    assert result.count("\ufffd") == 3
    assert result.endswith(" bad \ufffd(")


def test_decode_normalizes_crlf() -> None:
    assert decode_text(b"a\r\nb\r\n") == "a\nb\n"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("", ""),
        ("a\x00b", "ab"),
        ("\x00\x00", ""),
        ("line1\r\nline2", "line1\nline2"),
        ("keep\rlone", "keep\rlone"),
        ("plain", "plain"),
    ],
)
def test_clean(value: str | None, expected: str) -> None:
    assert clean(value) == expected


# -- scrub -------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [GHP, PAT, OPENAI, ANTHROPIC, AWS, SLACK])
def test_scrub_removes_token_shapes(token: str) -> None:
    text = f"my token is {token} please ignore"
    result = scrub(text, [])
    assert token not in result
    assert result == f"my token is {REDACTED} please ignore"


@pytest.mark.parametrize("prefix", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"])
def test_scrub_covers_every_github_token_prefix(prefix: str) -> None:
    token = prefix + "Z" * 36
    assert scrub(f"x {token} y", []) == f"x {REDACTED} y"


@pytest.mark.parametrize(
    "harmless",
    [
        "ghp_short",
        "sk-short",
        "AKIA123",
        "the task-list is done",
        "xoxb-1",
        "github_pat_tiny",
    ],
)
def test_scrub_leaves_harmless_text(harmless: str) -> None:
    assert scrub(harmless, []) == harmless


def test_scrub_removes_configured_secrets_everywhere() -> None:
    secret = "hunter2-webhook-secret"
    text = f"{secret} at start, {secret} in the middle and at the end {secret}"
    result = scrub(text, [secret])
    assert secret not in result
    assert result.count(REDACTED) == 3


def test_scrub_ignores_short_and_empty_secrets() -> None:
    text = "abc is a word, so is a and the empty string"
    assert scrub(text, ["", "a", "ab", "abc"]) == text
    assert scrub("abcd abcd", ["abcd"]) == f"{REDACTED} {REDACTED}"


def test_scrub_several_secrets_and_shapes_together() -> None:
    text = f"one=alpha-secret-1 two=beta-secret-2 three={GHP}"
    result = scrub(text, ["alpha-secret-1", "beta-secret-2"])
    assert result == f"one={REDACTED} two={REDACTED} three={REDACTED}"


def test_scrub_replaces_longer_secrets_first() -> None:
    short, long = "prefix-secret", "prefix-secret-and-more"
    for order in ([short, long], [long, short]):
        result = scrub(f"a={long} b={short}", order)
        assert result == f"a={REDACTED} b={REDACTED}"
        assert "and-more" not in result


def test_scrub_redacts_overlapping_secrets_whole() -> None:
    assert scrub("x=abcdefghi;", ["abcdef", "defghi"]) == f"x={REDACTED};"
    assert scrub("aaaaa abcdabcd", ["aaaa", "abcd"]) == f"{REDACTED} {REDACTED}{REDACTED}"


def test_scrub_accepts_any_iterable() -> None:
    assert scrub("aaaa-secret", (s for s in ["aaaa-secret"])) == REDACTED


# -- truncation --------------------------------------------------------------------------------

SIZES = [0, 1, 39, 40, 41, 99, 100, 1_000, 12_345, 200_001]
LIMITS = [64, 65, 80, 100, 101, 257, 1_000, 4_096, 50_000]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("limit", LIMITS)
def test_truncate_middle_bounds_and_keeps_both_ends(size: int, limit: int) -> None:
    text = _text(size)
    result = truncate_middle(text, limit)
    assert len(result) <= limit
    if size <= limit:
        assert result == text
        return
    match = re.search(r"\n\[… (\d+) characters omitted …\]\n", result)
    assert match is not None
    head, tail = result[: match.start()], result[match.end() :]
    assert text.startswith(head)
    assert text.endswith(tail)
    assert int(match.group(1)) == size - len(head) - len(tail)
    assert len(head) >= len(tail)
    # Nothing wasted: the result uses the room it was given, give or take the digit count.
    assert len(result) >= limit - 8


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("limit", LIMITS)
def test_truncate_head_bounds_and_keeps_the_start(size: int, limit: int) -> None:
    text = _text(size)
    result = truncate_head(text, limit)
    assert len(result) <= limit
    if size <= limit:
        assert result == text
        return
    match = re.search(r"\n\[… truncated, (\d+) more characters …\]$", result)
    assert match is not None
    head = result[: match.start()]
    assert text.startswith(head)
    assert int(match.group(1)) == size - len(head)
    assert len(result) >= limit - 8


def test_truncate_middle_marker_example() -> None:
    text = "HEAD" + "-" * 10_000 + "TAIL"
    result = truncate_middle(text, 200)
    assert result.startswith("HEAD")
    assert result.endswith("TAIL")
    assert "characters omitted" in result


@pytest.mark.parametrize("truncate", [truncate_middle, truncate_head])
@pytest.mark.parametrize("limit", [0, 1, 10, 20])
def test_truncation_never_exceeds_tiny_limits(
    truncate: Callable[[str, int], str], limit: int
) -> None:
    result = truncate(_text(1_000), limit)
    assert len(result) <= limit


@pytest.mark.parametrize("limit", [0, 1, 2, 10, 99, 100, 200])
def test_truncate_inline(limit: int) -> None:
    text = "word " * 20  # 100 characters
    result = truncate_inline(text, limit)
    assert len(result) <= limit
    if limit >= 100:
        assert result == text
    elif limit:
        assert result.endswith("…")
        assert text.startswith(result[:-1])


# -- window_around_line ------------------------------------------------------------------------


def _numbered(n: int, width: int = 30) -> tuple[str, list[str]]:
    lines = [f"line {i:05d} " + "x" * (width - 11) for i in range(1, n + 1)]
    return "\n".join(lines), lines


@pytest.mark.parametrize("n", [50, 500, 5_000])
@pytest.mark.parametrize("limit", [100, 333, 1_000, 4_000])
@pytest.mark.parametrize("where", ["first", "early", "middle", "late", "last"])
def test_window_contains_target_and_fits(n: int, limit: int, where: str) -> None:
    text, lines = _numbered(n)
    line = {"first": 1, "early": 3, "middle": n // 2, "late": n - 2, "last": n}[where]
    result = window_around_line(text, line, limit)
    if len(text) <= limit:
        assert result == text
        return
    header, _, excerpt = result.partition("\n")
    match = re.fullmatch(r"\[lines (\d+)-(\d+) of (\d+)\]", header)
    assert match is not None
    start, end, total = (int(g) for g in match.groups())
    assert total == n
    assert start <= line <= end
    assert len(excerpt) <= limit
    assert lines[line - 1] in excerpt.split("\n")
    assert excerpt == "\n".join(lines[start - 1 : end])
    # The window grows on both sides when it can.
    if 1 < line < n and limit >= 3 * 31:
        assert start < line < end


def test_window_header_overhead_is_small() -> None:
    text, _ = _numbered(10_000)
    limit = 500
    result = window_around_line(text, 5_000, limit)
    header = result.split("\n", 1)[0]
    assert len(result) <= limit + len(header) + 1
    assert len(header) < 40


def test_window_on_a_line_longer_than_the_limit_is_cut() -> None:
    lines = ["short"] * 10 + ["L" * 5_000] + ["short"] * 10
    text = "\n".join(lines)
    result = window_around_line(text, 11, 300)
    header, _, excerpt = result.partition("\n")
    assert header == "[lines 11-11 of 21]"
    assert excerpt == "L" * 300


@pytest.mark.parametrize("line", [0, -1, 10_001])
def test_window_out_of_range_falls_back_to_head(line: int) -> None:
    text, lines = _numbered(10_000)
    result = window_around_line(text, line, 500)
    assert result == truncate_head(text, 500)
    assert result.startswith(lines[0])


def test_window_small_text_is_returned_whole() -> None:
    text, _ = _numbered(5)
    assert window_around_line(text, 3, 10_000) == text
