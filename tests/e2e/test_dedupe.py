"""One issue, one workflow, one LLM call: however many submissions, however spelled."""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowExecutionStatus

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.domain.refs import parse_issue_ref
from tests.helpers import MakeStack, wait_finished


def spellings(repo: str) -> list[str]:
    return [
        f"Octo-Org/{repo}#1",
        f"octo-org/{repo.lower()}#1",
        f"  OCTO-ORG/{repo.upper()}#1 ",
        f"https://github.com/Octo-Org/{repo}/issues/1",
        f"https://github.com/octo-org/{repo.lower()}/issues/1/",
        f"github.com/octo-org/{repo}/issues/1",
    ]


async def test_concurrent_submissions_share_one_workflow_and_one_generation(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    forms = spellings(repo_name)
    llm.latency = 0.5  # keeps the run open while the submissions arrive
    stack = await make_stack(database_url)

    responses = await asyncio.gather(
        *(
            stack.api.post("/api/v1/tutorials", json={"issue": forms[i % len(forms)]})
            for i in range(100)
        )
    )
    assert {r.status_code for r in responses} <= {200, 202}
    assert len({r.json()["id"] for r in responses}) == 1
    status_url = next(r.json()["status_url"] for r in responses if r.status_code == 202)
    body = await wait_finished(stack.api, status_url)
    assert body["status"] == "COMPLETED"

    after = await asyncio.gather(
        *(stack.api.post("/api/v1/tutorials", json={"issue": forms[i % 6]}) for i in range(20))
    )
    assert [r.status_code for r in after] == [200] * 20
    assert llm.count() == 1
    assert body["llm_calls"] == 1

    workflow_id = parse_issue_ref(forms[0]).workflow_id
    handle = stack.client.get_workflow_handle(workflow_id)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED
    # Every run of this workflow ID, open or closed: exactly one was ever started.
    runs = await stack.client.count_workflows(f"WorkflowId = '{workflow_id}'")
    assert runs.count == 1


async def test_a_failed_job_is_retried_by_a_new_submission(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    stack = await make_stack(sqlite_url)
    issue = f"octo-org/{repo_name}#1"
    first = await stack.api.post("/api/v1/tutorials", json={"issue": issue})
    failed = await wait_finished(stack.api, first.json()["status_url"])
    assert failed["status"] == "FAILED"
    assert failed["failure_type"] == "RepositoryNotFound"

    seed_hello_world(github, repo_name)  # the repository appears (e.g. it was made public)
    second = await stack.api.post("/api/v1/tutorials", json={"issue": issue})
    assert second.status_code == 202
    done = await wait_finished(stack.api, second.json()["status_url"])
    assert done["status"] == "COMPLETED"
    assert done["failure_reason"] is None
    assert llm.count() == 1
