"""Request bodies are bounded while they are read (413), on a real uvicorn socket: a declared
size over the cap is refused before the body is sent, a chunked body as soon as it passes the
cap, a mislabelled one by the bytes that actually arrive. Webhooks get a larger cap than the
rest of the API; connections past API_LIMIT_CONCURRENCY are answered 503."""

from __future__ import annotations

import asyncio
import json
import select
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message, Scope

from fakes import BackgroundServer, FakeGitHub, FakeOpenAI
from issuesight.api.app import create_app, create_internal_app
from issuesight.runtime.api_server import serve
from tests.helpers import make_settings, sign

KIB = 1024
MIB = 1024 * KIB
CHUNK = 8 * KIB


@pytest.fixture
async def app(sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI) -> AsyncIterator[FastAPI]:
    # Temporal is never reached: every request here is refused or answered before that.
    settings = make_settings(
        database_url=sqlite_url, temporal_address="127.0.0.1:9", github=github, llm=llm
    )
    application = create_app(settings)
    yield application
    await application.state.resources.close()


@pytest.fixture
def server(app: FastAPI) -> Iterator[BackgroundServer]:
    with BackgroundServer(app) as running:
        yield running


def _connect(server: BackgroundServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _head(path: str, headers: dict[str, str]) -> bytes:
    fields = (f"{name}: {value}" for name, value in headers.items())
    lines = [f"POST {path} HTTP/1.1", "Host: issuesight.test", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_status(sock: socket.socket, timeout: float = 10.0) -> tuple[int, bytes]:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    status_line = data.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), data


def _answered(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0.02)
    return bool(readable)


def _send_chunked_until_answered(sock: socket.socket, total: int) -> int:
    """Sends `total` bytes as HTTP chunks, stopping as soon as the server answers; returns
    how many body bytes were sent by then."""
    sent = 0
    piece = b" " * CHUNK
    while sent < total:
        if _answered(sock):
            return sent
        try:
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return sent  # the server answered and closed while we were still sending
        sent += len(piece)
    sock.sendall(b"0\r\n\r\n")
    return sent


async def _serving(client: httpx.AsyncClient) -> None:
    """Until the server that serve() is starting answers (at most about five seconds)."""
    for _ in range(100):
        try:
            await client.get("/api/v1/tutorials")
            return
        except httpx.ConnectError:
            await asyncio.sleep(0.05)
    raise AssertionError("the API did not start serving")


def test_a_declared_oversize_body_is_refused_before_it_is_sent(server: BackgroundServer) -> None:
    with _connect(server) as sock:
        sock.sendall(
            _head(
                "/api/v1/tutorials",
                {"Content-Type": "application/json", "Content-Length": str(8 * MIB)},
            )
        )
        # Not one byte of the 8 MB body is sent: the answer must come anyway.
        status, _ = _read_status(sock, timeout=5)
    assert status == 413


def test_a_chunked_body_is_refused_once_it_passes_the_cap(server: BackgroundServer) -> None:
    with _connect(server) as sock:
        sock.sendall(
            _head(
                "/api/v1/tutorials",
                {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            )
        )
        sent = _send_chunked_until_answered(sock, 8 * MIB)
        status, _ = _read_status(sock)
    assert status == 413
    # Answered while the body was still arriving: socket buffers let some more through, but
    # nowhere near the 8 MB the sender meant to push.
    assert sent < 2 * MIB, sent


def test_a_body_under_the_cap_is_read_and_validated(server: BackgroundServer) -> None:
    body = json.dumps({"issue": "x" * (60 * KIB)}).encode()
    response = httpx.post(f"{server.url}/api/v1/tutorials", content=body, timeout=10)
    assert response.status_code == 422  # parsed and refused as a reference, not as a size
    over = json.dumps({"issue": "x" * (64 * KIB)}).encode()
    response = httpx.post(f"{server.url}/api/v1/tutorials", content=over, timeout=10)
    assert response.status_code == 413


async def test_a_mislabelled_body_is_counted_not_trusted(app: FastAPI) -> None:
    """Content-Length says 100 bytes; 8 MB arrive (an ASGI server or proxy that does not
    enforce framing). The cap counts what arrives and stops pulling soon after 64 KiB."""
    pulled = 0
    total_chunks = (8 * MIB) // CHUNK
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {
            "type": "http.request",
            "body": b" " * CHUNK,
            "more_body": pulled < total_chunks,
        }

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/tutorials",
        "raw_path": b"/api/v1/tutorials",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
        "client": ("127.0.0.1", 1234),
        "server": ("issuesight.test", 80),
        "state": {},
    }
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 413
    assert pulled <= (64 * KIB) // CHUNK + 1, pulled


def _webhook_head(length: dict[str, str], body_signature: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "limits-1",
        "X-Hub-Signature-256": body_signature,
        **length,
    }


def test_webhooks_accept_large_deliveries_up_to_their_own_cap(server: BackgroundServer) -> None:
    # A signed ping padded to 1 MiB: over the API's 64 KiB, under the webhook's 5 MiB.
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    body += b" " * (MIB - len(body))
    response = httpx.post(
        f"{server.url}/api/v1/webhooks/github",
        content=body,
        headers=_webhook_head({}, sign(body)),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pong"

    with _connect(server) as sock:
        sock.sendall(
            _head(
                "/api/v1/webhooks/github",
                _webhook_head({"Content-Length": str(5 * MIB + 1)}, "sha256=" + "0" * 64),
            )
        )
        status, _ = _read_status(sock, timeout=5)
    assert status == 413

    with _connect(server) as sock:
        sock.sendall(
            _head(
                "/api/v1/webhooks/github",
                _webhook_head({"Transfer-Encoding": "chunked"}, "sha256=" + "0" * 64),
            )
        )
        sent = _send_chunked_until_answered(sock, 32 * MIB)
        status, _ = _read_status(sock)
    assert status == 413
    assert 5 * MIB <= sent < 8 * MIB, sent


async def test_connections_past_the_concurrency_limit_are_answered_503(
    sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI
) -> None:
    settings = make_settings(
        database_url=sqlite_url,
        temporal_address="127.0.0.1:9",
        github=github,
        llm=llm,
        api_limit_concurrency=1,
    )
    app = create_app(settings)
    stop = asyncio.Event()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serving = asyncio.create_task(serve(settings, app, "127.0.0.1", port, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await _serving(client)
            # One request holds the only slot: its body never finishes arriving.
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_head("/api/v1/tutorials", {"Content-Length": "10"}) + b"{")
            await writer.drain()
            await asyncio.sleep(0.3)
            refused = await client.get("/api/v1/tutorials")
            assert refused.status_code == 503
            writer.close()
    finally:
        stop.set()
        await serving


async def test_internal_port_takes_metrics_and_docs_off_the_public_one(
    sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI
) -> None:
    settings = make_settings(
        database_url=sqlite_url,
        temporal_address="127.0.0.1:9",
        github=github,
        llm=llm,
        api_internal_port=9,  # only its presence matters here: no server is started
    )
    public = create_app(settings)
    internal = create_internal_app(public)
    transport = httpx.ASGITransport(app=public)
    async with httpx.AsyncClient(transport=transport, base_url="http://public") as client:
        for path in ("/metrics", "/docs", "/openapi.json", "/redoc"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/health")).status_code in (200, 503)
    transport = httpx.ASGITransport(app=internal)
    async with httpx.AsyncClient(transport=transport, base_url="http://internal") as client:
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert "issuesight_http_requests_total" in metrics.text
        document = (await client.get("/openapi.json")).json()
        assert "/api/v1/tutorials" in document["paths"]  # the public routes are described
        assert (await client.get("/docs")).status_code == 200
        assert (await client.post("/metrics", content=b"x")).status_code in (405, 413)
    await public.state.resources.close()

    default = create_app(
        make_settings(
            database_url=sqlite_url, temporal_address="127.0.0.1:9", github=github, llm=llm
        )
    )
    transport = httpx.ASGITransport(app=default)
    async with httpx.AsyncClient(transport=transport, base_url="http://public") as client:
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200
    await default.state.resources.close()


@pytest.mark.parametrize(("trusted", "spoof_counts"), [(None, False), ("127.0.0.1", True)])
async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    database_url: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    trusted: str | None,
    spoof_counts: bool,
) -> None:
    """The write limit per client address: a client that sends X-Forwarded-For itself must not
    get a fresh bucket per request. Only FORWARDED_ALLOW_IPS's proxies are believed (none by
    default; uvicorn's own default believed any loopback peer, e.g. an SSH tunnel's)."""
    settings = make_settings(
        database_url=database_url,
        temporal_address="127.0.0.1:9",  # never reached: every write here is refused first
        github=github,
        llm=llm,
        auth_mode="keys",
        write_rate_per_minute=1,
        write_burst=1,
        forwarded_allow_ips=trusted,
    )
    app = create_app(settings)
    stop = asyncio.Event()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serving = asyncio.create_task(serve(settings, app, "127.0.0.1", port, stop))

    async def write(client_address: str) -> int:
        response = await client.post(
            "/api/v1/tutorials",
            json={"issue": "octo-org/x#1"},
            headers={"X-Forwarded-For": client_address, "Authorization": "Bearer isk_wrong"},
        )
        return response.status_code

    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await _serving(client)
            assert await write("203.0.113.1") == 401  # the bucket's one token, a bad key
            if spoof_counts:  # a trusted proxy's word: another client, another bucket
                assert await write("203.0.113.2") == 401
                assert await write("203.0.113.1") == 429
            else:  # the peer's own address, whatever the header says
                assert await write("203.0.113.2") == 429
    finally:
        stop.set()
        await serving
    await app.state.resources.close()
