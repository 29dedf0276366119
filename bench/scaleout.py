"""Figure 5, scaleout: tutorials per second with a slow LLM (the fake answers after `--latency`
seconds), two worker processes on one task queue against one, with an LLM concurrency limit.

The limit is per worker process: `--knob setting` is the shipped LLM_MAX_CONCURRENCY (a
semaphore around the LLM call only), `--knob slots` Temporal's max_concurrent_activities applied
by bench._worker (every regular activity shares the slots). The fleet's limit is `--limit` times
the number of workers, and the fake's max_in_flight must stay within it.
With `--stock` the same comparison also runs with `python -m issuesight worker` as shipped
(LLM_MAX_CONCURRENCY at its default). PostgreSQL database; the fakes serve from this process.

The default limit is small on purpose: on a 2-core machine one worker process tops out, CPU-bound,
at about 3 tutorials/s (Temporal server included), so with more than ~2 calls of 1 s in flight
per worker the figure would measure the CPU, not the scale-out. The CPU per tutorial is printed.

    .venv/bin/python -m bench.scaleout --n 300 --latency 1.0 --limit 2 --knob setting --stock
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from bench._cpu import sample
from bench._report import Metric, Report, command, figure_main
from bench._stack import (
    Fakes,
    address,
    fakes,
    make_settings,
    postgres_database,
    seed_issues,
    start_worker,
    stop_worker,
    submit_all,
    temporal,
    wait_all,
    wait_for_worker,
)
from issuesight.core.settings import Settings
from issuesight.db.engine import make_engine
from issuesight.db.tutorials import TutorialStore

SPEEDUP_GOAL = 1.7
# knob: (worker module, the variable that carries the limit)
KNOBS = {
    "setting": ("issuesight", "LLM_MAX_CONCURRENCY"),
    "slots": ("bench._worker", "BENCH_MAX_CONCURRENT_ACTIVITIES"),
}
SHIPPED_LIMIT: int = Settings.model_fields["llm_max_concurrency"].default


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__)
    p.add_argument("--n", type=int, default=300, help="tutorials per measurement")
    p.add_argument("--latency", type=float, default=1.0, help="seconds per LLM call")
    p.add_argument("--limit", type=int, default=2, help="LLM calls in flight per worker")
    p.add_argument("--knob", choices=sorted(KNOBS), default="setting", help="how the limit is set")
    p.add_argument("--stock", action=argparse.BooleanOptionalAction, default=True)
    return p


@dataclass
class Phase:
    workers: int
    rate: float
    max_in_flight: int
    completed: int
    cpu_ms: float  # per tutorial, every process (workers, Temporal server, fakes, client)


async def phase(
    client: Client,
    fake: Fakes,
    url: str,
    tmp: Path,
    args: argparse.Namespace,
    *,
    workers: int,
    limit: int,
    knob: str | None,
) -> Phase:
    """`knob` None: the worker as shipped, whose own default is `limit`."""
    settings = make_settings(
        database_url=url, temporal_address=address(client), fake=fake, llm_timeout_seconds=60.0
    )
    fake.llm.reset()
    fake.llm.latency = args.latency
    refs = seed_issues(fake.github, args.n)
    module, env = "issuesight", None
    if knob is not None:
        module, variable = KNOBS[knob]
        env = {variable: str(limit)}
    log = tmp / f"workers-{workers}-{limit}.log"
    processes = [start_worker(settings, log, module=module, extra_env=env) for _ in range(workers)]
    engine = make_engine(url)
    try:
        for process in processes:
            await wait_for_worker(client, settings.temporal_task_queue, process)
        started, cpu = time.perf_counter(), sample()
        await submit_all(refs, store=TutorialStore(engine), client=client, settings=settings)
        outcomes = await wait_all(client, refs)
        rate = args.n / (time.perf_counter() - started)
        used = sample() - cpu
    finally:
        for process in processes:
            stop_worker(process)
        engine.dispose()
    completed = sum(1 for o in outcomes if o is not None and o.generated)
    cpu_ms = (used.process + used.children) / args.n * 1000
    return Phase(workers, rate, fake.llm.max_in_flight, completed, cpu_ms)


def compare(one: Phase, two: Phase, label: str, limit: int, *, scaled: bool) -> list[Metric]:
    """`scaled` False: the LLM limit is above what one worker's CPU allows, so the speedup
    measures the cores, not the scale-out, and has no goal."""
    speedup = two.rate / one.rate
    return [
        Metric(
            name=f"tutorials/s, 2 workers / 1 worker ({label})",
            baseline=f"{one.rate:.2f}/s with 1 worker ({one.completed} completed)",
            measured=f"{two.rate:.2f}/s with 2 workers ({two.completed} completed)",
            ratio=speedup,
            goal=f">= {SPEEDUP_GOAL}" if scaled else "- (CPU-bound on this machine)",
            met=speedup >= SPEEDUP_GOAL if scaled else None,
        ),
        Metric(
            name=f"LLM calls in flight vs the limit ({limit} per worker, {label})",
            baseline=f"limit {limit} with 1 worker, {2 * limit} with 2",
            measured=f"max in flight {one.max_in_flight} with 1, {two.max_in_flight} with 2",
            ratio=two.max_in_flight / (2 * limit),
            goal="never above the limit",
            met=one.max_in_flight <= limit and two.max_in_flight <= 2 * limit,
        ),
    ]


async def measure(args: argparse.Namespace, report: Report) -> None:
    configs: list[tuple[str, int, str | None]] = [
        (f"limit {args.limit} per worker by {args.knob}", args.limit, args.knob)
    ]
    if args.stock:
        configs.append((f"as shipped, LLM_MAX_CONCURRENCY={SHIPPED_LIMIT}", SHIPPED_LIMIT, None))
    with postgres_database() as url, tempfile.TemporaryDirectory() as tmp, fakes() as fake:
        async with temporal() as env:
            for label, limit, knob in configs:
                runs = [
                    await phase(
                        env.client, fake, url, Path(tmp), args, workers=n, limit=limit, knob=knob
                    )
                    for n in (1, 2)
                ]
                one, two = runs
                report.metrics += compare(one, two, label, limit, scaled=knob is not None)
                cores = os.cpu_count() or 1
                report.notes.append(
                    f"{label}: CPU per tutorial, all processes: {one.cpu_ms:.0f} ms with 1 worker, "
                    f"{two.cpu_ms:.0f} ms with 2 (the {cores} cores allow at most "
                    f"{cores * 1000 / two.cpu_ms:.1f} tutorials/s)"
                )


def run(args: argparse.Namespace) -> Report:
    report = Report("scaleout", command("bench.scaleout", args, parser()))
    bound = args.limit / args.latency
    report.notes.append(
        f"the LLM bound alone: {bound:.1f} tutorials/s per worker "
        f"({args.limit} in flight / {args.latency:g} s per call)"
    )
    asyncio.run(measure(args, report))
    return report


if __name__ == "__main__":
    figure_main(run, parser)
