"""Private repositories are not published (issue #15 §1): with a token that can read them, a
private repository's issue is refused exactly as a missing repository's is — same failure type,
same reason shape, no LLM call — unless its owner is in ALLOWED_PRIVATE_OWNERS."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.db.models import GitHubIssue
from tests.helpers import (
    MakeStack,
    Stack,
    deliver,
    issue_delivery,
    run_sync,
    submit_and_wait,
)


@pytest.mark.parametrize("visibility", ["private", "internal"])
async def test_a_private_repository_fails_exactly_as_a_missing_one(
    make_stack: MakeStack,
    sqlite_url: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
    visibility: str,
) -> None:
    seed_hello_world(github, repo_name)
    repo = github.repo(f"Octo-Org/{repo_name}")
    repo.private, repo.visibility = True, visibility
    stack = await make_stack(sqlite_url, allowed_private_owners="someone-else")
    # The configured token can read it: GitHub answers 200 with private: true.
    assert repo.private
    assert stack.settings.github_token is not None

    private = await submit_and_wait(stack, f"octo-org/{repo_name}#1", within=20)
    missing = await submit_and_wait(stack, f"octo-org/{repo_name}-missing#1", within=20)

    assert private["status"] == missing["status"] == "FAILED"
    assert private["failure_type"] == missing["failure_type"] == "RepositoryNotFound"
    # The same sentence, the repository's name aside: nothing tells the two apart.
    name = repo_name.lower()
    assert private["failure_reason"].replace(name, "X") == missing["failure_reason"].replace(
        f"{name}-missing", "X"
    )
    assert llm.count() == 0
    # Nothing of the repository was read beyond the repository document itself.
    assert github.count(r"/issues/|/tarball/|/git/|/readme") == 0


async def test_an_allowed_owners_private_repository_is_explained(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    github.repo(f"Octo-Org/{repo_name}").private = True
    stack = await make_stack(sqlite_url, allowed_private_owners="OCTO-ORG, someone-else")

    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1", within=20)

    assert body["status"] == "COMPLETED", body
    assert llm.count() == 1


async def _sync_failure(stack: Stack, repo: str) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as failure:
        await run_sync(stack.client, stack.settings, repo)
    cause: BaseException | None = failure.value.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    assert isinstance(cause, ApplicationError), failure.value
    return cause


async def test_a_tracked_private_repository_shows_nothing_of_its_issues(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """The tracked-repository paths (sync, webhooks) obey the rule the tutorial path does: a
    private repository whose owner is not allowed is a missing one, so none of its issue titles
    reach the database, the JSON routes, search or the pages."""
    title = "Secret roadmap item: acquire the competitor"
    seed_hello_world(github, repo_name, title=title)
    github.repo(f"Octo-Org/{repo_name}").private = True
    name = repo_name.lower()
    stack = await make_stack(database_url, allowed_private_owners="someone-else")

    # Tracking is accepted as for a missing repository (the API does not ask GitHub): the two
    # are not told apart there either.
    for repo in (name, f"{name}-missing"):
        tracked = await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo}"})
        assert tracked.status_code == 201, tracked.text

    private = await _sync_failure(stack, name)
    missing = await _sync_failure(stack, f"{name}-missing")
    assert private.type == missing.type == "RepositoryNotFound"
    assert private.message.replace(name, "X") == missing.message.replace(f"{name}-missing", "X")

    delivered = await deliver(stack, issue_delivery(github, repo_name))
    assert delivered.status_code == 202, delivered.text
    assert delivered.json()["status"] == "ignored"

    with stack.store.engine.connect() as connection:
        recorded = connection.execute(
            sa.select(sa.func.count())
            .select_from(GitHubIssue)
            .where(sa.func.lower(GitHubIssue.title).contains("roadmap"))
        ).scalar()
    assert recorded == 0
    reads = [
        "/api/v1/projects",
        f"/api/v1/projects/octo-org/{name}",
        "/api/v1/tutorials?q=roadmap",
        f"/api/v1/tutorials?repo=octo-org/{name}&status=FAILED",
        "/projects",
        f"/projects/octo-org/{name}",
        "/?q=roadmap&status=FAILED",
        f"/?repo=octo-org/{name}&status=FAILED",
    ]
    for path in reads:
        response = await stack.api.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        # Searched for by one of its words, checked by another (a page repeats its query).
        assert "competitor" not in response.text.lower(), path
    assert llm.count() == 0


async def test_an_allowed_owners_tracked_private_repository_is_synced_and_delivered(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """The one rule lets ALLOWED_PRIVATE_OWNERS through on the tracked paths too."""
    seed_hello_world(github, repo_name)
    github.repo(f"Octo-Org/{repo_name}").private = True
    name = repo_name.lower()
    stack = await make_stack(sqlite_url, allowed_private_owners="octo-org")
    tracked = await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{name}"})
    assert tracked.status_code == 201, tracked.text

    outcome = await run_sync(stack.client, stack.settings, name)
    assert outcome.jobs == 1
    assert llm.count() == 1
    project = (await stack.api.get(f"/api/v1/projects/octo-org/{name}")).json()
    assert project["issues"] == 1

    github.edit_issue(f"Octo-Org/{repo_name}", 1, body="A clearer description")
    delivered = await deliver(stack, issue_delivery(github, repo_name, "edited"))
    assert delivered.status_code == 202, delivered.text
    assert delivered.json()["status"] != "ignored", delivered.json()
