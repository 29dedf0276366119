"""Figure 1, overhead: tutorials per second through the full TutorialWorkflow, divided by a bare
workflow of the same shape (three no-op activities) on the same dev server in the same run.

The real worker is issuesight.runtime.worker.run_worker in this process, with GitHub and the LLM
faked (zero latency) and a SQLite file database; issues are submitted through submit_issue.
Between the two, the same TutorialWorkflow runs with no-op activities (bench._shape), started
directly: that splits the gap into orchestration (bare -> shape) and work (shape -> real).
Rounds alternate bare, shape and real; each figure is the median round.

The whole-workflow ratio has no goal any more (issue #17: the split shows orchestration costs
little, 0.77-0.97 of a bare workflow; what remains is the work itself). What the worker spends on
that work is its own figure: CPU milliseconds per tutorial in this process (worker and client,
the fakes' threads left out), against a bare workflow's, and a separate profiled round (yappi, CPU
clock) that names where they go by component.

    .venv/bin/python -m bench.overhead --n 60 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from bench import _shape
from bench._bare import ACTIVITIES, BareWorkflow
from bench._cpu import Cpu, sample
from bench._profile import Profile, profiled
from bench._report import Metric, Report, command, figure_main
from bench._stack import (
    address,
    fakes,
    make_settings,
    seed_issues,
    sqlite_url,
    submit_all,
    temporal,
    wait_all,
)
from fakes import FakeGitHub
from issuesight.core.settings import Settings
from issuesight.db.engine import make_engine
from issuesight.db.tutorials import TutorialStore
from issuesight.runtime.worker import run_worker
from issuesight.workflows.contracts import TutorialRequest
from issuesight.workflows.tutorial import TutorialWorkflow

WARMUP = 5
TOP_COMPONENTS = 8
TOP_FUNCTIONS = 6


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__)
    p.add_argument("--n", type=int, default=60, help="workflows per round")
    p.add_argument("--rounds", type=int, default=3)
    return p


@dataclass
class Round:
    rate: float  # workflows per second
    cpu: Cpu  # per workflow

    @property
    def worker_ms(self) -> float:
        """CPU in this process per workflow, the fake servers' threads left out."""
        return (self.cpu.process - self.cpu.fakes) * 1000

    def describe(self) -> str:
        c = self.cpu
        return (
            f"{(c.process - c.fakes) * 1000:.0f} ms in this process (worker, client), "
            f"{c.fakes * 1000:.0f} ms in the fakes, "
            f"{c.children * 1000:.0f} ms in the Temporal server"
        )


def finish(n: int, started: float, cpu: Cpu) -> Round:
    used = sample() - cpu
    per = Cpu(used.process / n, used.fakes / n, used.children / n)
    return Round(n / (time.perf_counter() - started), per)


async def bare_round(client: Client, task_queue: str, n: int) -> Round:
    started, cpu = time.perf_counter(), sample()
    handles = await asyncio.gather(
        *(
            client.start_workflow(
                BareWorkflow.run, f"k{i}", id=f"bare-{uuid.uuid4()}", task_queue=task_queue
            )
            for i in range(n)
        )
    )
    await asyncio.gather(*(h.result() for h in handles))
    return finish(n, started, cpu)


async def shape_round(client: Client, task_queue: str, n: int) -> Round:
    repo = f"octo-org/shape-{uuid.uuid4().hex[:10]}"
    started, cpu = time.perf_counter(), sample()
    handles = await asyncio.gather(
        *(
            client.start_workflow(
                TutorialWorkflow.run,
                TutorialRequest(f"{repo}#{i}"),
                id=f"shape-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            for i in range(1, n + 1)
        )
    )
    await asyncio.gather(*(h.result() for h in handles))
    return finish(n, started, cpu)


async def real_round(
    client: Client, store: TutorialStore, settings: Settings, github: FakeGitHub, n: int
) -> tuple[Round, int]:
    refs = seed_issues(github, n)
    started, cpu = time.perf_counter(), sample()
    await submit_all(refs, store=store, client=client, settings=settings)
    outcomes = await wait_all(client, refs)
    done = finish(n, started, cpu)
    return done, sum(1 for o in outcomes if o is not None and o.generated)


@dataclass
class Measured:
    bare: list[Round]
    shape: list[Round]
    real: list[Round]
    generated: int
    github_requests: int
    llm_calls: int
    profile: Profile
    profile_round: Round | None = None


async def measure(args: argparse.Namespace) -> Measured:
    with tempfile.TemporaryDirectory() as tmp, fakes() as fake:
        async with temporal() as env:
            client = env.client
            settings = make_settings(
                database_url=sqlite_url(Path(tmp)), temporal_address=address(client), fake=fake
            )
            engine = make_engine(settings.database_url)
            store = TutorialStore(engine)
            stop = asyncio.Event()
            real_worker = asyncio.create_task(run_worker(settings, stop, client=client))
            bare_queue = f"bench-bare-{uuid.uuid4()}"
            bare_worker = Worker(
                client, task_queue=bare_queue, workflows=[BareWorkflow], activities=ACTIVITIES
            )
            shape_queue = f"bench-shape-{uuid.uuid4()}"
            shape_worker = Worker(
                client,
                task_queue=shape_queue,
                workflows=[TutorialWorkflow],
                activities=_shape.ACTIVITIES,
            )
            result = Measured([], [], [], 0, 0, 0, Profile())
            try:
                async with bare_worker, shape_worker:
                    # Warm-up: first runs pay imports, sandbox set-up and connection pools.
                    await bare_round(client, bare_queue, WARMUP)
                    await shape_round(client, shape_queue, WARMUP)
                    await real_round(client, store, settings, fake.github, WARMUP)
                    fake.github.reset_log()
                    fake.llm.reset()
                    for _ in range(args.rounds):
                        result.bare.append(await bare_round(client, bare_queue, args.n))
                        result.shape.append(await shape_round(client, shape_queue, args.n))
                        one, done = await real_round(client, store, settings, fake.github, args.n)
                        result.real.append(one)
                        result.generated += done
                    result.github_requests = fake.github.count()
                    result.llm_calls = fake.llm.count()
                    # Untimed: profiling slows what it watches.
                    with profiled() as result.profile:
                        result.profile_round, _ = await real_round(
                            client, store, settings, fake.github, args.n
                        )
            finally:
                stop.set()
                await real_worker
                engine.dispose()
            return result


def middle(rounds: list[Round]) -> Round:
    return sorted(rounds, key=lambda r: r.rate)[len(rounds) // 2]


def run(args: argparse.Namespace) -> Report:
    m = asyncio.run(measure(args))
    bare, shape, real = middle(m.bare), middle(m.shape), middle(m.real)
    ratio = real.rate / bare.rate
    total = args.n * args.rounds
    report = Report("overhead", command("bench.overhead", args, parser()))
    report.metrics += [
        Metric(
            name="tutorials/s: TutorialWorkflow / bare 3-activity workflow",
            baseline=f"{bare.rate:.1f} workflows/s (bare, no-op activities)",
            measured=f"{real.rate:.1f} tutorials/s (full TutorialWorkflow)",
            ratio=ratio,
            goal="none (the 0.8 goal was retired: see the split below and the CPU figure)",
            met=None,
        ),
        Metric(
            name="orchestration: TutorialWorkflow with no-op activities / bare workflow",
            baseline=f"{bare.rate:.1f} workflows/s (bare)",
            measured=(
                f"{shape.rate:.1f} workflows/s (TutorialWorkflow, no-op activities); "
                f"real / shape {real.rate / shape.rate:.2f}"
            ),
            ratio=shape.rate / bare.rate,
            goal="none (diagnostic)",
            met=None,
        ),
        Metric(
            name="worker CPU per tutorial, instant fakes (this process, fakes' threads excluded)",
            baseline=f"{bare.worker_ms:.1f} ms per bare workflow",
            measured=(
                f"{real.worker_ms:.1f} ms per tutorial "
                f"({shape.worker_ms:.1f} ms per no-op TutorialWorkflow)"
            ),
            ratio=real.worker_ms / bare.worker_ms if bare.worker_ms else None,
            goal="none (reported; main costs named below)",
            met=None,
        ),
    ]
    report.notes += [
        f"{args.rounds} rounds of {args.n} concurrent workflows each, median; "
        f"bare rounds {[round(r.rate, 1) for r in m.bare]}, "
        f"shape rounds {[round(r.rate, 1) for r in m.shape]}, "
        f"real rounds {[round(r.rate, 1) for r in m.real]}",
        f"CPU per bare workflow: {bare.describe()}",
        f"CPU per no-op TutorialWorkflow: {shape.describe()}",
        f"CPU per tutorial: {real.describe()}",
        f"{m.generated} of {total} tutorials generated; per tutorial "
        f"{m.github_requests / total:.1f} GitHub requests and {m.llm_calls / total:.1f} LLM calls "
        "(zero latency); 2 activities (GitHub, LLM) and 2 local activities (SQLite writes); "
        "the bare workflow runs 3 no-op activities",
        *profile_notes(m.profile, m.profile_round, args.n),
    ]
    return report


def profile_notes(profile: Profile, profiled_round: Round | None, n: int) -> list[str]:
    """The main costs by component, per tutorial, from the untimed profiled round."""
    if profiled_round is None or profile.total <= 0:
        return ["profile: no profiled round completed"]
    seen_ms = profile.total * 1000 / n
    unseen_ms = max(0.0, profiled_round.worker_ms - seen_ms)
    parts = ", ".join(
        f"{name} {seconds * 1000 / n:.1f} ms ({seconds / profile.total:.0%})"
        for name, seconds in profile.components.most_common(TOP_COMPONENTS)
    )
    functions = "; ".join(
        f"{name} {seconds * 1000 / n:.2f} ms"
        for name, seconds in profile.functions.most_common(TOP_FUNCTIONS)
    )
    return [
        f"profile (one untimed round of {n}, yappi CPU clock, profiling overhead included): "
        f"{seen_ms:.1f} ms of Python per tutorial seen, {unseen_ms:.1f} ms more in native "
        f"threads or outside the profiler (Temporal's Rust core, SQLite's C code)",
        f"main costs by component, own time per tutorial: {parts}",
        f"top functions by own time per tutorial: {functions}",
    ]


if __name__ == "__main__":
    figure_main(run, parser)
