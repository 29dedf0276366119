"""Figure 4, llm: LLM calls per tutorial while faults are injected at the fake LLM, against the
same number of tutorials without faults.

Workers are `python -m issuesight worker` processes on a SQLite file database. The fault run:
the first half of the issues meets queued faults (429 with retry-after 1 s, 500, malformed
JSON, in turn); then a few tutorials are submitted while the fake answers slowly and the worker
is SIGKILLed with all of their calls in flight; a second worker finishes them and the rest.
Every call beyond one per tutorial is wasted; each should be explained by an injected fault or
by a call the killed worker had in flight, and no tutorial may be generated twice.

    .venv/bin/python -m bench.llm --n 200 --faults 10 --kill-batch 5
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from bench._report import Metric, Report, command, figure_main
from bench._stack import (
    Fakes,
    address,
    fakes,
    make_settings,
    scalar,
    seed_issues,
    sqlite_url,
    start_worker,
    stop_worker,
    submit_all,
    temporal,
    wait_all,
    wait_for_worker,
    wait_until,
)
from issuesight.core.settings import Settings
from issuesight.db.engine import make_engine
from issuesight.db.tutorials import TutorialStore
from issuesight.domain.refs import IssueRef

SLOW_CALL = 3.0  # seconds the fake takes per call while the worker is killed


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.llm", description=__doc__)
    p.add_argument("--n", type=int, default=200, help="tutorials per run")
    p.add_argument("--faults", type=int, default=10, help="faults of each kind")
    p.add_argument("--kill-batch", type=int, default=5, help="calls in flight at the kill")
    return p


class Run:
    """One run on its own task queue and database rows, with a worker process."""

    def __init__(self, client: Client, fake: Fakes, settings: Settings, tmp: Path) -> None:
        self.client, self.fake, self.settings, self.tmp = client, fake, settings, tmp
        self.engine = make_engine(settings.database_url)
        self.store = TutorialStore(self.engine)
        self.log = tmp / "worker.log"

    async def worker(self) -> subprocess.Popen[bytes]:
        process = start_worker(self.settings, self.log)
        try:
            await wait_for_worker(self.client, self.settings.temporal_task_queue, process)
        except BaseException:
            stop_worker(process)
            raise
        return process

    async def submit(self, refs: list[IssueRef]) -> None:
        await submit_all(refs, store=self.store, client=self.client, settings=self.settings)


async def clean_run(run: Run, refs: list[IssueRef]) -> int:
    worker = await run.worker()
    try:
        await run.submit(refs)
        await wait_all(run.client, refs)
    finally:
        stop_worker(worker)
    return 0


async def faulty_run(run: Run, refs: list[IssueRef], args: argparse.Namespace) -> int:
    """Returns the number of calls in flight when the worker was killed."""
    llm = run.fake.llm
    mid, end = len(refs) // 2, len(refs) // 2 + args.kill_batch
    half, killed, rest = refs[:mid], refs[mid:end], refs[end:]
    for _ in range(args.faults):
        llm.fail_next("rate_limit", retry_after=1)
        llm.fail_next("server_error")
        llm.fail_next("malformed")
    first = await run.worker()
    try:
        await run.submit(half)
        await wait_all(run.client, half)
        llm.latency = SLOW_CALL
        await run.submit(killed)
        await wait_until(lambda: llm.in_flight >= len(killed), within=30)
        in_flight = llm.in_flight
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        llm.latency = 0.0
    finally:
        stop_worker(first)
    second = await run.worker()
    try:
        await run.submit(rest)
        await wait_all(run.client, refs)
    finally:
        stop_worker(second)
    await asyncio.sleep(SLOW_CALL)  # the killed calls end at the fake and are logged
    return in_flight


@dataclass
class Outcome:
    calls: int
    completed: int
    duplicates: int  # tutorials generated more than once
    counted: int  # LLM calls the database counted (llm_calls)
    statuses: dict[int, int]
    in_flight_at_kill: int = 0


async def one_run(client: Client, args: argparse.Namespace, *, faulty: bool) -> Outcome:
    """A fresh database, fakes and task queue; returns what the fake and the database saw."""
    with tempfile.TemporaryDirectory() as tmp, fakes() as fake:
        url = sqlite_url(Path(tmp))
        settings = make_settings(database_url=url, temporal_address=address(client), fake=fake)
        run = Run(client, fake, settings, Path(tmp))
        refs = seed_issues(fake.github, args.n)
        try:
            in_flight = await faulty_run(run, refs, args) if faulty else await clean_run(run, refs)
        finally:
            run.engine.dispose()
        return Outcome(
            calls=fake.llm.count(),
            completed=scalar(
                url, "SELECT count(*) FROM tutorial_contents WHERE status='COMPLETED'"
            ),
            duplicates=scalar(url, "SELECT count(*) FROM tutorial_contents WHERE generation > 1"),
            counted=scalar(url, "SELECT coalesce(sum(llm_calls), 0) FROM tutorial_contents"),
            statuses=dict(sorted(Counter(c.status for c in fake.llm.calls).items())),
            in_flight_at_kill=in_flight,
        )


async def measure(args: argparse.Namespace) -> tuple[Outcome, Outcome]:
    async with temporal() as env:
        clean = await one_run(env.client, args, faulty=False)
        faults = await one_run(env.client, args, faulty=True)
    return clean, faults


def run(args: argparse.Namespace) -> Report:
    clean, faults = asyncio.run(measure(args))
    report = Report("llm", command("bench.llm", args, parser()))
    base = clean.calls / max(1, clean.completed)
    per = faults.calls / max(1, faults.completed)
    injected, killed = 3 * args.faults, faults.in_flight_at_kill
    wasted = faults.calls - faults.completed
    unexplained = wasted - injected - killed
    report.metrics += [
        Metric(
            name=f"LLM calls per tutorial, {args.n} tutorials with faults and a killed worker",
            baseline=f"{base:.3f} ({clean.calls} calls, {clean.completed} completed, no faults)",
            measured=f"{per:.3f} ({faults.calls} calls, {faults.completed} completed)",
            ratio=per / base,
            goal="completed = tutorials, 0 duplicate generations",
            met=faults.completed == args.n and faults.duplicates == 0,
        ),
        Metric(
            name="wasted LLM calls not explained by a fault or the kill",
            baseline=f"{injected} faults injected + {killed} calls in flight at the kill",
            measured=f"{wasted} wasted, {unexplained} unexplained, "
            f"{faults.duplicates} tutorials with generation > 1",
            ratio=wasted / (injected + killed) if injected + killed else None,
            goal="0 unexplained, 0 duplicates",
            met=unexplained == 0 and faults.duplicates == 0,
        ),
    ]
    report.notes += [
        f"statuses the fake answered: clean {clean.statuses}, with faults {faults.statuses} "
        "(a malformed answer is a 200; a killed call ends as a 200 nobody reads)",
        f"LLM calls the database counted (llm_calls): clean {clean.counted}, "
        f"with faults {faults.counted}; the fake counted {clean.calls} and {faults.calls}",
    ]
    return report


if __name__ == "__main__":
    figure_main(run, parser)
