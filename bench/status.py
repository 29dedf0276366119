"""Figure 2, status: GET /api/v1/tutorials/{id} of COMPLETED tutorials on PostgreSQL under fixed
concurrency, against a bare FastAPI route returning a constant, added to the same app and served
by the same uvicorn process.

The server (bench._serve: create_app + uvicorn, configured as `issuesight api`) and the load
generator (bench._load: one keep-alive HTTP/1.1 connection per client) are separate processes.
Rounds alternate bare and real; each figure is the median round.

Throughput is measured closed-loop (every client sends again as soon as it is answered): the
server runs flat out, and its p99 is reported without a goal (at saturation latency is queueing:
Little's law). The latency goal is open-loop (issue #17): the same number of clients together send
a fixed rate, half the bare route's closed-loop throughput by default, as pollers do; latency counts
from each request's scheduled time, and the status route's p99 must stay within 3x the bare
route's p99 at the same rate (median of the rounds). Everything is measured with the API as one
process and again as two processes sharing the port (SO_REUSEPORT), in the same run.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench._content import seed_completed
from bench._cpu import process_cpu
from bench._report import Metric, Report, command, figure_main, median
from bench._serve import BARE_PATH, BARE_SYNC_PATH
from bench._stack import ROOT, postgres_database
from issuesight.db.engine import make_engine
from issuesight.db.tutorials import TutorialStore

THROUGHPUT_GOAL = 0.5
OPEN_P99_GOAL = 3.0  # the status route's open-loop p99 within this many times the bare route's


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
        help="open-loop rate as a fraction of the bare route's closed-loop requests/s",
    )
    p.add_argument(
        "--processes",
        type=process_counts,
        default=(1, 2),
        help="API process counts to measure, comma-separated (e.g. 1,2)",
    )
    return p


def positive_fraction(text: str) -> float:
    """--open-load: 0 would silently measure a closed loop under the open loop's name."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text}")
    return value


def process_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = ()
    if not counts or any(not 1 <= c <= 8 for c in counts):
        raise argparse.ArgumentTypeError(f"expected counts from 1 to 8, e.g. 1,2; got {text}")
    return counts


def start_servers(database_url: str, count: int) -> tuple[list[subprocess.Popen[str]], str]:
    """`count` API processes sharing one loopback port; the first picks it."""
    env = dict(os.environ, DATABASE_URL=database_url)
    servers: list[subprocess.Popen[str]] = []
    port = ""
    try:
        for _ in range(count):
            server = subprocess.Popen(
                [sys.executable, "-m", "bench._serve", *([port] if port else [])],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            servers.append(server)
            assert server.stdout is not None
            port = server.stdout.readline().strip()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        answered = 0
        while answered < 4 * count:
            if time.monotonic() > deadline:
                raise TimeoutError("the API servers did not start within 30 s")
            try:  # a new connection each time, so every process is reached
                answered += httpx.get(base + BARE_PATH).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.1)
        return servers, base
    except BaseException:
        for server in servers:
            server.kill()
        raise


def drive(
    urls_file: Path, args: argparse.Namespace, servers: list[int], rate: float | None = None
) -> dict[str, Any]:
    """One load run (closed loop, or open at `rate` requests/s); adds the server processes' CPU
    per answered request."""
    cpu = sum(process_cpu(pid) for pid in servers)
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
    # The servers also answer during the warm-up and the drain: an upper bound per request.
    used = sum(process_cpu(pid) for pid in servers) - cpu
    result["server_ms"] = used * 1000 / max(1, result["requests"])
    return result


def middle(rounds: list[dict[str, Any]], key: str) -> float:
    return median([r[key] for r in rounds])


@dataclass
class Config:
    """The rounds of one API process count."""

    processes: int
    sample: dict[str, Any]
    rate: float = 0.0
    bare: list[dict[str, Any]] = field(default_factory=list)
    real: list[dict[str, Any]] = field(default_factory=list)
    sync: list[dict[str, Any]] = field(default_factory=list)
    bare_open: list[dict[str, Any]] = field(default_factory=list)
    real_open: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        rounds = self.bare + self.real + self.sync + self.bare_open + self.real_open
        return sum(r["errors"] for r in rounds)


def measure(
    args: argparse.Namespace, url: str, ids: Sequence[object], tmp: Path, count: int
) -> Config:
    servers, base = start_servers(url, count)
    pids = [s.pid for s in servers]
    try:
        config = Config(count, httpx.get(f"{base}/api/v1/tutorials/{ids[0]}").json())
        bare_file, real_file = tmp / f"bare-{count}.txt", tmp / f"real-{count}.txt"
        sync_file = tmp / f"sync-{count}.txt"
        bare_file.write_text(base + BARE_PATH + "\n")
        sync_file.write_text(base + BARE_SYNC_PATH + "\n")
        real_file.write_text("\n".join(f"{base}/api/v1/tutorials/{i}" for i in ids) + "\n")
        for _ in range(args.rounds):
            config.bare.append(drive(bare_file, args, pids))
            config.real.append(drive(real_file, args, pids))
            config.sync.append(drive(sync_file, args, pids))
        config.rate = args.open_load * middle(config.bare, "rps")
        for _ in range(args.rounds):
            config.bare_open.append(drive(bare_file, args, pids, config.rate))
            config.real_open.append(drive(real_file, args, pids, config.rate))
        return config
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)


def run(args: argparse.Namespace) -> Report:
    report = Report("status", command("bench.status", args, parser()))
    with postgres_database() as url, tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(url)
        ids = seed_completed(TutorialStore(engine), args.tutorials)
        engine.dispose()
        configs = [measure(args, url, ids, Path(tmp), n) for n in args.processes]
    for config in configs:
        report.metrics += metrics(args, config)
        report.notes += notes(args, config)
    return report


def _api(config: Config) -> str:
    return "1 API process" if config.processes == 1 else f"{config.processes} API processes"


def metrics(args: argparse.Namespace, c: Config) -> list[Metric]:
    b_rps, r_rps = middle(c.bare, "rps"), middle(c.real, "rps")
    b_open, r_open = middle(c.bare_open, "p99_ms"), middle(c.real_open, "p99_ms")
    open_ratio = r_open / b_open if b_open else None
    return [
        Metric(
            name=f"requests/s at concurrency {args.concurrency}, {_api(c)}: GET tutorial / bare",
            baseline=f"{b_rps:.0f} req/s (bare constant route)",
            measured=f"{r_rps:.0f} req/s (GET /api/v1/tutorials/{{id}}, PostgreSQL)",
            ratio=r_rps / b_rps,
            goal=f">= {THROUGHPUT_GOAL} of bare",
            met=r_rps / b_rps >= THROUGHPUT_GOAL,
        ),
        Metric(
            name=f"p99 at concurrency {args.concurrency}, closed loop, {_api(c)}",
            baseline=(
                f"p50 {middle(c.bare, 'p50_ms'):.1f} ms, p99 {middle(c.bare, 'p99_ms'):.1f} ms "
                "(bare)"
            ),
            measured=(
                f"p50 {middle(c.real, 'p50_ms'):.1f} ms, p99 {middle(c.real, 'p99_ms'):.1f} ms "
                "(GET tutorial)"
            ),
            ratio=middle(c.real, "p99_ms") / middle(c.bare, "p99_ms"),
            goal="none (at saturation latency is queueing: Little's law)",
            met=None,
        ),
        Metric(
            name=(
                f"p99, open loop at {c.rate:.0f} req/s ({args.open_load:.0%} of the bare "
                f"route's throughput), {args.concurrency} clients, {_api(c)}"
            ),
            baseline=f"p50 {middle(c.bare_open, 'p50_ms'):.1f} ms, p99 {b_open:.1f} ms (bare)",
            measured=(
                f"p50 {middle(c.real_open, 'p50_ms'):.1f} ms, p99 {r_open:.1f} ms (GET tutorial)"
            ),
            ratio=open_ratio,
            goal=f"p99 <= {OPEN_P99_GOAL:.0f}x bare's",
            met=None if open_ratio is None else open_ratio <= OPEN_P99_GOAL,
        ),
    ]


def notes(args: argparse.Namespace, c: Config) -> list[str]:
    def per_round(rounds: list[dict[str, Any]]) -> str:
        return ", ".join(f"{r['p99_ms']:.1f}" for r in rounds)

    real_rps = middle(c.real, "rps")
    return [
        f"{_api(c)}: {args.tutorials} COMPLETED tutorials (sample status "
        f"{c.sample.get('status')}, {len(json.dumps(c.sample))} bytes of JSON each); "
        f"{c.errors} failed requests",
        f"{_api(c)}: a bare sync `def` route (threadpool, where the status read runs on "
        f"SQLite): {middle(c.sync, 'rps'):.0f} req/s, p99 {middle(c.sync, 'p99_ms'):.1f} ms",
        f"{_api(c)}: server CPU per request (upper bound): bare "
        f"{middle(c.bare, 'server_ms'):.2f} ms, sync bare {middle(c.sync, 'server_ms'):.2f} ms, "
        f"real {middle(c.real, 'server_ms'):.2f} ms; load generator CPU (1.0 = it was the "
        f"bottleneck): bare {middle(c.bare, 'client_cpu'):.2f}, "
        f"real {middle(c.real, 'client_cpu'):.2f}",
        f"{_api(c)}: the open-loop rate is {c.rate / real_rps:.0%} of what the real route "
        f"sustained closed-loop; open-loop p99 per round: bare {per_round(c.bare_open)}; "
        f"real {per_round(c.real_open)} ms",
    ]


if __name__ == "__main__":
    figure_main(run, parser)
