"""The write rate limit's token bucket, in the database: exact under concurrency on SQLite and
PostgreSQL, refilled by time, shared by every limiter (API process) on one database."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from issuesight.accounts.ratelimit import TokenBucket
from issuesight.core.http import format_retry_after
from issuesight.db.engine import make_engine
from issuesight.db.models import RateBucket


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_burst_then_refusal_then_refill(engine: Engine) -> None:
    clock = Clock()
    bucket = TokenBucket(engine, per_minute=60, burst=3, clock=clock)
    assert [bucket.take("key:a").allowed for _ in range(4)] == [True, True, True, False]
    refused = bucket.take("key:a")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(1.0)
    assert format_retry_after(refused.retry_after) == "1"
    assert bucket.take("key:b").allowed  # buckets are per key

    clock.now += 0.5
    assert not bucket.take("key:a").allowed
    assert bucket.take("key:a").retry_after == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take("key:a").allowed
    assert not bucket.take("key:a").allowed

    clock.now += 3600  # a long pause fills the bucket up to its burst, not beyond
    assert [bucket.take("key:a").allowed for _ in range(4)] == [True, True, True, False]


def test_a_clock_that_runs_backwards_grants_nothing(engine: Engine) -> None:
    clock = Clock()
    bucket = TokenBucket(engine, per_minute=60, burst=1, clock=clock)
    assert bucket.take("addr:1").allowed
    clock.now -= 120  # another API host whose clock is two minutes behind
    assert not bucket.take("addr:1").allowed
    clock.now += 120.5  # back on time: half a second after the first take, half a token
    assert not bucket.take("addr:1").allowed
    clock.now += 0.5
    assert bucket.take("addr:1").allowed


def test_limiters_on_one_database_share_the_bucket(engine: Engine, database_url: str) -> None:
    other_process = make_engine(database_url)
    try:
        clock = Clock()
        one = TokenBucket(engine, per_minute=1, burst=2, clock=clock)
        two = TokenBucket(other_process, per_minute=1, burst=2, clock=clock)
        assert one.take("key:shared").allowed
        assert two.take("key:shared").allowed
        assert not one.take("key:shared").allowed
        assert not two.take("key:shared").allowed
    finally:
        other_process.dispose()


def test_concurrent_takes_never_exceed_the_burst(engine: Engine) -> None:
    """200 takes from 16 threads at once on one key: exactly `burst` succeed."""
    bucket = TokenBucket(engine, per_minute=0.001, burst=25, clock=Clock())
    with ThreadPoolExecutor(max_workers=16) as pool:
        decisions = list(pool.map(lambda _: bucket.take("key:hot"), range(200)))
    assert sum(d.allowed for d in decisions) == 25
    assert all(d.retry_after > 0 for d in decisions if not d.allowed)


def test_prune_drops_only_buckets_that_are_full_again(engine: Engine) -> None:
    clock = Clock()
    bucket = TokenBucket(engine, per_minute=60, burst=10, clock=clock)
    bucket.take("addr:old")
    clock.now += 11  # 10 s refill the old bucket completely
    bucket.take("addr:new")
    assert bucket.prune() == 1
    with engine.connect() as connection:
        keys = connection.execute(sa.select(col(RateBucket.key))).scalars().all()
    assert keys == ["addr:new"]
    # The pruned bucket behaves as a full one.
    assert [bucket.take("addr:old").allowed for _ in range(11)].count(True) == 10


def test_rejects_a_meaningless_configuration(engine: Engine) -> None:
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(engine, per_minute=0, burst=5)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(engine, per_minute=10, burst=0)
