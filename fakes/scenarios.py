"""Scenario builders over the fakes: a small repository with an issue about it, as the tests
and the benchmarks both use it."""

from __future__ import annotations

from typing import Any

from fakes import FakeGitHub

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
    if not has_repo(github, f"octo-org/{repo}"):
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


def has_repo(github: FakeGitHub, full_name: str) -> bool:
    try:
        github.repo(full_name)
    except KeyError:
        return False
    return True
