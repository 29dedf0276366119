"""Making untrusted bytes and strings safe to store and to put in a prompt."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"

# Credentials people paste into issues by mistake; they never go further than this module.
_TOKEN_SHAPES = re.compile(
    r"(?:gh[pousr]_[A-Za-z0-9]{20,255}"
    r"|github_pat_[A-Za-z0-9_]{20,255}"
    r"|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,255}"
    r"|AKIA[0-9A-Z]{16}"
    r"|xox[baprs]-[A-Za-z0-9-]{10,255})"
)
_BINARY_SNIFF = 8192


def decode_text(data: bytes) -> str | None:
    """UTF-8 text with undecodable bytes replaced; None when the content looks binary."""
    if b"\x00" in data[:_BINARY_SNIFF]:
        return None
    return clean(data.decode("utf-8", errors="replace"))


def clean(text: str | None) -> str:
    """Drops NUL bytes (PostgreSQL text refuses them) and normalizes newlines."""
    if not text:
        return ""
    return text.replace("\x00", "").replace("\r\n", "\n")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Removes configured secrets and token-shaped strings."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return _TOKEN_SHAPES.sub(REDACTED, text)


def truncate_middle(text: str, limit: int) -> str:
    """Keeps the head and the tail, which hold the question and the latest state of it."""
    if len(text) <= limit:
        return text
    marker = "\n[… {n} characters omitted …]\n"
    room = max(0, limit - len(marker.format(n=len(text))))
    head = room * 2 // 3
    tail = room - head
    omitted = len(text) - head - tail
    return text[:head] + marker.format(n=omitted) + (text[-tail:] if tail else "")


def truncate_head(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    marker = "\n[… truncated, {n} more characters …]"
    room = max(0, limit - len(marker.format(n=len(text))))
    return text[:room] + marker.format(n=len(text) - room)


def window_around_line(text: str, line: int, limit: int) -> str:
    """An excerpt centred on a line the issue points at, within `limit` characters."""
    lines = text.split("\n")
    if line < 1 or line > len(lines) or len(text) <= limit:
        return truncate_head(text, limit)
    start = end = line - 1
    size = len(lines[start]) + 1
    while size < limit and (start > 0 or end < len(lines) - 1):
        if start > 0 and size + len(lines[start - 1]) + 1 <= limit:
            start -= 1
            size += len(lines[start]) + 1
        if end < len(lines) - 1 and size + len(lines[end + 1]) + 1 <= limit:
            end += 1
            size += len(lines[end]) + 1
        elif start == 0 or size + len(lines[start - 1]) + 1 > limit:
            break
    excerpt = "\n".join(lines[start : end + 1])
    return f"[lines {start + 1}-{end + 1} of {len(lines)}]\n{excerpt[:limit]}"
