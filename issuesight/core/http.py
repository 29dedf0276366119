"""HTTP's `Retry-After`, read and written in one place.

Upstreams send it as delta-seconds (GitHub, OpenAI-compatible servers; some with fractions) or
as an HTTP-date (RFC 9110 §10.2.3); OpenAI also sends `retry-after-ms`. A value that parses as
neither is ignored, never guessed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait (never negative), or None when absent or unreadable."""
    if not value:
        return None
    raw = value.strip()
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; one without a zone is not one of them
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def retry_after_from(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """`retry-after-ms` (OpenAI) first, then `retry-after`."""
    millis = _number(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    return parse_retry_after(headers.get("retry-after"), now=now)


def format_retry_after(seconds: float) -> str:
    """Whole seconds, at least one, as a `Retry-After` we send."""
    return str(max(1, math.ceil(seconds)))


def _number(value: str | None) -> float | None:
    """A finite, non-negative number of seconds (or milliseconds), else None."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None
