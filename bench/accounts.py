"""Figure 7, accounts: what keys mode costs a write, and that reads pay nothing for it.

The real app (create_app) in-process through httpx's ASGI transport, no Temporal: the write is
`POST /api/v1/tutorials` with a malformed reference, answered 422 after the auth dependencies
ran (address bucket, key lookup, key bucket), so it measures the accounts layer and nothing
else; the read is `GET /api/v1/tutorials/{id}` of a tutorial that does not exist (404).
Baseline: the same requests in open mode without a rate limit (`make dev`). Measured: keys
mode with the write rate limit on (a bucket large enough never to refuse), on SQLite and on
PostgreSQL. Requests one at a time, then `--concurrency` at once.

    .venv/bin/python -m bench.accounts --n 400 --concurrency 8 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench._report import Metric, Report, command, figure_main
from bench._stack import postgres_database, sqlite_url
from issuesight.accounts.store import CLI
from issuesight.api.app import create_app
from issuesight.core.settings import Settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.accounts", description=__doc__)
    p.add_argument("--n", type=int, default=400, help="requests per measurement")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is kept")
    p.add_argument("--postgres", action=argparse.BooleanOptionalAction, default=True)
    return p


async def _rate(
    app: Any, headers: dict[str, str], method: str, path: str, *, n: int, at_once: int
) -> float:
    transport = httpx.ASGITransport(app=app)
    body = {"issue": "not a reference"} if method == "POST" else None
    expected = 422 if method == "POST" else 404
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as api:
        for _ in range(20):  # warm-up: pools, the local user, statement caches
            await api.request(method, path, json=body, headers=headers)
        slots = asyncio.Semaphore(at_once)

        async def one() -> None:
            async with slots:
                response = await api.request(method, path, json=body, headers=headers)
                assert response.status_code == expected, response.text

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        return n / (time.perf_counter() - started)


async def _measure(url: str, args: argparse.Namespace) -> dict[tuple[str, str, int], float]:
    """Both apps built first, then measured in alternation, round after round (the median of
    the rounds is kept): this machine's speed drifts, and alternation spreads the drift over
    both sides alike."""
    missing = f"/api/v1/tutorials/{uuid.uuid4()}"
    apps: dict[str, tuple[Any, dict[str, str]]] = {}
    for mode in ("open", "keys"):
        values: dict[str, Any] = {"database_url": url, "auth_mode": mode}
        if mode == "keys":  # on, and never the reason a request is refused
            values.update(write_rate_per_minute=1e6, write_burst=100_000)
        app = create_app(Settings(_env_file=None, **values))
        headers: dict[str, str] = {}
        if mode == "keys":
            accounts = app.state.resources.accounts
            user = accounts.create_user(f"bench-{uuid.uuid4().hex[:8]}@example.com", actor=CLI)
            _, key = accounts.create_key(user.id, "bench", actor=CLI)
            headers = {"Authorization": f"Bearer {key}"}
        apps[mode] = (app, headers)
    samples: dict[tuple[str, str, int], list[float]] = {}
    try:
        for _ in range(args.rounds):
            for at_once in (1, args.concurrency):
                for method, path in (("POST", "/api/v1/tutorials"), ("GET", missing)):
                    for mode, (app, headers) in apps.items():
                        rate = await _rate(app, headers, method, path, n=args.n, at_once=at_once)
                        samples.setdefault((mode, method, at_once), []).append(rate)
    finally:
        for app, _ in apps.values():
            await app.state.resources.close()
    return {k: statistics.median(v) for k, v in samples.items()}


@contextmanager
def _databases(postgres: bool) -> Iterator[list[tuple[str, str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        found = [("SQLite", sqlite_url(Path(tmp)))]
        if not postgres:
            yield found
            return
        with postgres_database("issuesight_bench_accounts") as pg:
            yield [*found, ("PostgreSQL", pg)]


def run(args: argparse.Namespace) -> Report:
    report = Report("accounts", command("bench.accounts", args, parser()))
    with _databases(args.postgres) as databases:
        for name, url in databases:
            rates = asyncio.run(_measure(url, args))
            for at_once in (1, args.concurrency):
                write = rates[("keys", "POST", at_once)] / rates[("open", "POST", at_once)]
                read = rates[("keys", "GET", at_once)] / rates[("open", "GET", at_once)]
                extra_ms = (
                    1000
                    * at_once
                    * (1 / rates[("keys", "POST", at_once)] - 1 / rates[("open", "POST", at_once)])
                )
                report.metrics.append(
                    Metric(
                        f"{name}: a write in keys mode ({at_once} in flight)",
                        f"{rates[('open', 'POST', at_once)]:.0f} req/s open",
                        f"{rates[('keys', 'POST', at_once)]:.0f} req/s keys "
                        f"(+{extra_ms:.1f} ms a write)",
                        write,
                        "-",
                        None,
                    )
                )
                report.metrics.append(
                    Metric(
                        f"{name}: a read in keys mode ({at_once} in flight)",
                        f"{rates[('open', 'GET', at_once)]:.0f} req/s open",
                        f"{rates[('keys', 'GET', at_once)]:.0f} req/s keys",
                        read,
                        ">= 0.9 (public reads pay nothing)",
                        read >= 0.9,
                    )
                )
    report.notes.append(
        "a write in keys mode reads the key (one indexed SELECT on an autocommit connection) and "
        "takes a token from two database buckets (a one-statement upsert each; on PostgreSQL "
        "without waiting for the WAL flush); reads with PUBLIC_READS=true do none of it"
    )
    return report


if __name__ == "__main__":
    figure_main(run, parser)
