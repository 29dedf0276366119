"""Figure 2, status: GET /api/v1/tutorials/{id} of COMPLETED tutorials on PostgreSQL under fixed
concurrency, against a bare FastAPI route returning a constant, added to the same app and served
by the same uvicorn process.

The server (bench._serve: create_app + uvicorn, configured as `issuesight api`) and the load
generator (bench._load: one keep-alive HTTP/1.1 connection per client) are separate processes.
Rounds alternate bare and real; each figure is the median round.

Throughput is measured closed-loop (every client sends again as soon as it is answered): the
server runs flat out. Latency there is mostly queueing, so it is also measured open-loop: the same
number of clients together send a fixed rate, by default half what the real route sustained
closed-loop, as pollers do; latency counts from each request's scheduled time.

    .venv/bin/python -m bench.status --tutorials 200 --concurrency 50 --duration 5 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench._content import seed_completed
from bench._cpu import process_cpu
from bench._report import Metric, Report, command, figure_main, median
from bench._serve import BARE_PATH, BARE_SYNC_PATH
from bench._stack import ROOT, postgres_database
from issuesight.db.engine import make_engine
from issuesight.db.store import Store

THROUGHPUT_GOAL = 0.5
P99_GOAL_MS = 10.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.status", description=__doc__)
    p.add_argument("--tutorials", type=int, default=200, help="COMPLETED tutorials to read")
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--duration", type=float, default=5.0, help="seconds measured per round")
    p.add_argument("--rounds", type=int, default=5, help="rounds of each route; the median counts")
    p.add_argument(
        "--open-load",
        type=positive_fraction,
        default=0.5,
        help="open-loop rate as a fraction of the real route's closed-loop requests/s",
    )
    return p


def positive_fraction(text: str) -> float:
    """--open-load: 0 would silently measure a closed loop under the open loop's name."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text}")
    return value


def start_server(database_url: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, DATABASE_URL=database_url)
    server = subprocess.Popen(
        [sys.executable, "-m", "bench._serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    base = f"http://127.0.0.1:{server.stdout.readline().strip()}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + BARE_PATH).status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise TimeoutError("the API server did not start within 30 s")


def drive(
    urls_file: Path, args: argparse.Namespace, server: int, rate: float | None = None
) -> dict[str, Any]:
    """One load run (closed loop, or open at `rate` requests/s); adds the server process's CPU
    per answered request."""
    cpu = process_cpu(server)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench._load",
            str(urls_file),
            "--concurrency",
            str(args.concurrency),
            "--duration",
            str(args.duration),
            *(["--rate", str(rate)] if rate else []),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=args.duration + 120,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    # The server also answers during the warm-up and the drain: an upper bound per request.
    result["server_ms"] = (process_cpu(server) - cpu) * 1000 / max(1, result["requests"])
    return result


def middle(rounds: list[dict[str, Any]], key: str) -> float:
    return median([r[key] for r in rounds])


def run(args: argparse.Namespace) -> Report:
    report = Report("status", command("bench.status", args, parser()))
    with postgres_database() as url, tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(url)
        ids = seed_completed(Store(engine), args.tutorials)
        engine.dispose()
        server, base = start_server(url)
        try:
            sample = httpx.get(f"{base}/api/v1/tutorials/{ids[0]}").json()
            bare_file, real_file = Path(tmp, "bare.txt"), Path(tmp, "real.txt")
            sync_file = Path(tmp, "sync.txt")
            bare_file.write_text(base + BARE_PATH + "\n")
            sync_file.write_text(base + BARE_SYNC_PATH + "\n")
            real_file.write_text("\n".join(f"{base}/api/v1/tutorials/{i}" for i in ids) + "\n")
            bare, real, sync = [], [], []
            for _ in range(args.rounds):
                bare.append(drive(bare_file, args, server.pid))
                real.append(drive(real_file, args, server.pid))
                sync.append(drive(sync_file, args, server.pid))
            rate = args.open_load * middle(real, "rps")
            bare_open, real_open = [], []
            for _ in range(args.rounds):
                bare_open.append(drive(bare_file, args, server.pid, rate))
                real_open.append(drive(real_file, args, server.pid, rate))
        finally:
            server.terminate()
            server.wait(timeout=30)
    b_rps, r_rps = middle(bare, "rps"), middle(real, "rps")
    b_p99, r_p99 = middle(bare, "p99_ms"), middle(real, "p99_ms")
    b_p50, r_p50 = middle(bare, "p50_ms"), middle(real, "p50_ms")
    report.metrics += [
        Metric(
            name=f"requests/s at concurrency {args.concurrency}: GET tutorial / bare route",
            baseline=f"{b_rps:.0f} req/s (bare constant route)",
            measured=f"{r_rps:.0f} req/s (GET /api/v1/tutorials/{{id}}, PostgreSQL)",
            ratio=r_rps / b_rps,
            goal=f">= {THROUGHPUT_GOAL} of bare",
            met=r_rps / b_rps >= THROUGHPUT_GOAL,
        ),
        Metric(
            name=f"p99 latency at concurrency {args.concurrency}: GET tutorial / bare route",
            baseline=f"p50 {b_p50:.1f} ms, p99 {b_p99:.1f} ms (bare)",
            measured=f"p50 {r_p50:.1f} ms, p99 {r_p99:.1f} ms (GET tutorial)",
            ratio=r_p99 / b_p99,
            goal=f"p99 <= {P99_GOAL_MS:.0f} ms (closed loop: at saturation)",
            met=r_p99 <= P99_GOAL_MS,
        ),
        Metric(
            name=(
                f"p99 latency, {args.concurrency} clients sending {rate:.0f} req/s in all "
                f"(open loop, {args.open_load:.0%} of the real route's throughput)"
            ),
            baseline=(
                f"p50 {middle(bare_open, 'p50_ms'):.1f} ms, "
                f"p99 {middle(bare_open, 'p99_ms'):.1f} ms (bare)"
            ),
            measured=(
                f"p50 {middle(real_open, 'p50_ms'):.1f} ms, "
                f"p99 {middle(real_open, 'p99_ms'):.1f} ms (GET tutorial)"
            ),
            ratio=middle(real_open, "p99_ms") / middle(bare_open, "p99_ms"),
            goal=f"p99 <= {P99_GOAL_MS:.0f} ms",
            met=middle(real_open, "p99_ms") <= P99_GOAL_MS,
        ),
    ]
    errors = sum(r["errors"] for r in bare + real + sync + bare_open + real_open)
    report.notes += [
        f"{args.tutorials} COMPLETED tutorials (sample status {sample.get('status')}, "
        f"{len(json.dumps(sample))} bytes of JSON each); {errors} failed requests",
        f"a bare sync `def` route (threadpool, where the status read runs on SQLite): "
        f"{middle(sync, 'rps'):.0f} req/s, p99 {middle(sync, 'p99_ms'):.1f} ms",
        f"server CPU per request (upper bound): bare {middle(bare, 'server_ms'):.2f} ms, "
        f"sync bare {middle(sync, 'server_ms'):.2f} ms, real {middle(real, 'server_ms'):.2f} ms",
        "load generator CPU (1.0 = it was the bottleneck): bare "
        f"{middle(bare, 'client_cpu'):.2f}, real {middle(real, 'client_cpu'):.2f}",
        f"closed loop: mean latency = concurrency / throughput (Little's law), so a p99 of "
        f"{P99_GOAL_MS:.0f} ms at {args.concurrency} in flight needs more than "
        f"{args.concurrency / P99_GOAL_MS * 1000:.0f} req/s from one uvicorn process",
        "open-loop p99 per round: bare "
        + ", ".join(f"{r['p99_ms']:.1f}" for r in bare_open)
        + "; real "
        + ", ".join(f"{r['p99_ms']:.1f}" for r in real_open)
        + " ms",
    ]
    return report


if __name__ == "__main__":
    figure_main(run, parser)
