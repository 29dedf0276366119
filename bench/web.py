"""Figure: the tutorial page's server time against the JSON status route's, for the same
COMPLETED tutorials, on SQLite and on PostgreSQL.

Server time is the time the app takes to answer, measured around the ASGI call itself (no
client, no socket): `GET /tutorials/{id}` (HTML) and `GET /api/v1/tutorials/{id}` (JSON),
alternated request by request over the same tutorials after one warm-up read of each. Both
routes read the same row through the same reader and keep what they rendered from it
(db.renderings on PostgreSQL, web.tutorial_page on both), so a page read while the tutorial is
unchanged costs what the JSON read costs. The page is read by an anonymous browser and by a
signed-in one (its session cookie: one more read, the session's, and the header and form token
put into the kept page). The first rendering of a version (Markdown, sanitizer, templates) is
measured on its own and reported beside it.

    .venv/bin/python -m bench.web --tutorials 50 --rounds 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench._content import seed_completed
from bench._report import Metric, Report, command, figure_main
from bench._stack import postgres_database
from issuesight.accounts.sessions import SessionMethod
from issuesight.accounts.store import CLI
from issuesight.api.app import create_app
from issuesight.api.routes.tutorials import render_tutorial
from issuesight.core.settings import Settings
from issuesight.db.engine import make_engine
from issuesight.db.migrate import upgrade
from issuesight.db.tutorials import TutorialStore
from issuesight.web import templating
from issuesight.web.session import SESSION_COOKIE
from issuesight.web.tutorial_page import page_context

GOAL = 1.5


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    p.add_argument("--tutorials", type=int, default=50, help="COMPLETED tutorials to read")
    p.add_argument("--rounds", type=int, default=20, help="reads of each tutorial per route")
    p.add_argument(
        "--postgres", action=argparse.BooleanOptionalAction, default=True, help="also PostgreSQL"
    )
    return p


async def _served(
    app: Any,
    path: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> tuple[float, int, int]:
    """(seconds, status, body bytes) of one GET answered by the app."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench.local"), (b"accept", b"*/*"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("bench.local", 80),
    }
    status = 0
    size = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    started = time.perf_counter()
    await app(scope, receive, send)
    return time.perf_counter() - started, status, size


async def _measure(url: str, ids: list[uuid.UUID], rounds: int) -> dict[str, list[float]]:
    app = create_app(Settings(_env_file=None, database_url=url))
    resources = app.state.resources
    reader = resources.accounts.create_user(f"bench-{uuid.uuid4().hex[:8]}@example.com", actor=CLI)
    token, _ = resources.sessions.open(reader.id, method=SessionMethod.KEY)
    signed_in = [(b"cookie", f"{SESSION_COOKIE}={token}".encode())]
    kinds = ("json", "html", "html_signed_in")
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    paths = {
        "json": "/api/v1/tutorials/{}",
        "html": "/tutorials/{}",
        "html_signed_in": "/tutorials/{}",
    }
    headers: dict[str, list[tuple[bytes, bytes]]] = {
        "json": [],
        "html": [],
        "html_signed_in": signed_in,
    }
    try:
        for tutorial_id in ids:  # warm-up: the first read renders and keeps
            for kind, path in paths.items():
                _, status, _ = await _served(app, path.format(tutorial_id), headers[kind])
                assert status == 200, (kind, status)
        for n in range(rounds):
            for tutorial_id in ids:
                order = kinds[n % 3 :] + kinds[: n % 3]  # each kind first in turn
                for kind in order:
                    seconds, status, _ = await _served(
                        app, paths[kind].format(tutorial_id), headers[kind]
                    )
                    assert status == 200
                    times[kind].append(seconds)
    finally:
        await app.state.resources.close()
    return times


def _first_renderings(url: str, ids: list[uuid.UUID]) -> tuple[float, float]:
    """Median seconds to render one tutorial's page, and its JSON, from its view (no cache)."""
    engine = make_engine(url)
    try:
        store = TutorialStore(engine)
        views = [store.get_tutorial(i) for i in ids]
    finally:
        engine.dispose()
    page, body = [], []
    for view in views:
        assert view is not None
        started = time.perf_counter()
        templating.render("tutorial.html", **page_context(view))
        page.append(time.perf_counter() - started)
        started = time.perf_counter()
        render_tutorial(view)
        body.append(time.perf_counter() - started)
    return statistics.median(page), statistics.median(body)


@contextlib.contextmanager
def _sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench-web.db'}"
        upgrade(url)
        yield url


def _figure(report: Report, name: str, url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    try:
        ids = seed_completed(TutorialStore(engine), args.tutorials)
    finally:
        engine.dispose()
    times = asyncio.run(_measure(url, ids, args.rounds))
    json_ms = statistics.median(times["json"]) * 1000
    html_ms = statistics.median(times["html"]) * 1000
    ratio = html_ms / json_ms
    report.metrics.append(
        Metric(
            name=f"tutorial page vs JSON status route, server time ({name})",
            baseline=f"JSON median {json_ms:.3f} ms",
            measured=f"page median {html_ms:.3f} ms "
            f"(p90 {statistics.quantiles(times['html'], n=10)[-1] * 1000:.3f} ms, "
            f"JSON p90 {statistics.quantiles(times['json'], n=10)[-1] * 1000:.3f} ms)",
            ratio=ratio,
            goal=f"<= {GOAL}",
            met=ratio <= GOAL,
        )
    )
    signed_ms = statistics.median(times["html_signed_in"]) * 1000
    report.metrics.append(
        Metric(
            name=f"tutorial page, signed in, vs JSON status route, server time ({name})",
            baseline=f"JSON median {json_ms:.3f} ms",
            measured=f"page median {signed_ms:.3f} ms "
            f"(p90 {statistics.quantiles(times['html_signed_in'], n=10)[-1] * 1000:.3f} ms)",
            ratio=signed_ms / json_ms,
            goal=f"<= {GOAL}",
            met=signed_ms / json_ms <= GOAL,
        )
    )
    page_s, body_s = _first_renderings(url, ids)
    report.notes.append(
        f"{name}: rendering a version the first time takes {page_s * 1000:.2f} ms for the page "
        f"(Markdown, sanitizer, templates) and {body_s * 1000:.3f} ms for the JSON body; both are "
        f"then kept until the row changes. {len(times['html'])} reads of each route."
    )


def run(args: argparse.Namespace) -> Report:
    report = Report("web", command("bench.web", args, parser()))
    with _sqlite() as url:
        _figure(report, "SQLite", url, args)
    if args.postgres:
        with postgres_database("issuesight_bench_web") as pg_url:
            _figure(report, "PostgreSQL", pg_url, args)
    return report


if __name__ == "__main__":
    figure_main(run, parser)
