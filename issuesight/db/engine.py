"""Engine construction: one place that knows how SQLite and PostgreSQL differ."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from sqlmodel import Session

from issuesight.domain.defaults import (
    DATABASE_CONNECT_TIMEOUT_SECONDS,
    DATABASE_STATEMENT_TIMEOUT_SECONDS,
)


def make_engine(
    url: str,
    *,
    connect_timeout: float = DATABASE_CONNECT_TIMEOUT_SECONDS,
    statement_timeout: float = DATABASE_STATEMENT_TIMEOUT_SECONDS,
    **kwargs: Any,
) -> Engine:
    """`connect_timeout` and `statement_timeout` (seconds, 0: none) bound PostgreSQL: without
    them a host that accepts connections and never answers holds the caller forever. SQLite
    waits out another writer (busy_timeout) instead."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    # The pool's own wait for a free connection, bounded like connecting.
    kwargs.setdefault("pool_timeout", connect_timeout)
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        connect_args=postgres_timeouts(
            connect_timeout=connect_timeout, statement_timeout=statement_timeout
        ),
        **kwargs,
    )


def make_reader_engine(
    url: str,
    *,
    connections: int,
    connect_timeout: float = DATABASE_CONNECT_TIMEOUT_SECONDS,
    statement_timeout: float = DATABASE_STATEMENT_TIMEOUT_SECONDS,
) -> Engine:
    """For single-statement reads: every connection in autocommit from the start, so a read
    sends no BEGIN or ROLLBACK. Switching a shared pool's connection to autocommit and back on
    each checkout cost the status route more CPU than its query did (bench.status)."""
    bounds = {"connect_timeout": connect_timeout, "statement_timeout": statement_timeout}
    if url.startswith("sqlite"):
        return make_engine(url, isolation_level="AUTOCOMMIT", **bounds)
    return make_engine(
        url,
        isolation_level="AUTOCOMMIT",
        pool_size=connections,
        max_overflow=connections,
        **bounds,
    )


def sqlite_loop_reader(url: sa.URL, *, busy_timeout_ms: int = 50) -> Engine:
    """One read-only connection to a SQLite file, for a read made on the event loop itself:
    never shared with a thread pool's (no pool wait), WAL (the file's mode, set by make_engine's
    connections) so a reader does not wait for writers, and a busy timeout of
    `busy_timeout_ms` for the rare moments it could; past that the read raises
    OperationalError and the caller takes the thread's way."""
    engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})

    def pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    return engine


def postgres_timeouts(*, connect_timeout: float, statement_timeout: float) -> dict[str, Any]:
    """libpq's connection arguments for the two bounds (psycopg takes them as they are)."""
    args: dict[str, Any] = {"connect_timeout": max(1, math.ceil(connect_timeout))}
    if statement_timeout > 0:
        args["options"] = f"-c statement_timeout={math.ceil(statement_timeout * 1000)}"
    return args


def async_pool(
    database_url: str,
    *,
    name: str,
    max_size: int,
    wait: float,
    connect_timeout: float = DATABASE_CONNECT_TIMEOUT_SECONDS,
    statement_timeout: float = DATABASE_STATEMENT_TIMEOUT_SECONDS,
    configure: Callable[[AsyncConnection[Any]], Awaitable[None]] | None = None,
) -> tuple[AsyncConnectionPool[Any], Dialect]:
    """A psycopg async pool of autocommit connections to a SQLAlchemy PostgreSQL URL, with
    the arguments SQLAlchemy's engine would connect with, the same bounds as make_engine's,
    and `application_name` issuesight-<name>; opened by the caller, on first use, in the loop
    that serves the requests. Returns the dialect too, to compile statements for it."""
    url = sa.make_url(database_url)
    dialect = url.get_dialect()()
    args, connect_params = dialect.create_connect_args(url)
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        str(args[0]) if args else "",
        min_size=1,
        max_size=max_size,
        open=False,
        kwargs={
            **connect_params,
            **postgres_timeouts(
                connect_timeout=connect_timeout, statement_timeout=statement_timeout
            ),
            "autocommit": True,
            "application_name": f"issuesight-{name}",
        },
        timeout=wait,
        name=name,
        configure=configure,
    )
    return pool, dialect


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # WAL lets the API read while the worker writes; busy_timeout waits out the other writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def upsert(
    session: Session,
    table: sa.Table,
    values: dict[str, Any] | list[dict[str, Any]],
    *,
    conflict: Sequence[str],
    update: Sequence[str] = (),
) -> None:
    """INSERT … ON CONFLICT (conflict) DO UPDATE SET update (or DO NOTHING).

    A list of rows (same keys in each) is one multi-row statement; an empty list does nothing.
    """
    if isinstance(values, list) and not values:
        return
    insert = dialect_insert(session)
    stmt = insert(table).values(values)
    if update:
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=list(conflict), set_={c: stmt.excluded[c] for c in update}
            )
        )
    else:
        session.execute(stmt.on_conflict_do_nothing(index_elements=list(conflict)))


def dialect_insert(bind: Session | Engine) -> Callable[..., Any]:
    """INSERT with ON CONFLICT for the dialect of `bind` (SQLite and PostgreSQL spell it the
    same way, but each dialect has its own construct)."""
    dialect = (bind.get_bind() if isinstance(bind, Session) else bind).dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    raise NotImplementedError(f"ON CONFLICT is not implemented for the {dialect} dialect")
