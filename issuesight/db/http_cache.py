"""The ETags of the issue listing pages a sync read: what makes an unchanged repository cost
only 304s, which GitHub does not count against the rate limit."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session

from issuesight.db.engine import session_scope, upsert
from issuesight.db.models import HttpCacheEntry
from issuesight.db.types import utcnow


class HttpCacheStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def cached(self, url: str) -> HttpCacheEntry | None:
        with Session(self.engine) as session:
            return session.get(HttpCacheEntry, url)

    def remember(self, url: str, etag: str, next_url: str | None) -> None:
        with session_scope(self.engine) as session:
            upsert(
                session,
                HttpCacheEntry.__table__,  # type: ignore[attr-defined]
                {"url": url, "etag": etag, "next_url": next_url, "fetched_at": utcnow()},
                conflict=["url"],
                update=["etag", "next_url", "fetched_at"],
            )
