"""Accounts through the real API (keys mode), on SQLite and PostgreSQL: who may write, what a
member may not, quotas and free unlocks, the rate limit, the LLM budget, keys shown once and
never logged, and a user deleted while their generation runs."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from temporalio.service import RPCError

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.accounts import keys
from issuesight.accounts.store import CLI
from issuesight.core.logs import JsonFormatter
from issuesight.db.models import Role
from issuesight.domain.refs import make_ref
from tests.helpers import MakeStack, assert_eventually, bearer, metric, user_with_key, wait_finished

# The write rate limit off: it has its own test.
KEYS: dict[str, Any] = {"auth_mode": "keys", "write_rate_per_minute": 0}


async def refusals(stack: Any, reason: str) -> float:
    return metric(
        (await stack.api.get("/metrics")).text, "issuesight_refusals_total", reason=reason
    )


def _assert_challenged(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith('Bearer realm="issuesight"')
    assert response.json()["detail"]


async def test_no_write_without_a_valid_key(make_stack: MakeStack, database_url: str) -> None:
    stack = await make_stack(database_url, worker=False, **KEYS)
    accounts = stack.resources.accounts
    member, good = user_with_key(accounts, "member@example.com")
    _, revoked = user_with_key(accounts, "revoked@example.com")
    revoked_prefix = keys.prefix_of(revoked["Authorization"].split()[1])
    assert revoked_prefix is not None
    accounts.revoke_key(revoked_prefix, actor=CLI)
    gone_user, gone = user_with_key(accounts, "gone@example.com")
    accounts.delete_user(gone_user.id, actor=CLI)

    bad_headers: dict[str, dict[str, str]] = {
        "no key": {},
        "garbled": {"Authorization": "Bearer not-a-key"},
        "empty": {"Authorization": "Bearer "},
        "unknown": bearer(keys.mint().key),
        "wrong secret": bearer(good["Authorization"].split()[1][:17] + "A" * 43),
        "revoked": revoked,
        "deleted user": gone,
        "basic": {"Authorization": "Basic bWVtYmVyQGV4YW1wbGUuY29tOnB3"},
        "token scheme": {"Authorization": f"Token {good['Authorization'].split()[1]}"},
    }
    before = await refusals(stack, "unauthenticated")
    issue = {"issue": f"octo-org/{uuid.uuid4().hex[:8]}#1"}
    for case, headers in bad_headers.items():
        for method, path, body in (
            ("POST", "/api/v1/tutorials", issue),
            ("POST", "/api/v1/projects", {"repo": "octo-org/x"}),
            ("POST", "/api/v1/me/keys", {"name": "x"}),
            ("GET", "/api/v1/me", None),
        ):
            response = await stack.api.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (case, path, response.text)
            _assert_challenged(response)
    assert await refusals(stack, "unauthenticated") - before == len(bad_headers) * 4

    # Nothing was recorded or started by any of them.
    listing = await stack.api.get("/api/v1/tutorials")
    assert listing.json()["total"] == 0
    with pytest.raises(RPCError):
        await stack.client.get_workflow_handle(
            make_ref("octo-org", issue["issue"].split("/")[1][:-2], 1).workflow_id
        ).describe()

    accepted = await stack.api.post("/api/v1/tutorials", json=issue, headers=good)
    assert accepted.status_code == 202, accepted.text
    me = (await stack.api.get("/api/v1/me", headers=good)).json()
    assert (me["email"], me["role"], me["auth_mode"]) == ("member@example.com", "member", "keys")
    assert me["id"] == str(member.id)
    await stack.client.get_workflow_handle(
        make_ref("octo-org", issue["issue"][9:-2], 1).workflow_id
    ).terminate()


async def test_members_cannot_use_admin_routes(make_stack: MakeStack, database_url: str) -> None:
    stack = await make_stack(database_url, worker=False, **KEYS)
    accounts = stack.resources.accounts
    _, member = user_with_key(accounts, "m@example.com")
    _, admin = user_with_key(accounts, "a@example.com", Role.ADMIN)
    repo = f"octo-org/r{uuid.uuid4().hex[:8]}"
    tutorial = make_ref("octo-org", "any", 1).tutorial_id
    admin_only = [
        ("POST", "/api/v1/projects", {"repo": repo}),
        ("PATCH", f"/api/v1/projects/{repo}", {"paused": True}),
        ("POST", f"/api/v1/projects/{repo}/sync", None),
        ("DELETE", f"/api/v1/projects/{repo}", None),
        ("POST", f"/api/v1/tutorials/{tutorial}/regenerate", None),
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"email": "x@example.com"}),
        ("GET", "/api/v1/users/a@example.com", None),
        ("PATCH", "/api/v1/users/a@example.com", {"role": "member"}),
        ("DELETE", "/api/v1/users/a@example.com", None),
        ("POST", "/api/v1/users/a@example.com/keys", {"name": "stolen"}),
        ("GET", "/api/v1/users/a@example.com/keys", None),
        ("GET", "/api/v1/audit", None),
    ]
    before = await refusals(stack, "forbidden")
    for method, path, body in admin_only:
        response = await stack.api.request(method, path, json=body, headers=member)
        assert response.status_code == 403, (path, response.text)
        assert "insufficient_scope" in response.headers["www-authenticate"]
    assert await refusals(stack, "forbidden") - before == len(admin_only)
    assert [u["email"] for u in (await stack.api.get("/api/v1/users", headers=admin)).json()] == [
        "a@example.com",
        "m@example.com",
    ]

    # The admin may; and each project change names its actor in the audit trail.
    tracked = await stack.api.post("/api/v1/projects", json={"repo": repo}, headers=admin)
    assert tracked.status_code == 201, tracked.text
    paused = await stack.api.patch(f"/api/v1/projects/{repo}", json={"paused": True}, headers=admin)
    assert paused.status_code == 200
    removed = await stack.api.delete(f"/api/v1/projects/{repo}", headers=admin)
    assert removed.status_code == 204
    trail = (await stack.api.get(f"/api/v1/audit?target={repo}", headers=admin)).json()
    assert [(e["action"], e["actor_email"]) for e in reversed(trail["items"])] == [
        ("project.track", "a@example.com"),
        ("project.pause", "a@example.com"),
        ("project.delete", "a@example.com"),
    ]


async def test_keys_in_query_strings_are_refused(make_stack: MakeStack, sqlite_url: str) -> None:
    stack = await make_stack(sqlite_url, worker=False, **KEYS)
    _, member = user_with_key(stack.resources.accounts, "q@example.com")
    key = member["Authorization"].split()[1]
    before = await refusals(stack, "key_in_query")
    for url in (
        f"/api/v1/me?api_key={key}",
        f"/api/v1/tutorials?q={key}",
        "/api/v1/tutorials?access_token=abc",
        f"/health?key={key}",
    ):
        response = await stack.api.get(url, headers=member)
        assert response.status_code == 400, url
        assert 'error="invalid_request"' in response.headers["www-authenticate"]
        assert key not in response.text
    posted = await stack.api.post(f"/api/v1/tutorials?token={key}", json={"issue": "o/r#1"})
    assert posted.status_code == 400
    assert await refusals(stack, "key_in_query") - before == 5
    assert (await stack.api.get("/api/v1/tutorials?q=risk_score")).status_code == 200


async def test_reads_are_public_unless_configured(make_stack: MakeStack, sqlite_url: str) -> None:
    public = await make_stack(sqlite_url, worker=False, **KEYS)
    assert (await public.api.get("/api/v1/tutorials")).status_code == 200
    assert (await public.api.get("/api/v1/projects")).status_code == 200
    assert (await public.api.get("/api/v1/me")).status_code == 401

    private = await make_stack(sqlite_url, worker=False, public_reads=False, **KEYS)
    _, member = user_with_key(private.app.state.resources.accounts, "r@example.com")
    missing = make_ref("octo-org", "nothing", 1).tutorial_id
    for path in ("/api/v1/tutorials", f"/api/v1/tutorials/{missing}", "/api/v1/projects"):
        _assert_challenged(await private.api.get(path))
    assert (await private.api.get("/api/v1/tutorials", headers=member)).status_code == 200
    assert (
        await private.api.get(f"/api/v1/tutorials/{missing}", headers=member)
    ).status_code == 404
    assert (await private.api.get("/health")).status_code in (200, 503)  # operations stay open


async def test_keys_are_shown_once_and_managed_by_owners_and_admins(
    make_stack: MakeStack, database_url: str
) -> None:
    stack = await make_stack(database_url, worker=False, **KEYS)
    accounts = stack.resources.accounts
    _, first = user_with_key(accounts, "owner@example.com")
    _, admin = user_with_key(accounts, "boss@example.com", Role.ADMIN)

    bodiless = await stack.api.post("/api/v1/me/keys", headers=first)  # a name is optional
    assert bodiless.status_code == 201
    await stack.api.delete(f"/api/v1/me/keys/{bodiless.json()['prefix']}", headers=first)
    created = await stack.api.post("/api/v1/me/keys", json={"name": "ci"}, headers=first)
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    new = created.json()
    assert keys.prefix_of(new["key"]) == new["prefix"]
    assert (await stack.api.get("/api/v1/me", headers=bearer(new["key"]))).status_code == 200

    listed = await stack.api.get("/api/v1/me/keys", headers=first)
    assert {k["name"] for k in listed.json()} == {"tests", "ci", ""}
    assert new["key"] not in listed.text
    assert "key" not in listed.json()[0]
    as_admin = await stack.api.get("/api/v1/users/owner@example.com/keys", headers=admin)
    assert new["key"] not in as_admin.text
    trail = await stack.api.get("/api/v1/audit?action=key.create", headers=admin)
    assert new["prefix"] in trail.text
    assert new["key"] not in trail.text

    # Owners revoke their own keys; someone else's is not theirs to see (404).
    _, other = user_with_key(accounts, "other@example.com")
    stranger = await stack.api.delete(f"/api/v1/me/keys/{new['prefix']}", headers=other)
    assert stranger.status_code == 404
    revoked = await stack.api.delete(f"/api/v1/me/keys/{new['prefix']}", headers=first)
    assert revoked.status_code == 204
    _assert_challenged(await stack.api.get("/api/v1/me", headers=bearer(new["key"])))

    # Admins make and revoke keys for others.
    made = await stack.api.post(
        "/api/v1/users/other@example.com/keys", json={"name": "given"}, headers=admin
    )
    assert made.status_code == 201
    given = made.json()
    me = await stack.api.get("/api/v1/me", headers=bearer(given["key"]))
    assert me.json()["email"] == "other@example.com"
    gone = await stack.api.delete(
        f"/api/v1/users/other@example.com/keys/{given['prefix']}", headers=admin
    )
    assert gone.status_code == 204
    _assert_challenged(await stack.api.get("/api/v1/me", headers=bearer(given["key"])))
    wrong_owner = await stack.api.delete(
        f"/api/v1/users/owner@example.com/keys/{given['prefix']}", headers=admin
    )
    assert wrong_owner.status_code == 404

    # Admins manage users: create, give a quota of their own, delete.
    made_user = await stack.api.post(
        "/api/v1/users", json={"email": "New@Example.com"}, headers=admin
    )
    assert made_user.status_code == 201
    assert made_user.json()["email"] == "new@example.com"
    dup = await stack.api.post("/api/v1/users", json={"email": "new@example.com"}, headers=admin)
    assert dup.status_code == 409
    bad = await stack.api.post("/api/v1/users", json={"email": "nope"}, headers=admin)
    assert bad.status_code == 422
    patched = await stack.api.patch(
        "/api/v1/users/new@example.com", json={"daily_generations": 3}, headers=admin
    )
    assert patched.json()["daily_generations"] == 3
    cleared = await stack.api.patch(
        "/api/v1/users/new@example.com", json={"daily_generations": None}, headers=admin
    )
    assert cleared.json()["daily_generations"] is None
    last = await stack.api.delete("/api/v1/users/boss@example.com", headers=admin)
    assert last.status_code == 409  # the last admin stays
    assert (
        await stack.api.delete("/api/v1/users/new@example.com", headers=admin)
    ).status_code == 204
    assert (await stack.api.get("/api/v1/users/new@example.com", headers=admin)).status_code == 404


async def test_new_generations_cost_quota_and_unlocks_are_free(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    for number in (1, 2, 3):
        seed_hello_world(github, repo_name, number=number, title=f"Issue {number}")
    stack = await make_stack(database_url, user_daily_generations=2, **KEYS)
    accounts = stack.resources.accounts
    ada, ada_key = user_with_key(accounts, "ada@example.com")
    _, bo_key = user_with_key(accounts, "bo@example.com")
    _, admin = user_with_key(accounts, "root@example.com", Role.ADMIN)
    issue = f"octo-org/{repo_name}"

    first = await stack.api.post("/api/v1/tutorials", json={"issue": f"{issue}#1"}, headers=ada_key)
    assert first.status_code == 202
    await wait_finished(stack.api, first.json()["status_url"])
    llm.latency = 1.5
    second = await stack.api.post(
        "/api/v1/tutorials", json={"issue": f"{issue}#2"}, headers=ada_key
    )
    assert second.status_code == 202
    me = (await stack.api.get("/api/v1/me", headers=ada_key)).json()
    assert me["quota"]["limit"] == 2
    assert me["quota"]["used"] == 2
    assert me["quota"]["remaining"] == 0
    assert me["quota"]["next_available_at"] is not None

    # Over quota: 429, Retry-After, a body that says when; nothing recorded or started.
    third = await stack.api.post("/api/v1/tutorials", json={"issue": f"{issue}#3"}, headers=ada_key)
    assert third.status_code == 429, third.text
    assert 23 * 3600 < int(third.headers["retry-after"]) <= 24 * 3600
    body = third.json()
    assert "available at" in body["detail"]
    assert body["quota"] == {
        "limit": 2,
        "used": 2,
        "next_available_at": me["quota"]["next_available_at"],
    }
    assert (await stack.api.get(f"/api/v1/issues/{issue}/3/tutorial")).status_code == 404
    with pytest.raises(RPCError):
        await stack.client.get_workflow_handle(
            make_ref("octo-org", repo_name, 3).workflow_id
        ).describe()

    # Asking for what exists, or is running, is free, for anyone — even with no quota left.
    again = await stack.api.post("/api/v1/tutorials", json={"issue": f"{issue}#1"}, headers=ada_key)
    assert again.status_code == 200
    running = await stack.api.post(
        "/api/v1/tutorials", json={"issue": f"{issue}#2"}, headers=bo_key
    )
    assert running.status_code == 202
    done = await stack.api.post("/api/v1/tutorials", json={"issue": f"{issue}#1"}, headers=bo_key)
    assert done.status_code == 200
    assert (await stack.api.get("/api/v1/me", headers=bo_key)).json()["quota"]["used"] == 0
    await wait_finished(stack.api, second.json()["status_url"])
    assert llm.count() == 2

    mine = (await stack.api.get("/api/v1/me/tutorials", headers=ada_key)).json()
    assert {(i["issue"][-2:], i["is_original_requester"]) for i in mine["items"]} == {
        ("#1", True),
        ("#2", True),
    }
    theirs = (await stack.api.get("/api/v1/me/tutorials", headers=bo_key)).json()
    assert {(i["issue"][-2:], i["is_original_requester"]) for i in theirs["items"]} == {
        ("#1", False),
        ("#2", False),
    }
    assert theirs["items"][0]["url"].startswith("http")

    trail = (await stack.api.get("/api/v1/audit?actor=ada@example.com", headers=admin)).json()
    assert sorted((e["action"], e["cost"]) for e in trail["items"]) == [
        ("tutorial.generate", 1),
        ("tutorial.generate", 1),
        ("tutorial.unlock", 0),
    ]
    # The workflow knows its requester by id only.
    description = await stack.client.get_workflow_handle(
        make_ref("octo-org", repo_name, 1).workflow_id
    ).describe()
    memo = await description.memo()
    assert memo["requested_by"] == str(ada.id)


async def test_a_thousand_submissions_from_one_key_start_one_quota_of_workflows(
    make_stack: MakeStack, database_url: str
) -> None:
    stack = await make_stack(database_url, worker=False, user_daily_generations=10, **KEYS)
    _, member = user_with_key(stack.resources.accounts, "flood@example.com")
    repo = f"flood-{uuid.uuid4().hex[:8]}"
    slots = asyncio.Semaphore(32)

    async def submit(number: int) -> httpx.Response:
        async with slots:
            return await stack.api.post(
                "/api/v1/tutorials", json={"issue": f"octo-org/{repo}#{number}"}, headers=member
            )

    before = await refusals(stack, "quota")
    answers = await asyncio.gather(*(submit(n) for n in range(1, 1001)))
    codes = [a.status_code for a in answers]
    assert codes.count(202) == 10, {c: codes.count(c) for c in set(codes)}
    assert codes.count(429) == 990
    assert all(int(a.headers["retry-after"]) > 0 for a in answers if a.status_code == 429)
    assert await refusals(stack, "quota") - before == 990

    started = [n for n, a in zip(range(1, 1001), answers, strict=True) if a.status_code == 202]
    queue = stack.settings.temporal_task_queue

    async def ten_workflows() -> None:
        assert (await stack.client.count_workflows(f"TaskQueue = '{queue}'")).count == 10

    await assert_eventually(ten_workflows, within=30, interval=0.5)
    listing = (await stack.api.get(f"/api/v1/tutorials?repo=octo-org/{repo}&limit=100")).json()
    assert sorted(int(i["issue"].rsplit("#", 1)[1]) for i in listing["items"]) == started
    for number in started:
        await stack.client.get_workflow_handle(
            make_ref("octo-org", repo, number).workflow_id
        ).terminate()


async def test_writes_are_rate_limited_per_key_and_per_address(
    make_stack: MakeStack, sqlite_url: str
) -> None:
    stack = await make_stack(
        sqlite_url, worker=False, auth_mode="keys", write_rate_per_minute=1, write_burst=3
    )
    accounts = stack.resources.accounts
    _, one = user_with_key(accounts, "one@example.com")
    _, two = user_with_key(accounts, "two@example.com")

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=stack.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://issuesight.test")

    bad_reference = {"issue": "not a reference"}  # answered 422, after the limit took a token
    before = await refusals(stack, "rate")
    async with client("127.0.0.2") as first, client("127.0.0.3") as second:
        codes = [
            (await first.post("/api/v1/tutorials", json=bad_reference, headers=one)).status_code
            for _ in range(4)
        ]
        assert codes == [422, 422, 422, 429]
        # The key is spent wherever it comes from.
        moved = await second.post("/api/v1/tutorials", json=bad_reference, headers=one)
        assert moved.status_code == 429
        assert "this key" in moved.json()["detail"]
        assert int(moved.headers["retry-after"]) >= 1
        # Another key from a fresh address may write; the spent address may not, key or none.
        assert (await second.post("/api/v1/me/keys", json={}, headers=two)).status_code == 201
        from_spent_address = await first.post("/api/v1/me/keys", json={}, headers=two)
        assert from_spent_address.status_code == 429
        assert "this address" in from_spent_address.json()["detail"]
        anonymous = await first.post("/api/v1/tutorials", json=bad_reference)
        assert anonymous.status_code == 429  # limited before the key is even looked at
        # Reads are not limited.
        for _ in range(10):
            assert (await first.get("/api/v1/me", headers=one)).status_code == 200
    assert await refusals(stack, "rate") - before == 4


async def test_a_spent_llm_budget_refuses_new_generations_not_unlocks(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    for number in (1, 2):
        seed_hello_world(github, repo_name, number=number, title=f"Issue {number}")
    stack = await make_stack(sqlite_url, llm_daily_token_budget=10, **KEYS)
    accounts = stack.resources.accounts
    _, member = user_with_key(accounts, "spender@example.com")
    _, other = user_with_key(accounts, "reader@example.com")
    issue = f"octo-org/{repo_name}"
    first = await stack.api.post("/api/v1/tutorials", json={"issue": f"{issue}#1"}, headers=member)
    await wait_finished(stack.api, first.json()["status_url"])
    assert accounts.llm_budget(10).spent  # the fake LLM reports far more than 10 tokens

    before = await refusals(stack, "llm_budget")
    refused = await stack.api.post(
        "/api/v1/tutorials", json={"issue": f"{issue}#2"}, headers=member
    )
    assert refused.status_code == 429
    assert "budget" in refused.json()["detail"]
    assert refused.json()["resumes_at"]
    assert int(refused.headers["retry-after"]) > 23 * 3600
    assert await refusals(stack, "llm_budget") - before == 1
    unlocked = await stack.api.post(
        "/api/v1/tutorials", json={"issue": f"{issue}#1"}, headers=other
    )
    assert unlocked.status_code == 200
    assert llm.count() == 1
    assert (await stack.api.get("/api/v1/me", headers=member)).json()["quota"]["used"] == 1


async def test_a_user_deleted_while_their_generation_runs(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    llm.latency = 2.0
    stack = await make_stack(database_url, **KEYS)
    accounts = stack.resources.accounts
    leaver, member = user_with_key(accounts, "leaver@example.com")
    _, admin = user_with_key(accounts, "keeper@example.com", Role.ADMIN)
    accepted = await stack.api.post(
        "/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"}, headers=member
    )
    assert accepted.status_code == 202

    async def generating() -> bool:
        status = (await stack.api.get(accepted.json()["status_url"])).json()
        return bool(status["stage"] == "generating")

    await assert_eventually(generating, within=30)
    deleted = await stack.api.delete("/api/v1/users/leaver@example.com", headers=admin)
    assert deleted.status_code == 204
    _assert_challenged(await stack.api.get("/api/v1/me", headers=member))

    finished = await wait_finished(stack.api, accepted.json()["status_url"])
    assert finished["status"] == "COMPLETED"
    public = await stack.api.get(f"/api/v1/issues/octo-org/{repo_name}/1/tutorial")
    assert public.status_code == 200
    assert public.json()["markdown"]
    handle = stack.client.get_workflow_handle(make_ref("octo-org", repo_name, 1).workflow_id)
    history = _decoded(json.loads((await handle.fetch_history()).to_json()))
    assert str(leaver.id) in history  # the requester, as an id (input and memo)
    assert "leaver" not in history  # and no personal data
    memo = await (await handle.describe()).memo()
    assert memo["requested_by"] == str(leaver.id)
    trail = (await stack.api.get(f"/api/v1/audit?actor={leaver.id}", headers=admin)).json()
    assert [e["action"] for e in trail["items"]] == ["tutorial.generate"]
    assert trail["items"][0]["actor_email"] != "leaver@example.com"


def _decoded(node: Any) -> str:
    """Every payload of a history, decoded, with the rest: what a history really says."""
    if isinstance(node, dict):
        parts = [_decoded(v) for v in node.values()]
        data = node.get("data")
        if isinstance(data, str):
            parts.append(base64.b64decode(data).decode("utf-8", "replace"))
        return " ".join(parts)
    if isinstance(node, list):
        return " ".join(_decoded(v) for v in node)
    return str(node)


async def test_keys_never_reach_the_logs(make_stack: MakeStack, database_url: str) -> None:
    stack = await make_stack(database_url, worker=False, **KEYS)
    accounts = stack.resources.accounts
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(stack.settings.secret_values()))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        _, admin = user_with_key(accounts, "logs@example.com", Role.ADMIN)
        made = (await stack.api.post("/api/v1/me/keys", json={}, headers=admin)).json()["key"]
        key = admin["Authorization"].split()[1]
        await stack.api.get(f"/api/v1/me?api_key={made}")
        await stack.api.post("/api/v1/tutorials", json={"issue": made}, headers=admin)
        await stack.api.post(
            "/api/v1/tutorials", json={"issue": "o/r#1"}, headers=bearer(made + "x")
        )
        logging.getLogger("issuesight.test").warning("oops %s", made, extra={"k": key})
        await stack.api.delete(f"/api/v1/me/keys/{made[:16]}", headers=admin)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    output = stream.getvalue()
    assert "oops" in output  # the capture worked
    for secret in (key, made, key[17:], made[17:]):
        assert secret not in output
    for line in output.splitlines():
        json.loads(line)


async def test_open_mode_is_the_local_admin_unless_credentials_are_sent(
    make_stack: MakeStack, sqlite_url: str
) -> None:
    stack = await make_stack(sqlite_url, worker=False)  # conftest's default: open
    me = (await stack.api.get("/api/v1/me")).json()
    assert (me["role"], me["auth_mode"], me["quota"]["limit"]) == ("admin", "open", None)
    _assert_challenged(await stack.api.get("/api/v1/me", headers=bearer("garbled")))
    _, member = user_with_key(stack.resources.accounts, "dev@example.com")
    assert (await stack.api.get("/api/v1/me", headers=member)).json()["role"] == "member"
    forbidden = await stack.api.post("/api/v1/projects", json={"repo": "o/r"}, headers=member)
    assert forbidden.status_code == 403


async def test_a_generation_that_cannot_start_is_kept_and_charged_once(
    make_stack: MakeStack, sqlite_url: str, temporal_address: str
) -> None:
    """Temporal refuses the start (here: an unknown namespace): 503, the tutorial is kept
    PENDING and its unit stays charged (one rule: a unit is charged exactly when the work is
    kept, for the reconciler starts it later); the next request starts it for free."""
    from temporalio.client import Client

    from issuesight.api.app import create_app

    stack = await make_stack(sqlite_url, worker=False, user_daily_generations=1, **KEYS)
    accounts = stack.resources.accounts
    _, member = user_with_key(accounts, "unlucky@example.com")
    refusing = await Client.connect(temporal_address, namespace=f"missing-{uuid.uuid4().hex}")
    broken = create_app(stack.settings, temporal=refusing)
    issue = {"issue": f"octo-org/refund-{uuid.uuid4().hex[:8]}#1"}
    transport = httpx.ASGITransport(app=broken)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
        failed = await api.post("/api/v1/tutorials", json=issue, headers=member)
    await broken.state.resources.close()
    assert failed.status_code == 503, failed.text
    assert failed.json()["kept"] is True
    me = (await stack.api.get("/api/v1/me", headers=member)).json()
    assert me["quota"]["used"] == 1
    [event] = accounts.audit_events(action="tutorial.generate")[0]
    assert event.cost == 1
    assert "refunded" not in (event.detail or {})

    retried = await stack.api.post("/api/v1/tutorials", json=issue, headers=member)
    assert retried.status_code == 202  # the kept generation started, attached to for free
    assert (await stack.api.get("/api/v1/me", headers=member)).json()["quota"]["used"] == 1
    assert len(accounts.audit_events(action="tutorial.generate")[0]) == 1
    ref = make_ref("octo-org", issue["issue"][9:-2], 1)
    await stack.client.get_workflow_handle(ref.workflow_id).terminate()
