"""Engine construction: one place that knows how SQLite and PostgreSQL differ."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel import Session


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 20)
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def make_reader_engine(url: str, *, connections: int) -> Engine:
    """For single-statement reads: every connection in autocommit from the start, so a read
    sends no BEGIN or ROLLBACK. Switching a shared pool's connection to autocommit and back on
    each checkout cost the status route more CPU than its query did (bench.status)."""
    if url.startswith("sqlite"):
        return make_engine(url, isolation_level="AUTOCOMMIT")
    return make_engine(
        url, isolation_level="AUTOCOMMIT", pool_size=connections, max_overflow=connections
    )


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
