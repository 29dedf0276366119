"""Figure 3, github: counted (non-304) GitHub requests per new tutorial, amortized over the issues
of one repository submitted through the REST API, against one issue fetched cold; and counted
requests for a second, unchanged sync of a tracked repository.

The worker (run_worker) runs in this process, the API (create_app) through httpx's ASGI
transport, on a SQLite file database; GitHub and the LLM are the fakes of fakes/.

    .venv/bin/python -m bench.github --issues 20 --sync-issues 300
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import httpx
from temporalio.client import Client

from bench._report import Metric, Report, command, figure_main
from bench._stack import OWNER, address, fakes, make_settings, seed_issues, sqlite_url, temporal
from bench._stack import wait_all as wait_tutorials
from fakes import FakeGitHub
from issuesight.api.app import create_app
from issuesight.core.settings import Settings
from issuesight.db.projects import ProjectStore
from issuesight.domain.refs import IssueRef
from issuesight.runtime.worker import run_worker
from issuesight.workflows.contracts import SyncOutcome, SyncRequest
from issuesight.workflows.sync import RepoSyncWorkflow

PER_TUTORIAL_GOAL = 3.0
WATCHED_EVERY = 60  # one issue in 60 carries a watched label: 5 tutorials in a 300-issue sync


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.github", description=__doc__)
    p.add_argument("--issues", type=int, default=20, help="issues of one repository")
    p.add_argument("--sync-issues", type=int, default=300, help="issues of the tracked repository")
    return p


async def submit_through_api(api: httpx.AsyncClient, client: Client, refs: list[IssueRef]) -> int:
    """POSTs every issue at once, waits for every workflow; returns how many completed."""
    answers = await asyncio.gather(
        *(api.post("/api/v1/tutorials", json={"issue": str(ref)}) for ref in refs)
    )
    assert all(a.status_code in (200, 202) for a in answers), [a.text for a in answers]
    return sum(1 for o in await wait_tutorials(client, refs) if o is not None)


def seed_tracked_repo(github: FakeGitHub, count: int) -> str:
    name = f"Bench-Sync-{uuid.uuid4().hex[:8]}"
    github.add_repo(OWNER, name, files={"README.md": "# Big\n", "src/big.py": "x = 1\n"})
    for number in range(1, count + 1):
        labels = ["good first issue"] if number % WATCHED_EVERY == 0 else []
        title, body = f"Issue {number}", f"Body of {number}"
        github.add_issue(f"{OWNER}/{name}", number, title=title, body=body, labels=labels)
    return name


async def sync_once(client: Client, settings: Settings, repo: str) -> SyncOutcome:
    outcome: SyncOutcome = await client.execute_workflow(
        RepoSyncWorkflow.run,
        SyncRequest(repo=repo, rate_limit_floor=settings.sync_rate_limit_floor),
        id=f"bench-sync-{uuid.uuid4()}",
        task_queue=settings.temporal_task_queue,
    )
    return outcome


def endpoint(path: str) -> str:
    """Maps "/repos/o/r/issues/7/comments" to "issues/N/comments"."""
    parts = path.split("/")[4:]
    return "/".join("N" if p.isdigit() else "SHA" if len(p) == 40 else p for p in parts) or "repo"


def counted(github: FakeGitHub) -> int:
    """Requests GitHub counts against the rate limit: not 304s, not archive downloads."""
    return github.count(counted=True)


async def measure(args: argparse.Namespace, report: Report) -> None:
    with tempfile.TemporaryDirectory() as tmp, fakes() as fake:
        async with temporal() as env:
            client, github = env.client, fake.github
            settings = make_settings(
                database_url=sqlite_url(Path(tmp)), temporal_address=address(client), fake=fake
            )
            app = create_app(settings, temporal=client)
            api = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://localhost"
            )
            stop = asyncio.Event()
            worker = asyncio.create_task(run_worker(settings, stop, client=client))
            try:
                cold_ref = seed_issues(github, 1)
                github.reset_log()
                await submit_through_api(api, client, cold_ref)
                cold = counted(github)
                cold_paths = Counter(endpoint(r.path) for r in github.requests if r.counted)

                # The same cold read when the archive is refused (here: not a tarball), so the
                # files are read one by one: that path's cost, plus the refused request.
                refused_ref = seed_issues(github, 1)
                github.set_archive(f"{OWNER}/{refused_ref[0].repo}", b"<html>not a tarball</html>")
                github.reset_log()
                await submit_through_api(api, client, refused_ref)
                refused = counted(github)
                per_file = refused - github.count(r"/tarball/", counted=True)

                refs = seed_issues(github, args.issues)
                github.reset_log()
                done = await submit_through_api(api, client, refs)
                per_tutorial = counted(github) / args.issues

                name = seed_tracked_repo(github, args.sync_issues)
                repo = f"{OWNER}/{name}".lower()
                await asyncio.to_thread(
                    ProjectStore(app.state.resources.engine).track,
                    OWNER.lower(),
                    name.lower(),
                    ["good first issue"],
                    60,
                )
                github.reset_log()
                first = await sync_once(client, settings, repo)
                first_counted = counted(github)
                github.reset_log()
                second = await sync_once(client, settings, repo)
                second_counted, second_304 = counted(github), github.count(status=304)
            finally:
                stop.set()
                await worker
                await api.aclose()
                await app.state.resources.close()

    report.metrics += [
        Metric(
            name="counted GitHub requests of one issue of a cold repository-commit",
            baseline=f"{per_file} reading the files one by one (archive refused: {refused})",
            measured=f"{cold} with the archive",
            ratio=cold / per_file if per_file else None,
            goal="<= 2 more than one by one",
            met=cold <= per_file + 2,
        ),
        Metric(
            name=f"counted GitHub requests per new tutorial, {args.issues} issues of one repo",
            baseline=f"{cold} per tutorial fetched cold (one issue alone)",
            measured=f"{per_tutorial:.2f} per tutorial ({done}/{args.issues} completed)",
            ratio=per_tutorial / cold,
            goal=f"<= {PER_TUTORIAL_GOAL:.0f} per tutorial",
            met=per_tutorial <= PER_TUTORIAL_GOAL,
        ),
        Metric(
            name=f"counted GitHub requests, unchanged re-sync of {args.sync_issues} issues",
            baseline=f"{first_counted} on the first sync ({first.pages} pages, {first.jobs} jobs)",
            measured=f"{second_counted} ({second_304} answered 304, {second.jobs} jobs)",
            ratio=second_counted / first_counted if first_counted else None,
            goal="0",
            met=second_counted == 0,
        ),
    ]
    report.notes.append(
        "requests of one cold tutorial by endpoint: "
        + ", ".join(f"{k} {v}" for k, v in sorted(cold_paths.items()))
    )


def run(args: argparse.Namespace) -> Report:
    report = Report("github", command("bench.github", args, parser()))
    asyncio.run(measure(args, report))
    return report


if __name__ == "__main__":
    figure_main(run, parser)
