"""Scenario builders and waiting helpers shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.fakes import FakeGitHub

README = (
    "# Hello World\n\nHello World greets people. It is a tiny library used in the test suite.\n"
)
CONTRIBUTING = "# Contributing\n\nRun `make test` before opening a pull request. Sign the CLA.\n"
APP_SOURCE = "def greet(name):\n    # Greets one person by name.\n    return 'Hello ' + name\n"
ISSUE_BODY = (
    "Calling greet(None) crashes.\n\n"
    "```\nTraceback (most recent call last):\n"
    '  File "/home/dev/hello/src/hello/app.py", line 3, in greet\n'
    "    return 'Hello ' + name\n"
    'TypeError: can only concatenate str (not "NoneType") to str\n```\n'
)


def seed_hello_world(
    github: FakeGitHub, repo: str, *, number: int = 1, **issue: Any
) -> dict[str, Any]:
    """An `Octo-Org/<repo>` repository with a small package and one issue about it."""
    if not _has_repo(github, f"octo-org/{repo}"):
        github.add_repo(
            "Octo-Org",
            repo,
            files={
                "README.md": README,
                "CONTRIBUTING.md": CONTRIBUTING,
                "src/hello/__init__.py": "",
                "src/hello/app.py": APP_SOURCE,
                "tests/test_app.py": "from hello.app import greet\n",
            },
        )
    fields: dict[str, Any] = {
        "title": "greet() crashes when name is None",
        "body": ISSUE_BODY,
        "labels": ["good first issue"],
        "comments": ["I can reproduce this on Python 3.12.", "Maybe return 'Hello stranger'?"],
    }
    fields.update(issue)
    return github.add_issue(f"Octo-Org/{repo}", number, **fields)


def _has_repo(github: FakeGitHub, full_name: str) -> bool:
    try:
        github.repo(full_name)
    except KeyError:
        return False
    return True


async def wait_finished(
    api: httpx.AsyncClient, status_url: str, *, within: float = 60.0
) -> dict[str, Any]:
    """Polls the status endpoint as a submitter would, until the job has finished."""
    deadline = asyncio.get_running_loop().time() + within
    body: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        response = await api.get(status_url)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["stage"] in ("done", "failed"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"not finished within {within}s; last status {body}")
