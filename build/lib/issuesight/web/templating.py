"""The Jinja2 environment the pages are rendered with: autoescaping on for every template, and
the few filters the templates share.

Static files are addressed with a version taken from their content (`/static/app.css?v=…`),
so a browser may keep them for a long time and still never runs yesterday's script against
today's page.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from issuesight.web import markdown

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

STAGE_LABELS = {
    "queued": "Queued",
    "fetching_context": "Reading the issue and the repository",
    "generating": "Writing the context bridge",
    "saving": "Checking files and saving",
    "done": "Done",
    "failed": "Failed",
}
STAGES = ("queued", "fetching_context", "generating", "saving", "done")
DIFFICULTY_LABELS = {
    "beginner": "Beginner",
    "intermediate": "Intermediate",
    "advanced": "Advanced",
}
STATUS_LABELS = {"COMPLETED": "Ready", "PENDING": "Being written", "FAILED": "Failed"}


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


def markup(html: str) -> Markup:
    """HTML this package rendered itself (a kept fragment), to embed unescaped."""
    return Markup(html)  # noqa: S704 - only ever our own rendered templates
