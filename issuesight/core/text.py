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
    r"|xox[baprs]-[A-Za-z0-9-]{10,255}"
    # IssueSight's own API keys (issuesight.accounts.keys), so none reaches a log or a prompt.
    r"|isk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,255}"
    # and the pages' session tokens (issuesight.accounts.sessions).
    r"|issn_[A-Za-z0-9_-]{43})"
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
    """Removes configured secrets and token-shaped strings.

    Every occurrence of every secret is located in the original text first, and overlapping
    occurrences are redacted as one: a secret that is part of another (a prefix, say) cannot
    cut the longer one short and leave its tail behind, whatever the order of `secrets`.
    """
    spans: list[tuple[int, int]] = []
    for secret in {s for s in secrets if s and len(s) >= 4}:
        start = text.find(secret)
        while start != -1:
            spans.append((start, start + len(secret)))
            start = text.find(secret, start + 1)
    if spans:
        spans.sort()
        pieces: list[str] = []
        pos = 0
        cur_start, cur_end = spans[0]
        for start, end in spans[1:]:
            if start < cur_end:
                cur_end = max(cur_end, end)
                continue
            pieces += [text[pos:cur_start], REDACTED]
            pos = cur_end
            cur_start, cur_end = start, end
        pieces += [text[pos:cur_start], REDACTED, text[cur_end:]]
        text = "".join(pieces)
    return _TOKEN_SHAPES.sub(REDACTED, text)


def truncate_middle(text: str, limit: int) -> str:
    """Keeps the head and the tail, which hold the question and the latest state of it.

    Never longer than `limit`: below the marker's own length, a plain cut.
    """
    if len(text) <= limit:
        return text
    marker = "\n[… {n} characters omitted …]\n"
    room = limit - len(marker.format(n=len(text)))
    if room < 0:
        return text[: max(0, limit)]
    head = room * 2 // 3
    tail = room - head
    omitted = len(text) - head - tail
    return text[:head] + marker.format(n=omitted) + (text[-tail:] if tail else "")


def truncate_head(text: str, limit: int) -> str:
    """Keeps the start; never longer than `limit` (below the marker's length, a plain cut)."""
    if len(text) <= limit:
        return text
    marker = "\n[… truncated, {n} more characters …]"
    room = limit - len(marker.format(n=len(text)))
    if room < 0:
        return text[: max(0, limit)]
    return text[:room] + marker.format(n=len(text) - room)


def truncate_inline(text: str, limit: int) -> str:
    """A one-line text cut to `limit` characters, an ellipsis marking the cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1].rstrip() + "…"


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
