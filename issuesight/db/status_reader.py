"""The status routes' read. Every submitter polls it, so it is the hottest query there is.

On PostgreSQL it runs on the event loop, through psycopg's async driver and a small pool of
autocommit connections. The thread hand-off and SQLAlchemy's result machinery were most of the
route's CPU (bench.status). On SQLite, the embedded default, it is TutorialStore.get_tutorial in
the API's threadpool. Both paths select the same columns and joins (TUTORIAL_READ for one id
there, TUTORIAL_BATCH_READ for a batch here) and build the view with the same function
(store.tutorial_view_from_row). Both can hand back a rendering instead of the view; on
PostgreSQL renderings are kept by the row they came from (db.renderings).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any, Protocol

import psycopg
import sqlalchemy as sa
from anyio import to_thread
from psycopg.types.string import TextLoader
from psycopg_pool import PoolTimeout

from issuesight.core import metrics
from issuesight.db.engine import async_pool
from issuesight.db.renderings import Render, RenderedTutorial, RenderingCache
from issuesight.db.tutorials import (
    TUTORIAL_BATCH_READ,
    TutorialStore,
    TutorialView,
    tutorial_view_from_row,
)
from issuesight.domain.defaults import (
    DATABASE_CONNECT_TIMEOUT_SECONDS,
    DATABASE_STATEMENT_TIMEOUT_SECONDS,
)

log = logging.getLogger(__name__)
# A poller would rather hear "unavailable" quickly than hang while PostgreSQL is away.
CONNECTION_WAIT_SECONDS = 5.0
POOL_NAME = "status-reads"
APPLICATION_NAME = f"issuesight-{POOL_NAME}"
# Ids per statement: beyond this a batch is split (and sent at once, on other connections).
MAX_BATCH = 100
# A row is the driver's tuple, in the statement's column order.
Row = tuple[Any, ...]
_COLUMNS = [column.name for column in TUTORIAL_BATCH_READ.selected_columns]
_ID = _COLUMNS.index("id")
# Read as text, so that a row is hashable (the renderings' key); decoded when a view is built.
_JSON_COLUMNS = frozenset(
    column.name
    for column in TUTORIAL_BATCH_READ.selected_columns
    if isinstance(column.type, sa.JSON)
)


class TutorialReader(Protocol):
    async def get(self, tutorial_id: uuid.UUID) -> TutorialView | None: ...

    async def get_rendered(
        self, tutorial_id: uuid.UUID, render: Render
    ) -> RenderedTutorial | None: ...

    def pool_stats(self) -> dict[str, int]:
        """What its connection pool reports (none without a pool of its own)."""
        ...

    async def close(self) -> None: ...


class ThreadedTutorialReader:
    """TutorialStore.get_tutorial in the API's threadpool (capped by API_THREADS)."""

    def __init__(self, store: TutorialStore) -> None:
        self._store = store

    async def get(self, tutorial_id: uuid.UUID) -> TutorialView | None:
        # anyio's default limiter is the one API_THREADS sizes (starlette's threadpool is the
        # same, but the database layer does not import the web framework).
        return await to_thread.run_sync(self._store.get_tutorial, tutorial_id)

    async def get_rendered(self, tutorial_id: uuid.UUID, render: Render) -> RenderedTutorial | None:
        view = await self.get(tutorial_id)
        return None if view is None else render(view)

    def pool_stats(self) -> dict[str, int]:
        return {}

    async def close(self) -> None:
        return None


def _compiled_read(dialect: sa.Dialect) -> str:
    """The statement in the driver's paramstyle, its separator rendered in: one parameter."""
    compiled = TUTORIAL_BATCH_READ.compile(
        dialect=dialect, compile_kwargs={"render_postcompile": True}
    )
    return str(compiled)


async def _load_json_as_text(connection: psycopg.AsyncConnection[Any]) -> None:
    for type_name in ("json", "jsonb"):
        connection.adapters.register_loader(type_name, TextLoader)


class PostgresTutorialReader:
    """TUTORIAL_BATCH_READ straight through psycopg's async driver. The pool opens on first use,
    in the loop that serves the requests.

    Reads are batched the way databases batch commits: a read goes to PostgreSQL at once
    while fewer than `connections` statements are in flight; when that many are, it waits, and
    as soon as one statement finishes, every read that waited goes in the next one
    (`id = ANY(...)`, up to MAX_BATCH ids). Under light load each read is a statement of its
    own and waits for nothing; under heavy load a statement carries tens of reads, and what is
    paid per statement (pool checkout, round trip, PostgreSQL's executor start, the driver's
    waits) is paid once for all of them. That was most of the status route's cost
    (bench.status).

    Connections are not pinged before each read (a round trip per statement). A connection
    that PostgreSQL dropped, e.g. in a restart, fails its read instead; the pool's idle
    connections are then checked and the read is tried once more.

    `get_rendered` keeps what `render` made of each row (db.renderings): a tutorial polled
    while nothing changes is rendered once."""

    def __init__(
        self,
        database_url: str,
        *,
        connections: int,
        connection_wait: float = CONNECTION_WAIT_SECONDS,
        connect_timeout: float = DATABASE_CONNECT_TIMEOUT_SECONDS,
        statement_timeout: float = DATABASE_STATEMENT_TIMEOUT_SECONDS,
    ) -> None:
        self._pool, dialect = async_pool(
            database_url,
            name=POOL_NAME,
            max_size=connections,
            wait=connection_wait,
            connect_timeout=connect_timeout,
            statement_timeout=statement_timeout,
            configure=_load_json_as_text,
        )
        self._sql = _compiled_read(dialect)
        self._opening = asyncio.Lock()
        self._open = False
        self._in_flight = 0
        self._waiting: dict[uuid.UUID, list[asyncio.Future[Row | None]]] = {}
        self._batches: set[asyncio.Task[None]] = set()
        self._renderings = RenderingCache()

    async def get(self, tutorial_id: uuid.UUID) -> TutorialView | None:
        row = await self._row(tutorial_id)
        return None if row is None else self._view(row)

    async def get_rendered(self, tutorial_id: uuid.UUID, render: Render) -> RenderedTutorial | None:
        row = await self._row(tutorial_id)
        if row is None:
            return None
        key = (render, row)
        rendered = self._renderings.get(key)
        if rendered is None:
            rendered = render(self._view(row))
            self._renderings.put(key, rendered)
        return rendered

    def _view(self, row: Row) -> TutorialView:
        fields = dict(zip(_COLUMNS, row, strict=True))
        for name in _JSON_COLUMNS:
            if fields[name] is not None:
                fields[name] = json.loads(fields[name])
        return tutorial_view_from_row(fields)

    async def _row(self, tutorial_id: uuid.UUID) -> Row | None:
        if not self._open:
            async with self._opening:
                if not self._open:
                    await self._pool.open(wait=False)
                    self._open = True
        if self._in_flight < self._pool.max_size:
            self._in_flight += 1
            try:
                rows = await self._read([tutorial_id])
            finally:
                self._statement_done()
            return rows.get(tutorial_id)
        answer: asyncio.Future[Row | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tutorial_id, []).append(answer)
        return await answer

    def _statement_done(self) -> None:
        """A statement finished: what waited meanwhile goes now, in batches of MAX_BATCH ids."""
        self._in_flight -= 1
        while self._waiting and self._in_flight < self._pool.max_size:
            ids = list(self._waiting)[:MAX_BATCH]
            batch = {tutorial_id: self._waiting.pop(tutorial_id) for tutorial_id in ids}
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._answer(batch))
            self._batches.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._batches.discard)

    async def _answer(self, batch: dict[uuid.UUID, list[asyncio.Future[Row | None]]]) -> None:
        """Hands each waiting read its row, or the batch's error: a failed statement fails
        every read in it, as it would have failed each of them alone."""
        try:
            rows = await self._read(list(batch))
        except Exception as exc:  # noqa: BLE001 - not swallowed: every read in the batch raises it
            for answers in batch.values():
                for answer in answers:
                    if not answer.done():  # a request that went away stops waiting
                        answer.set_exception(exc)
            return
        except BaseException:
            for answers in batch.values():
                for answer in answers:
                    answer.cancel()
            raise
        finally:
            self._statement_done()
        for tutorial_id, answers in batch.items():
            for answer in answers:
                if not answer.done():
                    answer.set_result(rows.get(tutorial_id))

    async def _read(self, tutorial_ids: list[uuid.UUID]) -> dict[uuid.UUID, Row]:
        metrics.STATUS_READ_BATCH.observe(len(tutorial_ids))
        try:
            return await self._read_once(tutorial_ids)
        except PoolTimeout:
            raise  # no connection at all: PostgreSQL is away, a retry would only wait again
        except psycopg.OperationalError as exc:
            log.warning(
                "status read lost its connection; retrying",
                extra={"error": type(exc).__name__, "sqlstate": exc.sqlstate},
            )
            await self._pool.check()
            return await self._read_once(tutorial_ids)

    async def _read_once(self, tutorial_ids: list[uuid.UUID]) -> dict[uuid.UUID, Row]:
        async with self._pool.connection() as connection, connection.cursor() as cursor:
            await cursor.execute(self._sql, {"tutorial_ids": tutorial_ids})
            rows = await cursor.fetchall()
        return {row[_ID]: row for row in rows}

    def pool_stats(self) -> dict[str, int]:
        return self._pool.get_stats() if self._open else {}

    async def close(self) -> None:
        # Batches already sent finish first: their requests are still waiting for them.
        await asyncio.gather(*self._batches, return_exceptions=True)
        if self._open:
            await self._pool.close()
            self._open = False
