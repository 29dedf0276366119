"""The write rate limit: a token bucket per API key and per client address, kept in the
database so that every API process draws from the same buckets.

No maintained library fits: `limits` and `slowapi` keep state in memory, Redis, Memcached or
MongoDB; pyrate-limiter's SQL buckets are sliding-window logs (a row per request) that need a
table per limited key and a table lock (PostgreSQL) or a file lock (SQLite) per check. Here a
bucket is one row, and taking a token is one statement:

    INSERT … VALUES (key, burst - 1, now)
    ON CONFLICT (key) DO UPDATE SET tokens = refilled - 1, updated_at = now
        WHERE refilled >= 1
    RETURNING tokens

where `refilled = min(burst, tokens + elapsed * rate)`. The upsert is atomic on both
databases: PostgreSQL locks the conflicting row and re-evaluates the update against its latest
committed version; SQLite runs one writer at a time. A row comes back when a token was taken
and none when the bucket was empty. Clocks of several hosts may disagree a little: time never
runs backwards for a bucket (`elapsed` is at least 0 and `updated_at` only moves forward).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from issuesight.db.models import RateBucket

_buckets: sa.Table = RateBucket.__table__  # type: ignore[attr-defined]
PRUNE_EVERY = 500  # takes between two sweeps of buckets that are full again


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: float  # seconds until a token is available; 0 when allowed


class TokenBucket:
    """`per_minute` tokens flow in each minute, up to `burst`; each write takes one."""

    def __init__(
        self,
        engine: Engine,
        *,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self._engine = engine
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._takes = itertools.count(1)
        self._take = self._statement(engine.dialect.name)
        self._postgres = engine.dialect.name == "postgresql"

    def take(self, key: str) -> RateDecision:
        now = self._clock()
        with self._engine.begin() as connection:
            if self._postgres:
                # A bucket is not worth a disk flush: after a crash, the last milliseconds of
                # its state are lost at worst (a few writes more allowed), never a row.
                connection.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
            taken = connection.execute(self._take, {"key": key, "now": now}).first()
            if taken is None:
                row = connection.execute(
                    sa.select(_buckets.c.tokens, _buckets.c.updated_at).where(_buckets.c.key == key)
                ).first()
        if next(self._takes) % PRUNE_EVERY == 0:
            self.prune()
        if taken is not None:
            return RateDecision(True, 0.0)
        tokens = 0.0 if row is None else self._refilled(row.tokens, row.updated_at, now)
        return RateDecision(False, max(0.0, (1.0 - tokens) / self._rate))

    def prune(self) -> int:
        """Drops buckets that have filled up again: a missing bucket is a full one."""
        full_after = self._burst / self._rate
        with self._engine.begin() as connection:
            result = connection.execute(
                sa.delete(_buckets).where(_buckets.c.updated_at < self._clock() - full_after)
            )
        return int(getattr(result, "rowcount", 0) or 0)

    def _refilled(self, tokens: float, updated_at: float, now: float) -> float:
        return min(self._burst, tokens + max(0.0, now - updated_at) * self._rate)

    def _statement(self, dialect: str) -> sa.Insert:
        now = sa.bindparam("now", type_=sa.Float)
        elapsed = sa.case((now > _buckets.c.updated_at, now - _buckets.c.updated_at), else_=0.0)
        grown = _buckets.c.tokens + elapsed * sa.literal(self._rate, sa.Float)
        burst = sa.literal(self._burst, sa.Float)
        refilled = sa.case((grown > burst, burst), else_=grown)
        values = {"key": sa.bindparam("key"), "tokens": burst - 1.0, "updated_at": now}
        update = {
            "tokens": refilled - 1.0,
            "updated_at": sa.case((now > _buckets.c.updated_at, now), else_=_buckets.c.updated_at),
        }
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return (
                pg_insert(_buckets)
                .values(values)
                .on_conflict_do_update(
                    index_elements=[_buckets.c.key], set_=update, where=refilled >= 1.0
                )
                .returning(_buckets.c.tokens)
            )
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as lite_insert

            return (
                lite_insert(_buckets)
                .values(values)
                .on_conflict_do_update(
                    index_elements=[_buckets.c.key], set_=update, where=refilled >= 1.0
                )
                .returning(_buckets.c.tokens)
            )
        raise NotImplementedError(f"no token bucket for the {dialect} dialect")
