"""The pages under keys mode: reading stays open, the submit form asks who is submitting (and
honours quotas and the rate limit like the API), and PUBLIC_READS=false closes the pages too."""

from __future__ import annotations

from typing import Any

from fakes.scenarios import seed_hello_world
from issuesight.db.models import Role
from tests.helpers import metric, user_with_key

KEYS = {"auth_mode": "keys", "write_rate_per_minute": 0}


async def test_the_submit_form_needs_an_account_in_keys_mode(
    make_stack: Any, database_url: str, github: Any, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url, worker=False, user_daily_generations=1, **KEYS)
    accounts = stack.resources.accounts
    assert (await stack.api.get("/")).status_code == 200
    assert (await stack.api.get("/submit")).status_code == 200

    before = metric(
        (await stack.api.get("/metrics")).text,
        "issuesight_refusals_total",
        reason="unauthenticated",
    )
    anonymous = await stack.api.post("/submit", data={"issue": f"octo-org/{repo_name}#1"})
    assert anonymous.status_code == 401
    assert "text/html" in anonymous.headers["content-type"]
    assert "Submitting needs an account here." in anonymous.text
    assert f'value="octo-org/{repo_name}#1"' in anonymous.text  # what was typed is kept
    after = metric(
        (await stack.api.get("/metrics")).text,
        "issuesight_refusals_total",
        reason="unauthenticated",
    )
    assert after - before == 1
    listing = (await stack.api.get("/api/v1/tutorials")).json()
    assert listing["total"] == 0  # nothing recorded

    _, member = user_with_key(accounts, "page@example.com")
    accepted = await stack.api.post(
        "/submit", data={"issue": f"octo-org/{repo_name}#1"}, headers=member
    )
    assert accepted.status_code == 303
    over = await stack.api.post(
        "/submit", data={"issue": f"octo-org/{repo_name}#2"}, headers=member
    )
    assert over.status_code == 429
    assert int(over.headers["retry-after"]) > 0
    assert "quota" in over.text
    unlock = await stack.api.post(
        "/submit", data={"issue": f"octo-org/{repo_name}#1"}, headers=member
    )
    assert unlock.status_code == 303  # a running tutorial is free
    await stack.client.get_workflow_handle(f"tutorial:octo-org/{repo_name.lower()}#1").terminate()


async def test_private_reads_close_the_pages_too(make_stack: Any, sqlite_url: str) -> None:
    stack = await make_stack(sqlite_url, worker=False, public_reads=False, **KEYS)
    _, admin = user_with_key(stack.resources.accounts, "boss@example.com", Role.ADMIN)
    for path in ("/", "/concepts", "/projects", "/api/v1/concepts"):
        refused = await stack.api.get(path)
        assert refused.status_code == 401, path
        assert (await stack.api.get(path, headers=admin)).status_code == 200, path
    assert (await stack.api.get("/health")).status_code in (200, 503)
