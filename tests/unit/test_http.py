"""Retry-After, the one parser both upstreams use: seconds, fractions, HTTP dates, OpenAI's
retry-after-ms, and everything that must be ignored rather than guessed."""

from __future__ import annotations

import httpx
import pytest

from issuesight.core.http import format_retry_after, parse_retry_after, retry_after_from

NOW = 1_445_412_470.0  # 2015-10-21 07:27:50 UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 30 ", 30.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-3", 0.0),  # never a negative wait
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past: go now
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Wed, 21 Oct 2015 07:28:00", None),  # a date without its zone is not an HTTP date
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_openai_milliseconds_come_first() -> None:
    headers = httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})
    assert retry_after_from(headers, now=NOW) == 0.25
    assert retry_after_from(httpx.Headers({"retry-after": "9"}), now=NOW) == 9.0
    dated = httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_from(dated, now=NOW) == 10.0
    assert retry_after_from(httpx.Headers({"retry-after-ms": "x"}), now=NOW) is None


@pytest.mark.parametrize(("seconds", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2")])
def test_format_retry_after_is_whole_seconds_and_at_least_one(seconds: float, header: str) -> None:
    assert format_retry_after(seconds) == header
