"""Running the API and the worker in a process that owns its signals and its heap.

uvicorn installs its own handlers and re-raises the signal after serving; with a worker in the
same process that would exit before the worker shut down, so signals are handled here instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)
# uvicorn (h11) buffers at most this much of a request's head: headers past it are refused.
MAX_HEADER_BYTES = 16 * 1024


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def freeze_startup_heap() -> None:
    """For a long-running process, once it has imported and built what it keeps: collect what
    is already garbage, then move everything left out of the collector's sight.

    A full collection walked about 150 000 such objects (modules, classes, models) and paused
    the API for about 110 ms, and those pauses were the status route's p99 (bench.status);
    after the freeze one pauses for about 5 ms. Objects made later are collected as before.
    Only process entry points call this: in a test process it would pin every test's leftovers."""
    gc.collect()
    gc.freeze()
    log.info("startup heap frozen", extra={"objects": gc.get_freeze_count()})


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def serve_api(
    app: FastAPI,
    host: str,
    port: int,
    stop: asyncio.Event,
    *,
    limit_concurrency: int | None = None,
    keep_alive_seconds: int = 5,
    forwarded_allow_ips: str | None = None,
) -> None:
    """`limit_concurrency`: connections and requests in progress past it are answered 503 at
    once (uvicorn's own check), so a flood cannot make the process hold unbounded work.
    `forwarded_allow_ips`: the proxies whose X-Forwarded-* headers are believed; None: no
    one's (uvicorn's default, from its own reading of the environment, believes loopback)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        limit_concurrency=limit_concurrency,
        timeout_keep_alive=keep_alive_seconds,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips or "",
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving
    if not stop.is_set():
        stop.set()  # the server ended on its own (e.g. port taken): stop the rest too
