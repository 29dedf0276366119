"""Private repositories are not published (issue #15 §1): with a token that can read them, a
private repository's issue is refused exactly as a missing repository's is — same failure type,
same reason shape, no LLM call — unless its owner is in ALLOWED_PRIVATE_OWNERS."""

from __future__ import annotations

import pytest

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from tests.helpers import MakeStack, submit_and_wait


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
