"""Determinism guard: recorded workflow histories must replay against the current workflow code.

A change to TutorialWorkflow or RepoSyncWorkflow that would break runs already in flight (new
activities in the middle, reordered steps, a timer added or removed) fails here; a deliberately
non-deterministic copy of each proves the guard can fail. To record fresh histories after an
intended, versioned change: `ISSUESIGHT_RECORD_HISTORIES=1 .venv/bin/pytest tests/e2e/test_replay.py
tests/e2e/test_workflow_branches.py` (the sync histories come from the latter's mocked runs, and
one from a real sync here).
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowFailureError, WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.domain.refs import parse_issue_ref
from issuesight.workflows.contracts import SyncOutcome, SyncRequest, TutorialRequest
from issuesight.workflows.sync import RepoSyncWorkflow
from issuesight.workflows.tutorial import TutorialWorkflow
from tests.helpers import MakeStack, wait_finished
from tests.paths import HISTORIES

SYNC_HISTORIES = HISTORIES / "sync"
RECORD = os.environ.get("ISSUESIGHT_RECORD_HISTORIES") == "1"


def load(path: Path) -> WorkflowHistory:
    recorded = json.loads(path.read_text())
    return WorkflowHistory.from_json(f"recorded-{path.stem}", recorded)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    await Replayer(workflows=[TutorialWorkflow]).replay_workflow(load(path))


@pytest.mark.parametrize("path", sorted(SYNC_HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_sync_history_replays(path: Path) -> None:
    await Replayer(workflows=[RepoSyncWorkflow]).replay_workflow(load(path))


def test_there_are_recorded_sync_histories() -> None:
    # v0-real_with_jobs: a real sync that started a tutorial job, recorded before the LLM
    # budget gate (a patched change); never re-recorded.
    assert {p.stem for p in SYNC_HISTORIES.glob("*.json")} >= {
        "two_pages",
        "rate_limited",
        "real_with_jobs",
        "v0-real_with_jobs",
        "llm_budget_spent",
        "etag_after_jobs",
    }


@workflow.defn(name="TutorialWorkflow", sandboxed=False)
class GeneratesBeforeFetching:
    """TutorialWorkflow with one activity swapped in, as a careless edit would: not replayable."""

    @workflow.run
    async def run(self, request: TutorialRequest) -> None:
        await workflow.execute_activity(
            "generate_tutorial_draft", request.issue_key, start_to_close_timeout=timedelta(1)
        )


@workflow.defn(name="RepoSyncWorkflow", sandboxed=False)
class SyncWithoutItsTimer:
    """RepoSyncWorkflow that ignores the rate limit (no timer) and skips its first step."""

    @workflow.run
    async def run(self, request: SyncRequest) -> SyncOutcome:
        await workflow.execute_activity(
            "sync_issue_page", request.repo, start_to_close_timeout=timedelta(1)
        )
        return SyncOutcome(request.repo, pages=0, jobs=0)


async def test_a_non_deterministic_tutorial_change_fails_replay() -> None:
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[GeneratesBeforeFetching]).replay_workflow(
            load(HISTORIES / "completed.json")
        )


async def test_a_non_deterministic_sync_change_fails_replay() -> None:
    with pytest.raises(NondeterminismError):
        await Replayer(workflows=[SyncWithoutItsTimer]).replay_workflow(
            load(SYNC_HISTORIES / "rate_limited.json")
        )


def test_there_are_recorded_histories() -> None:
    names = {p.stem for p in HISTORIES.glob("*.json")}
    shapes = {"completed", "failed", "already_current"}
    # v0-*: recorded before the operator search attributes, v1-*: before the database steps
    # became local activities (both patched changes); every generation must replay.
    versions = {f"{version}-{shape}" for version in ("v0", "v1") for shape in shapes}
    assert shapes | versions <= names


async def test_fresh_histories_replay(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """Runs the three shapes of a run now, replays them, and records them when asked."""
    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url)
    issue = f"octo-org/{repo_name}#1"
    first = await stack.api.post("/api/v1/tutorials", json={"issue": issue})
    await wait_finished(stack.api, first.json()["status_url"])
    handle = stack.client.get_workflow_handle(parse_issue_ref(issue).workflow_id)
    # The row says COMPLETED a moment before the run closes (its last search attribute update).
    await handle.result()
    completed = await handle.fetch_history()

    # Another run of the same ID finds the tutorial current and generates nothing.
    again = await stack.client.execute_workflow(
        TutorialWorkflow.run,
        TutorialRequest(issue_key=parse_issue_ref(issue).key),
        id=parse_issue_ref(issue).workflow_id,
        task_queue=stack.settings.temporal_task_queue,
    )
    assert again.generated is False
    already_current = await stack.client.get_workflow_handle(
        parse_issue_ref(issue).workflow_id
    ).fetch_history()

    missing = f"octo-org/{repo_name}#404"
    gone = await stack.api.post("/api/v1/tutorials", json={"issue": missing})
    await wait_finished(stack.api, gone.json()["status_url"])
    failed_handle = stack.client.get_workflow_handle(parse_issue_ref(missing).workflow_id)
    with pytest.raises(WorkflowFailureError):
        await failed_handle.result()
    failed = await failed_handle.fetch_history()

    replayer = Replayer(workflows=[TutorialWorkflow])
    for history in (completed, already_current, failed):
        await replayer.replay_workflow(history)
    if RECORD:
        for name, history in {
            "completed": completed,
            "already_current": already_current,
            "failed": failed,
        }.items():
            (HISTORIES / f"{name}.json").write_text(history.to_json())


async def test_fresh_sync_history_replays(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """A real repository sync (real activities) that starts a tutorial job, replayed, and
    recorded when asked."""
    github.add_repo("Octo-Org", repo_name, files={"README.md": "# Small\n"})
    github.add_issue(
        f"Octo-Org/{repo_name}", 1, title="One", body="First", labels=["good first issue"]
    )
    github.add_issue(f"Octo-Org/{repo_name}", 2, title="Two", body="Second", labels=["bug"])
    stack = await make_stack(sqlite_url)
    tracked = await stack.api.post("/api/v1/projects", json={"repo": f"Octo-Org/{repo_name}"})
    assert tracked.status_code == 201, tracked.text
    workflow_id = f"test-sync-{parse_issue_ref(f'octo-org/{repo_name}#1').tutorial_id}"
    outcome = await stack.client.execute_workflow(
        RepoSyncWorkflow.run,
        SyncRequest(repo=f"octo-org/{repo_name.lower()}"),
        id=workflow_id,
        task_queue=stack.settings.temporal_task_queue,
    )
    assert outcome.jobs == 1
    history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
    await Replayer(workflows=[RepoSyncWorkflow]).replay_workflow(history)
    if RECORD:
        (SYNC_HISTORIES / "real_with_jobs.json").write_text(history.to_json())
