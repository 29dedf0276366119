"""The status routes' read. Every submitter polls it, so it is the hottest query there is.

On PostgreSQL it runs on the event loop, through psycopg's async driver and a small pool of
autocommit connections. The thread hand-off and SQLAlchemy's result machinery were most of the
route's CPU (bench.status). On SQLite, the embedded default, it is Store.get_tutorial in the API's
threadpool. Both paths run the same statement (store.TUTORIAL_READ) and build the view with the
same function (store.tutorial_view_from_row).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Protocol

import psycopg
import sqlalchemy as sa
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.concurrency import run_in_threadpool

from issuesight.db.store import TUTORIAL_READ, Store, TutorialView, tutorial_view_from_row

log = logging.getLogger(__name__)
# A poller would rather hear "unavailable" quickly than hang while PostgreSQL is away.
CONNECTION_WAIT_SECONDS = 5.0
APPLICATION_NAME = "issuesight-status-reads"


class TutorialReader(Protocol):
    async def get(self, tutorial_id: uuid.UUID) -> TutorialView | None: ...

    def pool_stats(self) -> dict[str, int]:
        """What its connection pool reports (none without a pool of its own)."""
        ...

    async def close(self) -> None: ...


class ThreadedTutorialReader:
    """Store.get_tutorial in the API's threadpool (capped by API_THREADS)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, tutorial_id: uuid.UUID) -> TutorialView | None:
        return await run_in_threadpool(self._store.get_tutorial, tutorial_id)

    def pool_stats(self) -> dict[str, int]:
        return {}

    async def close(self) -> None:
        return None


def _compiled_read(dialect: sa.Dialect) -> str:
    """The statement in the driver's paramstyle, its separator rendered in: one parameter."""
    compiled = TUTORIAL_READ.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    return str(compiled)


class PostgresTutorialReader:
    """TUTORIAL_READ straight through psycopg's async driver. The pool opens on first use, in
    the loop that serves the requests.

    Connections are not pinged before each read (a round trip per request). A connection that
    PostgreSQL dropped, e.g. in a restart, fails its read instead; the pool's idle connections
    are then checked and the read is tried once more."""

    def __init__(
        self,
        database_url: str,
        *,
        connections: int,
        connection_wait: float = CONNECTION_WAIT_SECONDS,
    ) -> None:
        url = sa.make_url(database_url)
        dialect = url.get_dialect()()
        # Connected with the arguments SQLAlchemy's engine would use for the same URL.
        args, connect_params = dialect.create_connect_args(url)
        self._pool = AsyncConnectionPool(
            str(args[0]) if args else "",
            min_size=1,
            max_size=connections,
            open=False,
            kwargs={
                **connect_params,
                "autocommit": True,
                "application_name": APPLICATION_NAME,
            },
            timeout=connection_wait,
            name="status-reads",
        )
        self._sql = _compiled_read(dialect)
        self._opening = asyncio.Lock()
        self._open = False

    async def get(self, tutorial_id: uuid.UUID) -> TutorialView | None:
        if not self._open:
            async with self._opening:
                if not self._open:
                    await self._pool.open(wait=False)
                    self._open = True
        try:
            return await self._read(tutorial_id)
        except PoolTimeout:
            raise  # no connection at all: PostgreSQL is away, a retry would only wait again
        except psycopg.OperationalError as exc:
            log.warning(
                "status read lost its connection; retrying",
                extra={"error": type(exc).__name__, "sqlstate": exc.sqlstate},
            )
            await self._pool.check()
            return await self._read(tutorial_id)

    async def _read(self, tutorial_id: uuid.UUID) -> TutorialView | None:
        async with (
            self._pool.connection() as connection,
            connection.cursor(row_factory=dict_row) as cursor,
        ):
            await cursor.execute(self._sql, {"tutorial_id": tutorial_id})
            row = await cursor.fetchone()
        return None if row is None else tutorial_view_from_row(row)

    def pool_stats(self) -> dict[str, int]:
        return self._pool.get_stats() if self._open else {}

    async def close(self) -> None:
        if self._open:
            await self._pool.close()
            self._open = False
