"""`python -m bench._load URLS_FILE --concurrency 50 --duration 5 --warmup 1`: closed-loop load,
`concurrency` clients each sending its next GET as soon as the last one answered; the URLs (one a
line) are used in turn. Prints one JSON line.

Each client is its own httpx.AsyncClient with one keep-alive connection: one AsyncClient with 50
connections spends its time scanning its pool (httpcore checks every idle connection on every
request) and tops out near 100 req/s on this machine, far below the server."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path

import httpx

from bench._report import percentile


async def load(
    urls: list[str], concurrency: int, duration: float, warmup: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    window = {"measuring": False, "stop": False}
    turn = itertools.count()

    async def user(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while not window["stop"]:
            url = urls[next(turn) % len(urls)]
            started = time.perf_counter()
            try:
                ok = (await client.get(url)).status_code == 200
            except httpx.HTTPError:
                ok = False
            if window["measuring"]:
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

    clients = [
        httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=30.0)
        for _ in range(concurrency)
    ]
    users = [asyncio.create_task(user(c)) for c in clients]
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
        await client.aclose()
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
    args = p.parse_args()
    urls = args.urls_file.read_text().split()
    result = asyncio.run(load(urls, args.concurrency, args.duration, args.warmup))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
