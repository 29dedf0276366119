"""GitHub webhook deliveries: verified, answered at once, deduplicated, turned into workflows."""

from __future__ import annotations

import json
import uuid

import sqlalchemy as sa
from sqlmodel import col

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.db.issues import IssueStore
from issuesight.db.models import GitHubIssue, WebhookDelivery
from issuesight.domain.deliveries import MAX_ACTION_CHARS, MAX_DELIVERY_ID_CHARS, MAX_EVENT_CHARS
from tests.helpers import (
    MakeStack,
    Stack,
    assert_eventually,
    current_issue,
    deliver,
    issue_delivery,
    sign,
    wait_finished,
)
from tests.paths import FIXTURES as ALL_FIXTURES

FIXTURES = ALL_FIXTURES / "webhooks/octokit-webhooks"


def deliveries(stack: Stack) -> int:
    with stack.store.engine.connect() as connection:
        return int(
            connection.execute(sa.select(sa.func.count()).select_from(WebhookDelivery)).scalar()
        )


async def test_opened_issue_of_a_tracked_repo_gets_a_tutorial_once(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    # No refresh cooldown here: a real edit regenerates at once (test_cooldowns_and_caps
    # covers the cooldown).
    stack = await make_stack(database_url, refresh_cooldown_minutes=0)
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo_name}"})
    body = issue_delivery(github, repo_name)
    delivery = str(uuid.uuid4())

    response = await deliver(stack, body, delivery=delivery)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "started"
    url = f"/api/v1/issues/octo-org/{repo_name.lower()}/1/tutorial"
    await assert_eventually(lambda: _status(stack, url, "COMPLETED"), within=30)
    assert llm.count() == 1

    redelivered = await deliver(stack, body, delivery=delivery)
    assert redelivered.status_code == 200
    assert redelivered.json()["status"] == "duplicate"
    assert llm.count() == 1

    # An edit that changes nothing the tutorial used: checked, not regenerated.
    github.edit_issue(f"Octo-Org/{repo_name}", 1, assignees=["someone"])
    edited = await deliver(stack, issue_delivery(github, repo_name, "edited"))
    assert edited.json()["refresh"] is True
    await wait_finished(stack.api, url)
    assert llm.count() == 1
    # A real edit: regenerated.
    github.edit_issue(f"Octo-Org/{repo_name}", 1, body="Now the description says much more.")
    await deliver(stack, issue_delivery(github, repo_name, "edited"))
    await assert_eventually(lambda: _generation(stack, url, 2), within=30)
    assert llm.count() == 2


async def _status(stack: Stack, url: str, status: str) -> bool:
    response = await stack.api.get(url)
    return response.status_code == 200 and bool(response.json()["status"] == status)


async def _generation(stack: Stack, url: str, generation: int) -> bool:
    return bool((await stack.api.get(url)).json()["generation"] == generation)


async def test_bad_signatures_are_refused_and_start_nothing(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url)
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo_name}"})
    body = issue_delivery(github, repo_name)
    tampered = body.replace(b'"opened"', b'"reopened"', 1)
    cases = {
        "missing": await deliver(stack, body, signature=None),
        "wrong secret": await deliver(stack, body, signature=sign(body, "not-the-secret")),
        "garbage": await deliver(stack, body, signature="sha256=zz"),
        "sha1 only": await deliver(stack, body, signature="sha1=" + "0" * 40),
        "replayed with another body": await deliver(stack, tampered, signature=sign(body)),
    }
    for case, response in cases.items():
        assert response.status_code == 401, case
    assert deliveries(stack) == 0
    listing = await stack.api.get("/api/v1/tutorials")
    assert listing.json()["total"] == 0
    assert llm.count() == 0


async def test_ping_other_events_and_untracked_repositories(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url)
    ping = (FIXTURES / "ping/payload.json").read_bytes()
    pong = await deliver(stack, ping, event="ping")
    assert pong.status_code == 200
    assert pong.json()["status"] == "pong"
    other = await deliver(stack, b'{"zen": "x"}', event="star")
    assert other.status_code == 202
    assert other.json()["status"] == "ignored"
    untracked = await deliver(stack, issue_delivery(github, repo_name))
    assert untracked.status_code == 202
    assert "not tracked" in untracked.json()["reason"]
    malformed = await deliver(stack, b"{not json")
    assert malformed.status_code == 400
    assert llm.count() == 0


async def test_webhooks_are_refused_while_no_secret_is_configured(
    make_stack: MakeStack, sqlite_url: str
) -> None:
    stack = await make_stack(sqlite_url, worker=False, github_webhook_secret=None)
    response = await deliver(stack, b"{}", event="ping")
    assert response.status_code == 503
    assert "GITHUB_WEBHOOK_SECRET" in response.json()["detail"]


async def test_a_spent_llm_budget_defers_webhook_work_to_the_next_sync(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    from tests.helpers import spend_llm_budget

    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url, llm_daily_token_budget=500)
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo_name}"})
    spend_llm_budget(stack, 500)
    response = await deliver(stack, issue_delivery(github, repo_name))
    assert response.status_code == 202
    assert response.json()["status"] == "deferred"
    assert "budget" in response.json()["reason"]
    missing = await stack.api.get(f"/api/v1/issues/octo-org/{repo_name.lower()}/1/tutorial")
    assert missing.status_code == 404
    assert llm.count() == 0
    # The issue still looks changed, so the repository's next sync takes it up.

    seen = IssueStore(stack.store.engine).record_issue(
        f"octo-org/{repo_name.lower()}", current_issue(github, repo_name), ["good first issue"]
    )
    assert seen.changed


async def test_an_older_delivery_does_not_overwrite_a_newer_issue(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """Deliveries can arrive out of order, and a redelivery from GitHub's UI can replay an old
    one: what is stored is compared by the issue's updated_at, never moved back."""
    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url, refresh_cooldown_minutes=0)
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo_name}"})
    old = issue_delivery(github, repo_name)  # "opened", with the original title
    github.edit_issue(f"Octo-Org/{repo_name}", 1, title="A newer, clearer title")
    new = issue_delivery(github, repo_name, "edited")
    assert (await deliver(stack, new)).json()["status"] == "started"
    url = f"/api/v1/issues/octo-org/{repo_name.lower()}/1/tutorial"
    await assert_eventually(lambda: _status(stack, url, "COMPLETED"), within=30)

    late = await deliver(stack, old)
    assert late.status_code == 202
    assert late.json()["status"] == "ignored"
    assert "older than" in late.json()["reason"]
    with stack.store.engine.connect() as connection:
        title, raw_title = connection.execute(
            sa.select(col(GitHubIssue.title), col(GitHubIssue.raw_data)).where(
                col(GitHubIssue.issue_key) == f"octo-org/{repo_name.lower()}#1"
            )
        ).one()
    assert title == "A newer, clearer title"
    assert raw_title["title"] == "A newer, clearer title"
    assert llm.count() == 1  # the old version started nothing


async def test_delivery_ids_and_actions_as_long_as_the_parser_allows_are_stored(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """128-character delivery ids and 64-character actions pass the parser; the columns used
    to hold 100 and 60, and PostgreSQL refused the insert with a 500."""
    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url, worker=False)
    await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo_name}"})
    payload = json.loads(issue_delivery(github, repo_name))
    payload["action"] = "a" * MAX_ACTION_CHARS
    payload["issue"]["labels"] = []  # not watched: recorded, nothing started
    delivery = "d" * MAX_DELIVERY_ID_CHARS
    response = await deliver(stack, json.dumps(payload).encode(), delivery=delivery)
    assert response.status_code == 202, response.text
    with stack.store.engine.connect() as connection:
        action = connection.execute(
            sa.select(col(WebhookDelivery.action)).where(
                col(WebhookDelivery.delivery_id) == delivery
            )
        ).scalar_one()
    assert action == "a" * MAX_ACTION_CHARS
    again = await deliver(stack, json.dumps(payload).encode(), delivery=delivery)
    assert again.json()["status"] == "duplicate"


def test_delivery_columns_are_declared_from_the_parser_limits() -> None:
    columns = WebhookDelivery.__table__.c  # type: ignore[attr-defined]
    assert columns.delivery_id.type.length == MAX_DELIVERY_ID_CHARS == 128
    assert columns.action.type.length == MAX_ACTION_CHARS == 64
    assert columns.event.type.length == MAX_EVENT_CHARS == 64
