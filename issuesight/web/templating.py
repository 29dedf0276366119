"""The Jinja2 environment the pages are rendered with: autoescaping on for every template, and
the few filters the templates share.

Static files are addressed with a version taken from their content (`/static/app.css?v=…`),
so a browser may keep them for a long time and still never runs yesterday's script against
today's page.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache, lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from issuesight.domain.status import PROGRESS_STAGES, Stage, TutorialStatus
from issuesight.web import markdown

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

STAGE_LABELS: dict[str, str] = {
    Stage.QUEUED: "Queued",
    Stage.FETCHING_CONTEXT: "Reading the issue and the repository",
    Stage.GENERATING: "Writing the context bridge",
    Stage.SAVING: "Checking files and saving",
    Stage.DONE: "Done",
    Stage.FAILED: "Failed",
}
STAGES: tuple[str, ...] = PROGRESS_STAGES
DIFFICULTY_LABELS = {
    "beginner": "Beginner",
    "intermediate": "Intermediate",
    "advanced": "Advanced",
}
STATUS_LABELS: dict[str, str] = {
    TutorialStatus.COMPLETED: "Ready",
    TutorialStatus.PENDING: "Being written",
    TutorialStatus.FAILED: "Failed",
}


@cache
def asset_version(name: str) -> str:
    return hashlib.blake2b((STATIC_DIR / name).read_bytes(), digest_size=6).hexdigest()


def asset(name: str) -> str:
    return f"/static/{name}?v={asset_version(name)}"


def age(moment: datetime | str | None, now: datetime | None = None) -> str:
    """'3 days ago': how long ago, in the largest whole unit."""
    when = _as_datetime(moment)
    if when is None:
        return "at an unknown time"
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


def isotime(moment: datetime | str | None) -> str:
    when = _as_datetime(moment)
    return when.isoformat() if when else ""


def day(moment: datetime | str | None) -> str:
    """'2 March 2026, 14:05 UTC': absolute, so a kept rendering never goes out of date."""
    when = _as_datetime(moment)
    if when is None:
        return "an unknown time"
    return f"{when.day} {when:%B %Y, %H:%M} UTC"


def _as_datetime(moment: datetime | str | None) -> datetime | None:
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    if isinstance(moment, str):
        try:
            parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def http_url(url: Any) -> str | None:
    """The URL if it is an absolute http(s) one, else None (such a link is shown as text)."""
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url
    return None


def query_string(params: dict[str, Any], **changes: Any) -> str:
    """`?a=1&b=2` from the current filters with some changed; empty values are left out."""
    merged = {**params, **changes}
    kept = {k: v for k, v in merged.items() if v not in (None, "", False)}
    return "?" + urlencode(kept) if kept else "?"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        age=age,
        isotime=isotime,
        day=day,
        md=markdown.render,
        md_inline=markdown.render_inline,
        http_url=http_url,
    )
    env.globals.update(
        asset=asset,
        STAGE_LABELS=STAGE_LABELS,
        STAGES=STAGES,
        DIFFICULTY_LABELS=DIFFICULTY_LABELS,
        STATUS_LABELS=STATUS_LABELS,
        query_string=query_string,
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


# What a kept page (a tutorial, rendered once for every reader) leaves for each request: who is
# signed in, and the token of the forms that session authorizes. A page is rendered with these
# markers, which rendered pages never contain otherwise (templates escape `<`; the Markdown
# renderer and sanitizer pass no comments), and then kept filled in for a reader who is not
# signed in, with where each filling sits: such a reader gets it as it is, a signed-in one gets
# those few bytes replaced.
ACCOUNT_SLOT = b"<!--issuesight:account-->"
CSRF_SLOT = b"<!--issuesight:csrf-->"
_SLOTS = (ACCOUNT_SLOT, CSRF_SLOT)
_anonymous_fragments: dict[bool, tuple[bytes, bytes]] = {}
# (offset, length, which: 0 the account's header items, 1 the forms' token field)
Slots = tuple[tuple[int, int, int], ...]


def fill_for_anonymous(body: bytes, *, open_mode: bool) -> tuple[bytes, Slots]:
    """A freshly rendered page (with markers) as a reader who is not signed in sees it, and
    where its account slots are."""
    fragments = account_fragments(anonymous(open_mode))
    found = sorted(
        (start, which)
        for which, marker in enumerate(_SLOTS)
        for start in _occurrences(body, marker)
    )
    pieces: list[bytes] = []
    slots: list[tuple[int, int, int]] = []
    position = length = 0
    for start, which in found:
        pieces.append(body[position:start])
        length += start - position
        slots.append((length, len(fragments[which]), which))
        pieces.append(fragments[which])
        length += len(fragments[which])
        position = start + len(_SLOTS[which])
    pieces.append(body[position:])
    return b"".join(pieces), tuple(slots)


def for_account(body: bytes, etag: str, slots: Slots, account: Any) -> tuple[bytes, str]:
    """A kept page (fill_for_anonymous) for a signed-in reader, and its ETag (the kept one's,
    told apart by the account's fragments)."""
    fragments = account_fragments(account)
    pieces: list[bytes] = []
    position = 0
    for offset, length, which in slots:
        pieces += [body[position:offset], fragments[which]]
        position = offset + length
    pieces.append(body[position:])
    tag = hashlib.blake2b(fragments[0] + b"\0" + fragments[1], digest_size=6).hexdigest()
    return b"".join(pieces), etag.removesuffix('"') + f'-{tag}"'


def _occurrences(body: bytes, marker: bytes) -> list[int]:
    found = []
    start = body.find(marker)
    while start != -1:
        found.append(start)
        start = body.find(marker, start + len(marker))
    return found


def anonymous(open_mode: bool) -> Any:
    """Whom a page is for when nobody is signed in, as the account templates see it."""
    return SimpleNamespace(signed_in=False, open_mode=open_mode, name="", csrf=None)


def account_fragments(account: Any) -> tuple[bytes, bytes]:
    """The header's account items and the forms' token field for a `web.session.PageAccount`
    (the same for everyone who is not signed in, so those are rendered once per mode; a
    signed-in browser's are kept by its name and token)."""
    if not account.signed_in:
        kept = _anonymous_fragments.get(account.open_mode)
        if kept is None:
            kept = _anonymous_fragments[account.open_mode] = _fragments(account)
        return kept
    return _signed_in_fragments(account.name, account.csrf)


@lru_cache(maxsize=4096)
def _signed_in_fragments(name: str, csrf: str | None) -> tuple[bytes, bytes]:
    return _fragments(SimpleNamespace(signed_in=True, open_mode=False, name=name, csrf=csrf))


def _fragments(account: Any) -> tuple[bytes, bytes]:
    return (
        render("_account.html", account=account).strip().encode(),
        render("_csrf.html", account=account).strip().encode(),
    )


def markup(html: str) -> Markup:
    """HTML this package rendered itself (a kept fragment), to embed unescaped."""
    return Markup(html)  # noqa: S704 - only ever our own rendered templates
