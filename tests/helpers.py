"""Scenario builders and waiting helpers shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from issuesight.accounts.store import CLI, AccountStore, UserView
from issuesight.db.models import Role
from issuesight.db.tutorials import ConceptInput, TutorialStore
from issuesight.domain.refs import make_ref
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


# -- tutorials written straight to the store (search, pages) -----------------------------------


def structured_tutorial(**overrides: Any) -> dict[str, Any]:
    """A stored tutorial's structured fields, as tutorial.finalize makes them."""
    data: dict[str, Any] = {
        "title": "Make greet() accept None",
        "summary": "greet(None) raises a TypeError; it should greet a stranger instead.",
        "difficulty": "beginner",
        "junior_friendly": True,
        "junior_friendly_reason": "One function and one test.",
        "prerequisites": [{"concept": "Python functions", "why": "The fix is in one."}],
        "architecture_overview": "A single module, `src/hello/app.py`, holds `greet`.",
        "files_to_read": [
            {
                "path": "src/hello/app.py",
                "why": "Where greet lives.",
                "url": "https://github.com/octo-org/hello/blob/abc123/src/hello/app.py",
            }
        ],
        "unverified_paths": [],
        "implementation_steps": ["Handle `None` in greet.", "Add a test."],
        "how_to_test": ["Run `make test`."],
        "questions_for_maintainers": ["Should None mean 'stranger'?"],
        "red_flags": [],
        "first_comment": "Hi! I'd like to fix this. Is 'Hello stranger' the wanted output?",
        "concepts": [],
    }
    data.update(overrides)
    return data


def store_tutorial(
    store: TutorialStore,
    repo: str,
    number: int,
    *,
    issue_title: str = "greet() crashes when name is None",
    issue_body: str = "Calling greet(None) crashes.",
    issue_state: str = "open",
    title: str = "Make greet() accept None",
    summary: str = "greet(None) raises a TypeError.",
    difficulty: str = "beginner",
    junior_friendly: bool = True,
    concepts: Sequence[tuple[str, str, str | None]] = (),
    complete: bool = True,
    commit_sha: str = "abc123def4567890",
    **structured: Any,
) -> uuid.UUID:
    """A tutorial for `octo-org/<repo>#<number>` written through the real TutorialStore, as the
    workflow's activities write it; `concepts` are (slug, name, parent slug)."""
    ref = make_ref("octo-org", repo, number)
    store.register_submission(ref)
    store.save_context(
        ref,
        repo={"full_name": f"octo-org/{repo}", "html_url": f"https://github.com/octo-org/{repo}"},
        issue={
            "number": number,
            "title": issue_title,
            "body": issue_body,
            "state": issue_state,
            "created_at": "2024-01-02T03:04:05Z",
            "updated_at": "2024-01-03T03:04:05Z",
        },
        bundle={},
        commit_sha=commit_sha,
        fingerprint="f" * 64,
        run_id="run-1",
    )
    if complete:
        store.complete(
            ref.tutorial_id,
            title=title,
            markdown=f"# {title}",
            structured=structured_tutorial(
                title=title,
                summary=summary,
                difficulty=difficulty,
                junior_friendly=junior_friendly,
                concepts=[
                    {
                        "slug": s,
                        "name": n,
                        "description": f"About {n}.",
                        "parent_slug": p,
                        "parent_name": p,
                    }
                    for s, n, p in concepts
                ],
                **structured,
            ),
            difficulty=difficulty,
            junior_friendly=junior_friendly,
            concepts=[ConceptInput(s, n, f"About {n}.", p, p) for s, n, p in concepts],
            generated_from=store.load_generation(ref.tutorial_id),
        )
    return ref.tutorial_id


def user_with_key(
    accounts: AccountStore, email: str, role: Role = Role.MEMBER, **user: Any
) -> tuple[UserView, dict[str, str]]:
    """A user and the headers that carry a fresh key of theirs."""
    made = accounts.create_user(email, role, actor=CLI)
    if user:
        made = accounts.update_user(made.id, actor=CLI, **user)
    _, key = accounts.create_key(made.id, "tests", actor=CLI)
    return made, bearer(key)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def metric(app_metrics: str, name: str, **labels: str) -> float:
    """A sample's value from Prometheus text, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in app_metrics.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        sample_name, _, sample_labels = sample.partition("{")
        if sample_name != name:
            continue
        got = ",".join(sorted(sample_labels.rstrip("}").split(","))) if sample_labels else ""
        if got == wanted:
            return float(value)
    return 0.0


# -- the pages' sign-in ------------------------------------------------------------------------


def form_value(html: str, name: str) -> str:
    """The value of a page's (first) hidden input `name`."""
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert match is not None, f"no {name} on the page"
    return match.group(1)


async def sign_in_with_key(
    client: httpx.AsyncClient, key: str, *, next_url: str = "/me"
) -> httpx.Response:
    """What a browser does: open the sign-in page (its cookie and form token), post the key."""
    form = await client.get("/signin")
    assert form.status_code == 200, form.text
    return await client.post(
        "/signin",
        data={"key": key, "signin_token": form_value(form.text, "signin_token"), "next": next_url},
    )


async def csrf_of(client: httpx.AsyncClient, path: str = "/me") -> str:
    """The synchronizer token the signed-in browser's forms carry."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return form_value(page.text, "csrf_token")


def signed_in_as(html: str) -> str | None:
    """Whom a page's header names as signed in."""
    match = re.search(r'Signed in as</span>\s*<a href="/me"[^>]*>([^<]+)</a>', html)
    return match.group(1) if match else None
