"""`python -m bench._load URLS_FILE --concurrency 50 --duration 5 --warmup 1 [--rate R]`: load
from `concurrency` clients; the URLs (one a line) are used in turn. Prints one JSON line.

Without `--rate` the loop is closed: each client sends its next GET as soon as the last one
answered, so the server runs flat out and latency is mostly queueing (Little's law). With
`--rate` it is open: the clients together send R requests a second on a fixed schedule, each
client at R/concurrency with its start staggered, as pollers do. Latency is then counted from a
request's scheduled time, not from when it went out, so a server that falls behind is charged
for the wait it causes (no coordinated omission).

Each client holds one keep-alive HTTP/1.1 connection and speaks the protocol itself over asyncio
streams (`Connection`). httpx cost about 1 ms of CPU per request here: at 50 clients the load
generator, not the server, was the bottleneck for the bare route, and its own overhead was most
of a quiet server's measured latency."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench._report import percentile

REQUEST_TIMEOUT = 30.0  # seconds; a hung server fails requests instead of the run


class Connection:
    """One keep-alive HTTP/1.1 connection sending GETs: status line, headers, then a body framed
    by Content-Length or chunked encoding. Reconnects when the server closed the connection."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, target: str) -> int:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                return await self._get(target)
        except BaseException:
            await self.close()  # a half-read answer would corrupt the next one
            raise

    async def _get(self, target: str) -> int:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._streams
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {self._host}\r\n\r\n".encode())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as closed:
            raise ConnectionError("the server closed the connection") from closed
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in header_lines if line)
        )
        if "content-length" in headers:
            await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return int(status_line.split(" ", 2)[1])

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            await writer.wait_closed()


async def load(
    urls: list[str],
    concurrency: int,
    duration: float,
    warmup: float,
    rate: float | None = None,
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    window = {"measuring": False, "stop": False}
    turn = itertools.count()
    interval = concurrency / rate if rate else 0.0
    loop = asyncio.get_running_loop()

    async def user(client: Connection, index: int) -> None:
        nonlocal errors
        due = loop.time() + index * interval / concurrency
        while not window["stop"]:
            if rate:
                await asyncio.sleep(max(0.0, due - loop.time()))
                started, due = due, due + interval
            else:
                started = loop.time()
            target = targets[next(turn) % len(targets)]
            try:
                ok = await client.get(target) == 200
            except (OSError, asyncio.IncompleteReadError, ValueError):
                ok = False
            if window["measuring"]:
                if ok:
                    latencies.append(loop.time() - started)
                else:
                    errors += 1

    first = urlsplit(urls[0])
    if first.scheme != "http" or first.hostname is None or first.port is None:
        raise ValueError(f"expected http://host:port/... URLs, got {urls[0]!r}")
    targets = [urlsplit(u).path for u in urls]
    clients = [Connection(first.hostname, first.port) for _ in range(concurrency)]
    users = [asyncio.create_task(user(c, i)) for i, c in enumerate(clients)]
    await asyncio.sleep(warmup)
    window["measuring"] = True
    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.sleep(duration)
    window["measuring"] = False
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    window["stop"] = True
    await asyncio.gather(*users)
    for client in clients:
        await client.close()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000 if latencies else float("nan"),
        "p99_ms": percentile(latencies, 99) * 1000 if latencies else float("nan"),
        "client_cpu": cpu / elapsed,  # near 1.0: the load generator itself was the bottleneck
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench._load")
    p.add_argument("urls_file", type=Path)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--rate", type=float, default=None, help="open loop: requests/s in all")
    args = p.parse_args()
    if args.rate is not None and args.rate <= 0:
        p.error("--rate must be positive")
    urls = args.urls_file.read_text().split()
    result = asyncio.run(load(urls, args.concurrency, args.duration, args.warmup, args.rate))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
