"""Sessions of browsers signed in to the pages: minted at sign-in, kept server-side, looked up
by the hash of an opaque cookie.

A session token reads `issn_<43 url-safe characters>` (256 random bits). The browser keeps it
in an HttpOnly cookie; the table keeps only its SHA-256 (like API keys: a fast hash is enough
for 256 random bits), so a copy of the table opens no session. The `issn_` shape is also what
log scrubbing recognizes (`issuesight.core.text`).

A session holds no authority of its own: every request reads its user (role, quota, whether
they were deleted) and, for a session a key was exchanged for, whether that key still holds. So
deleting a user or revoking the key ends the session on the next request in every API process;
the store also deletes those rows then, so the table keeps no session that cannot be used.

The forms a session authorizes carry a synchronizer token derived from the session's own
token (`csrf_token`): another site can neither read the cookie nor compute the token, and
nothing more needs storing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from psycopg_pool import PoolTimeout
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from issuesight.accounts.principal import Principal
from issuesight.db.engine import async_pool, session_scope, sqlite_loop_reader
from issuesight.db.models import ApiKey, Role, User, WebSession
from issuesight.db.types import utcnow
from issuesight.domain.defaults import (
    DATABASE_CONNECT_TIMEOUT_SECONDS,
    DATABASE_STATEMENT_TIMEOUT_SECONDS,
)

log = logging.getLogger(__name__)
TOKEN_SCHEME = "issn_"  # noqa: S105 - a prefix, not a secret
TOKEN_SHAPE = re.compile(r"^issn_[A-Za-z0-9_-]{43}$")
# A session's last use is written at most this often: looking one up stays a read.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)
# Expired rows swept by each sign-in, at most: housekeeping that never makes a sign-in slow.
_SWEEP = 100


class SessionMethod:
    KEY = "key"
    GITHUB = "github"


@dataclass(frozen=True)
class SessionView:
    """A live session: who it acts for and how it was opened."""

    id: uuid.UUID
    principal: Principal
    method: str
    key_prefix: str | None  # the API key it was exchanged for
    created_at: datetime
    expires_at: datetime


def mint_token() -> str:
    return TOKEN_SCHEME + secrets.token_urlsafe(32)


def well_formed(token: str | None) -> bool:
    return token is not None and TOKEN_SHAPE.match(token) is not None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def derived_token(secret: str, purpose: str) -> str:
    """A token for forms, bound to a cookie's secret and to one purpose (HMAC-SHA256)."""
    digest = hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def derived_matches(secret: str, purpose: str, presented: str | None) -> bool:
    """Constant-time check of a form's token against the cookie it must be bound to."""
    if not presented:
        return False
    return hmac.compare_digest(derived_token(secret, purpose).encode(), presented.encode())


def csrf_token(session_token: str) -> str:
    """The synchronizer token of the forms a session authorizes."""
    return derived_token(session_token, "csrf")


def _lookup_statement() -> Any:
    """A session's row with its user's and its key's: the one read a signed-in page makes."""
    return (
        sa.select(
            col(WebSession.id),
            col(WebSession.method),
            col(WebSession.key_prefix),
            col(WebSession.created_at),
            col(WebSession.expires_at),
            col(WebSession.last_seen_at),
            col(User.id).label("user_id"),
            col(User.email),
            col(User.role),
            col(User.daily_generations),
            col(User.deleted_at),
            col(ApiKey.prefix).label("key_found"),
            col(ApiKey.revoked_at).label("key_revoked_at"),
        )
        .join(User, col(User.id) == col(WebSession.user_id))
        .join(ApiKey, col(ApiKey.prefix) == col(WebSession.key_prefix), isouter=True)
        .where(col(WebSession.token_hash) == sa.bindparam("token_hash"))
    )


_LOOKUP = _lookup_statement()


class SessionStore:
    def __init__(
        self,
        engine: Engine,
        *,
        lifetime: timedelta,
        idle: timedelta,
        reader: Engine | None = None,
        clock: Callable[[], datetime] = utcnow,
        connect_timeout: float = DATABASE_CONNECT_TIMEOUT_SECONDS,
        statement_timeout: float = DATABASE_STATEMENT_TIMEOUT_SECONDS,
    ) -> None:
        """`lifetime`: how long a session lasts at most; `idle`: how long it lasts unused.
        The timeouts bound the PostgreSQL lookup's own pool, as make_engine's do."""
        self.engine = engine
        self._async = (
            _PostgresLookup(
                engine.url, connect_timeout=connect_timeout, statement_timeout=statement_timeout
            )
            if engine.dialect.name == "postgresql"
            else None
        )
        self._inline = (
            _SqliteLookup(engine.url)
            if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")
            else None
        )
        self._reader = reader or engine.execution_options(isolation_level="AUTOCOMMIT")
        self.lifetime = lifetime
        self.idle = idle
        self.now = clock

    def open(
        self,
        user_id: uuid.UUID,
        *,
        method: str,
        key_prefix: str | None = None,
        replacing: str | None = None,
    ) -> tuple[str, datetime]:
        """A new session for a user: its token (for the cookie, never stored) and when it
        expires. `replacing`: the token the browser held before, ended in the same
        transaction, so a sign-in always rotates the session (no fixation)."""
        token = mint_token()
        now = self.now()
        expires_at = now + self.lifetime
        with session_scope(self.engine) as session:
            if replacing is not None:
                self._end(session, replacing)
            self._sweep(session, now)
            session.add(
                WebSession(
                    token_hash=hash_token(token),
                    user_id=user_id,
                    method=method,
                    key_prefix=key_prefix,
                    created_at=now,
                    expires_at=expires_at,
                    last_seen_at=now,
                )
            )
        return token, expires_at

    def resolve(self, token: str) -> SessionView | None:
        """The live session a cookie's token opens; None for an unknown, ended, expired or idle
        session, one whose user was deleted, or one whose key was revoked."""
        if not well_formed(token):
            return None
        with self._reader.connect() as connection:
            row = connection.execute(_LOOKUP, {"token_hash": hash_token(token)}).first()
        view, touch = self._live(row)
        if touch and view is not None:
            self._touch(view.id)
        return view

    async def resolve_async(self, token: str) -> SessionView | None:
        """`resolve` for the event loop: on PostgreSQL the read goes through psycopg's async
        driver (no thread hand-off; a signed-in page reads its session beside its tutorial,
        bench.web), elsewhere through a thread."""
        if self._async is None and self._inline is None:
            return await anyio.to_thread.run_sync(self.resolve, token)
        if not well_formed(token):
            return None
        if self._async is not None:
            row = await self._async.row(hash_token(token))
        else:
            assert self._inline is not None
            try:
                row = self._inline.row(hash_token(token))
            except sa.exc.OperationalError as exc:  # busy past its short wait: the thread's way
                log.warning(
                    "inline session read failed; reading in a thread",
                    extra={"error": type(exc).__name__},
                )
                return await anyio.to_thread.run_sync(self.resolve, token)
        view, touch = self._live(row)
        if touch and view is not None:
            await anyio.to_thread.run_sync(self._touch, view.id)
        return view

    def _live(self, row: Any) -> tuple[SessionView | None, bool]:
        """The session a looked-up row stands for, if it still holds, and whether its last use
        is due to be written."""
        if row is None:
            return None, False
        now = self.now()
        if (
            row.deleted_at is not None
            or row.expires_at <= now
            or now - row.last_seen_at >= self.idle
            or (
                row.key_prefix is not None
                and (row.key_found is None or row.key_revoked_at is not None)
            )
        ):
            return None, False
        view = SessionView(
            id=row.id,
            principal=Principal(
                user_id=row.user_id,
                email=row.email,
                role=Role(row.role),
                key_prefix=None,  # a page's caller: rate limited per user, not per key
                daily_generations=row.daily_generations,
            ),
            method=row.method,
            key_prefix=row.key_prefix,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )
        return view, now - row.last_seen_at >= LAST_SEEN_RESOLUTION

    def _touch(self, session_id: uuid.UUID) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                sa.update(WebSession)
                .where(col(WebSession.id) == session_id)
                .values(last_seen_at=self.now())
            )

    async def close(self) -> None:
        if self._async is not None:
            await self._async.close()
        if self._inline is not None:
            self._inline.close()

    def end(self, token: str) -> bool:
        """Signs a browser out; False if its session was already gone."""
        if not well_formed(token):
            return False
        with session_scope(self.engine) as session:
            return self._end(session, token)

    @staticmethod
    def _end(session: Session, token: str) -> bool:
        result = session.execute(
            sa.delete(WebSession).where(col(WebSession.token_hash) == hash_token(token))
        )
        return bool(getattr(result, "rowcount", 0))

    def _sweep(self, session: Session, now: datetime) -> None:
        stale = (
            sa.select(col(WebSession.id))
            .where(
                sa.or_(
                    col(WebSession.expires_at) <= now,
                    col(WebSession.last_seen_at) <= now - self.idle,
                )
            )
            .limit(_SWEEP)
        )
        ids = [r[0] for r in session.execute(stale).all()]
        if ids:
            session.execute(sa.delete(WebSession).where(col(WebSession.id).in_(ids)))


class _PostgresLookup:
    """The session lookup through psycopg's async driver, on a small pool of autocommit
    connections of its own, opened on first use in the loop that serves the requests."""

    def __init__(self, url: sa.URL, *, connect_timeout: float, statement_timeout: float) -> None:
        self._pool, dialect = async_pool(
            url.render_as_string(hide_password=False),
            name="sessions",
            max_size=2,
            wait=5.0,
            connect_timeout=connect_timeout,
            statement_timeout=statement_timeout,
        )
        self._sql = str(_LOOKUP.compile(dialect=dialect))
        self._opening = asyncio.Lock()
        self._open = False

    async def row(self, token_hash: str) -> Any:
        """The session's row. A connection PostgreSQL dropped (a restart) fails its read; the
        pool's idle connections are then checked and the read tried once more. PostgreSQL away
        altogether raises (the API answers 503)."""
        if not self._open:
            async with self._opening:
                if not self._open:
                    await self._pool.open(wait=False)
                    self._open = True
        try:
            return await self._read(token_hash)
        except PoolTimeout:
            raise
        except psycopg.OperationalError as exc:
            log.warning(
                "session read lost its connection; retrying",
                extra={"error": type(exc).__name__, "sqlstate": exc.sqlstate},
            )
            await self._pool.check()
            return await self._read(token_hash)

    async def _read(self, token_hash: str) -> Any:
        async with (
            self._pool.connection() as connection,
            connection.cursor(row_factory=namedtuple_row) as cursor,
        ):
            await cursor.execute(self._sql, {"token_hash": token_hash})
            return await cursor.fetchone()

    async def close(self) -> None:
        if self._open:
            await self._pool.close()
            self._open = False


class _SqliteLookup:
    """The session lookup on the event loop itself, for a SQLite file: a signed-in page then
    waits for one thread hand-off (its tutorial's read), not two (bench.web: signed in on
    SQLite 1.56x the JSON route with the session read in the thread pool, 1.39x inline).
    Safe on the loop because it cannot wait long (db.engine.sqlite_loop_reader); the write a
    lookup may need (last seen) stays in a thread."""

    def __init__(self, url: sa.URL) -> None:
        self._engine = sqlite_loop_reader(url)

    def row(self, token_hash: str) -> Any:
        with self._engine.connect() as connection:
            return connection.execute(_LOOKUP, {"token_hash": token_hash}).first()

    def close(self) -> None:
        self._engine.dispose()


def end_sessions_of_user(session: Session, user_id: uuid.UUID) -> None:
    """Within an account change's transaction (a user deleted)."""
    session.execute(sa.delete(WebSession).where(col(WebSession.user_id) == user_id))


def end_sessions_of_key(session: Session, prefix: str) -> None:
    """Within an account change's transaction (a key revoked)."""
    session.execute(sa.delete(WebSession).where(col(WebSession.key_prefix) == prefix))
