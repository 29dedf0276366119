"""bench._load speaks HTTP/1.1 itself (httpx was the bottleneck of figure 2): it must read every
framing uvicorn produces, keep the connection usable, and count failures as failures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench._load import Connection, load
from fakes import BackgroundServer

CHUNKS = [b"first-", b"second-", b"x" * 5000]


async def ok(_: Request) -> Response:
    return JSONResponse({"status": "COMPLETED"})


async def chunked(_: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        for chunk in CHUNKS:
            yield chunk

    return StreamingResponse(body(), media_type="text/plain")


async def closing(_: Request) -> Response:
    return Response(b"bye", headers={"Connection": "close"})


async def failing(_: Request) -> Response:
    return Response(b"no", status_code=500)


APP = Starlette(
    routes=[
        Route("/ok", ok),
        Route("/chunked", chunked),
        Route("/close", closing),
        Route("/fail", failing),
    ]
)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with BackgroundServer(APP) as server:
        yield server.url


def host_port(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


async def test_one_connection_reads_every_framing_and_stays_in_step(base: str) -> None:
    connection = Connection(*host_port(base))
    try:
        # Each answer must be read to its end, or the next status line would be found inside it.
        for target in ["/ok", "/chunked", "/ok", "/fail", "/chunked", "/close", "/ok"]:
            expected = 500 if target == "/fail" else 200
            assert await connection.get(target) == expected, target
    finally:
        await connection.close()


async def test_closed_loop_counts_answers_and_failures(base: str) -> None:
    good = await load([base + "/ok", base + "/chunked"], concurrency=3, duration=0.3, warmup=0.05)
    assert good["requests"] > 0
    assert good["errors"] == 0
    bad = await load([base + "/fail"], concurrency=2, duration=0.2, warmup=0.05)
    assert bad["requests"] == 0
    assert bad["errors"] > 0


async def test_open_loop_sends_no_more_than_its_schedule(base: str) -> None:
    rate, duration, concurrency = 40.0, 0.5, 4
    result = await load([base + "/ok"], concurrency, duration, warmup=0.1, rate=rate)
    assert result["errors"] == 0
    # Each client sends on a fixed schedule: at most one request per slot that opened within the
    # measured window, plus the one in flight when it began.
    assert 0 < result["requests"] <= rate * duration + concurrency


async def test_a_server_that_is_gone_is_an_error_not_a_hang() -> None:
    with BackgroundServer(APP) as server:
        host, port = host_port(server.url)
    connection = Connection(host, port)
    with pytest.raises(ConnectionRefusedError):
        await connection.get("/ok")


async def test_only_plain_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="http://host:port"):
        await load(["https://example.com/x"], 1, 0.1, 0.0)
