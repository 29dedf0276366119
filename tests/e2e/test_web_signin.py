"""Signing in to the pages, on SQLite and PostgreSQL, through the real app: with an API key
(valid, invalid, revoked) and with GitHub's OAuth web flow (its endpoints a local server
speaking GitHub's wire format, reached by the real httpx client); sessions (rotated at sign-in,
ended at sign-out, when the user is deleted and when the key they came from is revoked);
CSRF on every form a session authorizes; My tutorials and the quota; open mode unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import html
import io
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import httpx
import pytest
import sqlalchemy as sa

from fakes import FakeGitHubOAuth
from fakes.scenarios import seed_hello_world
from issuesight.accounts import keys
from issuesight.accounts.sessions import csrf_token
from issuesight.accounts.store import CLI
from issuesight.core.logs import JsonFormatter
from issuesight.db.models import Role
from tests.helpers import (
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    csrf_of,
    form_value,
    metric,
    sign_in_with_key,
    signed_in_as,
    user_with_key,
)

KEYS = {"auth_mode": "keys", "write_rate_per_minute": 0}
COOKIE = "issuesight_session"


def oauth_settings(fake: FakeGitHubOAuth, **more: Any) -> dict[str, Any]:
    """GitHub Enterprise's layout: GITHUB_API_URL is HOST/api/v3 and the flow is on HOST."""
    return {
        **KEYS,
        "github_api_url": fake.url + "/api/v3",
        "github_oauth_client_id": OAUTH_CLIENT_ID,
        "github_oauth_client_secret": OAUTH_CLIENT_SECRET,
        **more,
    }


@asynccontextmanager
async def browser(stack: Any, base_url: str = "http://issuesight.test") -> AsyncIterator[Any]:
    """Another browser: its own cookie jar, the same app."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.app), base_url=base_url
    ) as client:
        yield client


async def refusals(stack: Any, reason: str) -> float:
    return metric(
        (await stack.api.get("/metrics")).text, "issuesight_refusals_total", reason=reason
    )


def session_rows(stack: Any) -> list[Any]:
    with stack.resources.engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT * FROM web_sessions")).mappings())


async def github_flow(
    client: httpx.AsyncClient, fake: FakeGitHubOAuth, *, next_url: str = "/me"
) -> httpx.Response:
    """The browser's round trip: to GitHub (consent decided by the fake), and back."""
    start = await client.get("/signin/github", params={"next": next_url})
    assert start.status_code == 302, start.text
    async with httpx.AsyncClient() as to_github:
        consent = await to_github.get(start.headers["location"])
    assert consent.status_code == 302, consent.text
    back = httpx.URL(consent.headers["location"])
    assert back.host == "issuesight.test"
    return await client.get(back.raw_path.decode())


# -- an API key ----------------------------------------------------------------------------


async def test_signing_in_with_a_key(make_stack: Any, database_url: str) -> None:
    stack = await make_stack(database_url, worker=False, user_daily_generations=3, **KEYS)
    accounts = stack.resources.accounts
    member, headers = user_with_key(accounts, "reader@example.com")
    key = headers["Authorization"].split()[1]
    _, revoked_headers = user_with_key(accounts, "gone@example.com")
    revoked = revoked_headers["Authorization"].split()[1]
    accounts.revoke_key(keys.prefix_of(revoked) or "", actor=CLI)

    # Not signed in: the header offers it, and My tutorials asks for it.
    home = await stack.api.get("/")
    assert 'href="/signin"' in home.text
    assert COOKIE not in stack.api.cookies
    refused = await stack.api.get("/me")
    assert refused.status_code == 401
    assert "Sign in to see this page." in refused.text
    assert form_value(refused.text, "next") == "/me"

    before = await refusals(stack, "unauthenticated")
    for bad in ("not-a-key", keys.mint().key, revoked, key[:-4] + "AAAA", ""):
        response = await sign_in_with_key(stack.api, bad)
        assert response.status_code == 401, bad
        assert "That API key is not valid" in response.text
        assert COOKIE not in stack.api.cookies
    assert await refusals(stack, "unauthenticated") - before == 5
    assert session_rows(stack) == []

    signed = await sign_in_with_key(stack.api, key)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/me"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=issn_")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=604800" in cookie  # SESSION_LIFETIME_HOURS: a week
    assert "Secure" not in cookie  # plain http (dev): a Secure cookie would not come back
    token = stack.api.cookies[COOKIE]
    assert key not in cookie
    assert str(keys.prefix_of(key)) not in cookie
    rows = session_rows(stack)
    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(rows[0])  # stored hashed
    assert (rows[0]["method"], rows[0]["key_prefix"]) == ("key", keys.prefix_of(key))

    me = await stack.api.get("/me")
    assert me.status_code == 200
    assert me.headers["cache-control"] == "private, no-cache"
    assert "Cookie" in me.headers["vary"]
    assert signed_in_as(me.text) == "reader@example.com"
    assert "<strong>3</strong> of 3 left" in me.text
    assert "None yet." in me.text
    trail = accounts.audit_events(actor_id=member.id, action="user.signin")[0]
    assert trail[0].detail == {"via": "key", "key": keys.prefix_of(key)}


async def test_cookies_are_secure_over_https(make_stack: Any, sqlite_url: str) -> None:
    stack = await make_stack(sqlite_url, worker=False, **KEYS)
    _, headers = user_with_key(stack.resources.accounts, "tls@example.com")
    async with browser(stack, "https://issuesight.test") as client:
        signed = await sign_in_with_key(client, headers["Authorization"].split()[1])
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith("__Host-issuesight_session=issn_")
        assert "Secure" in cookie
        assert "Path=/" in cookie
        assert "Domain" not in cookie
        me = await client.get("/me")
        assert "tls@example.com" in me.text
        # The plain name means nothing over https (a sibling's cookie cannot stand in).
        async with browser(stack, "https://issuesight.test") as other:
            other.cookies.set(COOKIE, client.cookies["__Host-issuesight_session"])
            assert (await other.get("/me")).status_code == 401


# -- sessions --------------------------------------------------------------------------------


async def test_sign_in_rotates_the_session_and_sign_out_ends_it(
    make_stack: Any, database_url: str
) -> None:
    stack = await make_stack(database_url, worker=False, **KEYS)
    _, headers = user_with_key(stack.resources.accounts, "fix@example.com")
    key = headers["Authorization"].split()[1]

    # A session id someone planted in the browser (session fixation) is never the signed-in
    # one: the cookie changes at sign-in, and the planted value opens nothing.
    planted = "issn_" + "A" * 43
    stack.api.cookies.set(COOKIE, planted, domain="issuesight.test")
    assert (await stack.api.get("/me")).status_code == 401
    await sign_in_with_key(stack.api, key)
    first = stack.api.cookies[COOKIE]
    assert first != planted
    async with browser(stack) as attacker:
        attacker.cookies.set(COOKIE, planted)
        assert (await attacker.get("/me")).status_code == 401

    # Signing in again (here: the same key) rotates it too, and ends the previous session.
    await sign_in_with_key(stack.api, key)
    second = stack.api.cookies[COOKIE]
    assert second != first
    assert len(session_rows(stack)) == 1
    async with browser(stack) as old:
        old.cookies.set(COOKIE, first)
        assert (await old.get("/me")).status_code == 401

    # Sign-out needs the session's token, ends the session server-side and clears the cookie.
    assert (await stack.api.post("/signout")).status_code == 403
    assert (await stack.api.post("/signout", data={"csrf_token": "x" * 43})).status_code == 403
    out = await stack.api.post("/signout", data={"csrf_token": await csrf_of(stack.api)})
    assert out.status_code == 303
    assert out.headers["location"] == "/"
    assert f'{COOKIE}=""' in out.headers["set-cookie"]
    assert "Max-Age=0" in out.headers["set-cookie"]
    assert session_rows(stack) == []
    async with browser(stack) as replay:
        replay.cookies.set(COOKIE, second)  # the cookie kept and sent again: nothing
        response = await replay.get("/me")
        assert response.status_code == 401
        assert f'{COOKIE}=""' in response.headers["set-cookie"]  # a dead cookie is cleared


async def test_a_session_ends_with_its_user_or_its_key(make_stack: Any, database_url: str) -> None:
    stack = await make_stack(database_url, worker=False, **KEYS)
    accounts = stack.resources.accounts
    _, admin = user_with_key(accounts, "boss@example.com", Role.ADMIN)
    deleted, deleted_headers = user_with_key(accounts, "leaving@example.com")
    keeper, keeper_headers = user_with_key(accounts, "keeper@example.com")
    keeper_key = keeper_headers["Authorization"].split()[1]
    _, spare = accounts.create_key(keeper.id, "spare", actor=CLI)

    async with browser(stack) as leaving, browser(stack) as kept, browser(stack) as other:
        await sign_in_with_key(leaving, deleted_headers["Authorization"].split()[1])
        await sign_in_with_key(kept, keeper_key)
        await sign_in_with_key(other, spare)
        for client in (leaving, kept, other):
            assert (await client.get("/me")).status_code == 200
        assert len(session_rows(stack)) == 3

        # The user deleted (through the API, by an admin): their session ends at once.
        gone = await stack.api.delete(f"/api/v1/users/{deleted.id}", headers=admin)
        assert gone.status_code == 204
        assert (await leaving.get("/me")).status_code == 401
        # A form the ended session had on screen: the sign-in page, leading to My tutorials.
        stale = await leaving.post("/me/keys", data={"name": "late", "csrf_token": "x" * 43})
        assert stale.status_code == 401
        assert form_value(stale.text, "next") == "/me"

        # The key a session was opened with revoked: that session ends, the other stays.
        prefix = keys.prefix_of(keeper_key)
        revoked = await stack.api.delete(f"/api/v1/me/keys/{prefix}", headers=keeper_headers)
        assert revoked.status_code == 204
        assert (await kept.get("/me")).status_code == 401
        assert (await other.get("/me")).status_code == 200
        assert [r["key_prefix"] for r in session_rows(stack)] == [keys.prefix_of(spare)]

        # Revoking it from the keys page signs that browser out and says so.
        page = await other.get("/me/keys")
        assert "(this session's key)" in page.text
        out = await other.post(
            f"/me/keys/{keys.prefix_of(spare)}/revoke",
            data={"csrf_token": form_value(page.text, "csrf_token")},
        )
        assert out.status_code == 200
        assert "so it is signed out" in out.text
        assert 'href="/signin"' in out.text  # the header no longer names anyone
        assert session_rows(stack) == []
        assert (await other.get("/me")).status_code == 401


async def test_sessions_expire_and_idle_out(make_stack: Any, sqlite_url: str) -> None:
    stack = await make_stack(
        sqlite_url, worker=False, session_lifetime_hours=2, session_idle_hours=1, **KEYS
    )
    sessions = stack.resources.sessions
    _, headers = user_with_key(stack.resources.accounts, "clock@example.com")
    signed = await sign_in_with_key(stack.api, headers["Authorization"].split()[1])
    assert "Max-Age=7200" in signed.headers["set-cookie"]
    token = stack.api.cookies[COOKIE]
    real = sessions.now
    try:
        from datetime import timedelta

        sessions.now = lambda: real() + timedelta(minutes=50)
        assert sessions.resolve(token) is not None  # used: idle time starts again
        sessions.now = lambda: real() + timedelta(minutes=50 + 59)
        assert sessions.resolve(token) is not None
        sessions.now = lambda: real() + timedelta(minutes=121)  # past the lifetime
        assert sessions.resolve(token) is None
    finally:
        sessions.now = real
    _, other = user_with_key(stack.resources.accounts, "idle@example.com")
    async with browser(stack) as client:
        await sign_in_with_key(client, other["Authorization"].split()[1])
        idle_token = client.cookies[COOKIE]
        sessions.now = lambda: real() + timedelta(minutes=61)
        try:
            assert sessions.resolve(idle_token) is None
        finally:
            sessions.now = real


# -- CSRF ------------------------------------------------------------------------------------


async def test_every_form_a_session_authorizes_needs_its_token(
    make_stack: Any, database_url: str, github: Any, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url, worker=False, **KEYS)
    accounts = stack.resources.accounts
    _, headers = user_with_key(accounts, "writer@example.com")
    await sign_in_with_key(stack.api, headers["Authorization"].split()[1])
    token = await csrf_of(stack.api, "/submit")
    assert token == csrf_token(stack.api.cookies[COOKIE])
    prefix = keys.prefix_of(headers["Authorization"].split()[1])
    issue = f"octo-org/{repo_name}#1"

    before = await refusals(stack, "csrf")
    forms: list[tuple[str, dict[str, str]]] = [
        ("/submit", {"issue": issue}),
        ("/signout", {}),
        ("/me/keys", {"name": "forged"}),
        (f"/me/keys/{prefix}/revoke", {}),
    ]
    for path, data in forms:
        for forged in ({}, {"csrf_token": ""}, {"csrf_token": token[:-2] + "xx"}):
            response = await stack.api.post(path, data={**data, **forged})
            assert response.status_code == 403, (path, forged)
            assert "Reload the page and send it again." in response.text
        # The right token, from another site: refused by Sec-Fetch-Site or Origin all the same.
        for cross in (
            {"Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Origin": "https://evil.example"},
        ):
            response = await stack.api.post(path, data={**data, "csrf_token": token}, headers=cross)
            assert response.status_code == 403, (path, cross)
    assert await refusals(stack, "csrf") - before == len(forms) * 6
    # Nothing happened: no tutorial, no key made or revoked, still signed in.
    assert (await stack.api.get("/api/v1/tutorials?status=PENDING")).json()["total"] == 0
    assert [k.name for k in accounts.list_keys(accounts.find_user("writer@example.com").id)] == [
        "tests"
    ]
    assert len(session_rows(stack)) == 1

    # A cookie never authorizes an API write (no CSRF there: it takes a Bearer key), but the
    # signed-in browser reads the API as itself (a progress page polls the status route).
    api_write = await stack.api.post("/api/v1/tutorials", json={"issue": issue})
    assert api_write.status_code == 401
    assert (await stack.api.post("/api/v1/me/keys", json={"name": "x"})).status_code == 401
    me = await stack.api.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["email"] == "writer@example.com"

    # With its token, from this site, the form is a write like the API's.
    submitted = await stack.api.post(
        "/submit",
        data={"issue": issue, "csrf_token": token},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://issuesight.test"},
    )
    assert submitted.status_code == 303, submitted.text
    mine = await stack.api.get("/me")
    assert f"octo-org/{repo_name.lower()}#1" in mine.text
    assert "you asked for it first" in mine.text
    assert "<strong>9</strong> of 10 left" in mine.text
    await stack.client.get_workflow_handle(f"tutorial:octo-org/{repo_name.lower()}#1").terminate()


async def test_the_sign_in_form_is_bound_to_its_browser(make_stack: Any, sqlite_url: str) -> None:
    """Login CSRF: another site cannot sign a browser in as someone else."""
    stack = await make_stack(sqlite_url, worker=False, **KEYS)
    _, headers = user_with_key(stack.resources.accounts, "victim@example.com")
    key = headers["Authorization"].split()[1]
    async with browser(stack) as attacker:
        form = await attacker.get("/signin")
        attacker_token = form_value(form.text, "signin_token")
    victim = stack.api
    await victim.get("/signin")  # the victim's own sign-in cookie
    for data in (
        {"key": key},  # no token
        {"key": key, "signin_token": attacker_token},  # another browser's token
    ):
        response = await victim.post("/signin", data=data)
        assert response.status_code == 403
        assert COOKIE not in victim.cookies
    cross = await victim.post(
        "/signin",
        data={
            "key": key,
            "signin_token": form_value((await victim.get("/signin")).text, "signin_token"),
        },
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403
    assert session_rows(stack) == []


# -- GitHub ----------------------------------------------------------------------------------


async def test_github_sign_in_links_an_invited_user(
    make_stack: Any, database_url: str, github_oauth: FakeGitHubOAuth
) -> None:
    stack = await make_stack(database_url, worker=False, **oauth_settings(github_oauth))
    accounts = stack.resources.accounts
    invited = accounts.create_user("octo@example.com", actor=CLI)  # an admin's invitation
    github_oauth.add_user(
        "octocat",
        id=583231,
        name="The Octocat",
        emails=[
            ("octocat@users.noreply.github.com", True, True),
            ("OCTO@example.com", False, True),
        ],
    )
    github_oauth.signed_in = "octocat"

    page = await stack.api.get("/signin")
    assert "Sign in with GitHub" in page.text
    assert "ask an admin to invite you first" in page.text  # GITHUB_SIGNUP=invite by default
    start = await stack.api.get("/signin/github", params={"next": "/submit?issue=a/b%231"})
    authorize = httpx.URL(start.headers["location"])
    # Enterprise: the flow on the instance itself, the API under /api/v3.
    assert str(authorize).startswith(github_oauth.url + "/login/oauth/authorize?")
    assert authorize.params["client_id"] == OAUTH_CLIENT_ID
    assert authorize.params["scope"] == "user:email"
    assert authorize.params["redirect_uri"] == "http://issuesight.test/signin/github/callback"
    assert len(authorize.params["state"]) >= 43
    assert "issuesight_github=" in start.headers["set-cookie"]
    assert "HttpOnly" in start.headers["set-cookie"]

    done = await github_flow(stack.api, github_oauth, next_url="/submit?issue=a/b%231")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/submit?issue=a/b%231"
    assert 'issuesight_github=""' in done.headers["set-cookie"]  # the flow's state is spent
    me = await stack.api.get("/me")
    assert "octo@example.com" in me.text
    assert "with GitHub" in me.text
    rows = session_rows(stack)
    assert [(r["method"], r["key_prefix"]) for r in rows] == [("github", None)]

    # What went over the wire: the code exchanged with the secret, asked for as JSON; the
    # token used on /user and /user/emails (Enterprise's /api/v3) and never stored.
    exchange = github_oauth.calls("/login/oauth/access_token")[-1]
    assert exchange.form["client_secret"] == OAUTH_CLIENT_SECRET
    assert exchange.headers["accept"] == "application/json"
    assert exchange.form["redirect_uri"] == "http://issuesight.test/signin/github/callback"
    reads = [r.path for r in github_oauth.requests if r.path.startswith("/api/v3/")]
    assert reads == ["/api/v3/user", "/api/v3/user/emails"]
    token = github_oauth.issued_tokens()[-1]
    assert github_oauth.calls("/api/v3/user")[-1].headers["authorization"] == f"Bearer {token}"
    with stack.resources.engine.connect() as connection:
        dump = str(
            [
                list(connection.execute(sa.text(f"SELECT * FROM {t}")))
                for t in ("web_sessions", "user_identities", "audit_events", "users")
            ]
        )
        identities = list(
            connection.execute(
                sa.text("SELECT user_id, provider, provider_id FROM user_identities")
            )
        )
    assert token not in dump
    assert [(str(i[0]).replace("-", ""), i[1], i[2]) for i in identities] == [
        (invited.id.hex, "github", "583231")
    ]
    actions = [e.action for e in accounts.audit_events(actor_id=invited.id)[0]]
    assert actions == ["user.signin", "identity.link"]

    # Next time the identity decides, whatever the addresses became.
    github_oauth.users["octocat"].emails = []
    async with browser(stack) as again:
        second = await github_flow(again, github_oauth)
        assert second.status_code == 303
        assert "octo@example.com" in (await again.get("/me")).text


async def test_github_sign_up_is_by_invitation_unless_opened(
    make_stack: Any, database_url: str, github_oauth: FakeGitHubOAuth
) -> None:
    github_oauth.add_user(
        "newcomer",
        id=9001,
        emails=[("new@example.com", True, True), ("other@example.com", False, False)],
    )
    github_oauth.signed_in = "newcomer"
    invite = await make_stack(database_url, worker=False, **oauth_settings(github_oauth))
    before = await refusals(invite, "forbidden")
    refused = await github_flow(invite.api, github_oauth)
    assert refused.status_code == 403
    assert "There is no IssueSight account for new@example.com" in refused.text
    assert "other@example.com" not in refused.text  # unverified: not even offered
    assert COOKIE not in invite.api.cookies
    assert invite.app.state.resources.accounts.find_user("new@example.com") is None
    assert await refusals(invite, "forbidden") - before == 1

    opened = await make_stack(
        database_url, worker=False, **oauth_settings(github_oauth, github_signup="open")
    )
    assert "becomes a member" in (await opened.api.get("/signin")).text
    joined = await github_flow(opened.api, github_oauth)
    assert joined.status_code == 303
    made = opened.app.state.resources.accounts.find_user("new@example.com")
    assert made is not None
    assert made.role == Role.MEMBER
    me = await opened.api.get("/api/v1/me")
    assert (me.json()["email"], me.json()["role"]) == ("new@example.com", "member")


async def test_github_refusals_change_nothing(
    make_stack: Any, database_url: str, github_oauth: FakeGitHubOAuth
) -> None:
    stack = await make_stack(
        database_url, worker=False, **oauth_settings(github_oauth, github_signup="open")
    )
    github_oauth.add_user("octocat", id=1, emails=[("cat@example.com", True, True)])
    github_oauth.add_user("unverified", id=2, emails=[("shady@example.com", True, False)])
    github_oauth.signed_in = "octocat"

    def exchanges() -> int:
        return len(github_oauth.calls("/login/oauth/access_token"))

    # A callback this browser did not start (no state cookie, or another state): 400, and
    # nothing is asked of GitHub.
    before = await refusals(stack, "csrf")
    forged = await stack.api.get(
        "/signin/github/callback", params={"code": "abc", "state": "x" * 43}
    )
    assert forged.status_code == 400
    assert "This sign-in was not started here." in forged.text
    await stack.api.get("/signin/github")
    wrong = await stack.api.get(
        "/signin/github/callback", params={"code": "abc", "state": "y" * 43}
    )
    assert wrong.status_code == 400
    assert exchanges() == 0
    assert await refusals(stack, "csrf") - before == 2

    # Denied on GitHub's consent page.
    github_oauth.deny = True
    denied = await github_flow(stack.api, github_oauth)
    assert denied.status_code == 401
    assert "You did not let IssueSight read your GitHub account" in denied.text
    github_oauth.deny = False

    # GitHub's token endpoint fails (5xx): a clear page, no session, nothing retried.
    github_oauth.token_faults = [502]
    failed = await github_flow(stack.api, github_oauth)
    assert failed.status_code == 502
    assert "GitHub did not answer properly." in failed.text
    assert "GitHub answered 502 (the token exchange)." in failed.text
    github_oauth.api_faults = [503]
    failed_user = await github_flow(stack.api, github_oauth)
    assert failed_user.status_code == 502

    # A code that is not good (made up, or used already): bad_verification_code.
    start = await stack.api.get("/signin/github")
    state = httpx.URL(start.headers["location"]).params["state"]
    bad = await stack.api.get("/signin/github/callback", params={"code": "0" * 20, "state": state})
    assert bad.status_code == 401
    assert "GitHub says this sign-in's code is wrong, used or expired." in html.unescape(bad.text)

    # Any other error GitHub sends back (a suspended app, say) is shown, not followed.
    start = await stack.api.get("/signin/github")
    state = httpx.URL(start.headers["location"]).params["state"]
    suspended = await stack.api.get(
        "/signin/github/callback", params={"error": "application_suspended", "state": state}
    )
    assert suspended.status_code == 400
    assert "application_suspended" in html.unescape(suspended.text)

    # A GitHub account without a verified address: no account, even with open sign-up.
    github_oauth.signed_in = "unverified"
    unverified = await github_flow(stack.api, github_oauth)
    assert unverified.status_code == 403
    assert "has no verified email address" in unverified.text
    assert stack.resources.accounts.find_user("shady@example.com") is None

    assert COOKIE not in stack.api.cookies
    assert session_rows(stack) == []
    assert stack.resources.accounts.find_user("cat@example.com") is None


async def test_github_sign_in_is_offered_only_when_configured(
    make_stack: Any, sqlite_url: str
) -> None:
    stack = await make_stack(sqlite_url, worker=False, **KEYS)
    assert "Sign in with GitHub" not in (await stack.api.get("/signin")).text
    assert (await stack.api.get("/signin/github")).status_code == 404


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/signout",
    ],
)
async def test_no_redirect_leaves_the_site(make_stack: Any, sqlite_url: str, target: str) -> None:
    stack = await make_stack(sqlite_url, worker=False, **KEYS)
    _, headers = user_with_key(stack.resources.accounts, "r@example.com")
    signed = await sign_in_with_key(stack.api, headers["Authorization"].split()[1], next_url=target)
    assert signed.headers["location"] == "/me"


# -- the pages with an account ------------------------------------------------------------------


async def test_the_header_names_who_is_signed_in_on_every_page(
    make_stack: Any, database_url: str
) -> None:
    from tests.helpers import store_tutorial

    stack = await make_stack(database_url, worker=False, **KEYS)
    tutorial = store_tutorial(stack.store, f"r{uuid.uuid4().hex[:6]}", 1)
    _, headers = user_with_key(stack.resources.accounts, "named@example.com")
    anonymous = await stack.api.get(f"/tutorials/{tutorial}")
    assert 'href="/signin"' in anonymous.text
    assert "<!--issuesight:" not in anonymous.text
    await sign_in_with_key(stack.api, headers["Authorization"].split()[1])
    for path in ("/", f"/tutorials/{tutorial}", "/concepts", "/projects", "/submit", "/nowhere"):
        response = await stack.api.get(path)
        assert signed_in_as(response.text) == "named@example.com", path
        assert "<!--issuesight:" not in response.text, path
        assert form_value(response.text, "csrf_token") == csrf_token(stack.api.cookies[COOKIE])
    # The kept tutorial rendering is shared; its ETag tells the accounts apart.
    signed_in = await stack.api.get(f"/tutorials/{tutorial}")
    assert signed_in.headers["etag"] != anonymous.headers["etag"]
    assert signed_in.headers["cache-control"] == "private, no-cache"
    again = await stack.api.get(
        f"/tutorials/{tutorial}", headers={"If-None-Match": signed_in.headers["etag"]}
    )
    assert again.status_code == 304
    async with browser(stack) as stranger:
        fresh = await stranger.get(
            f"/tutorials/{tutorial}", headers={"If-None-Match": signed_in.headers["etag"]}
        )
        assert fresh.status_code == 200  # not someone else's page
        assert "named@example.com" not in fresh.text
    submit = await stack.api.get("/submit")
    assert "You may start <strong>10</strong> more new tutorials today" in submit.text

    # A failed tutorial's retry form is a form the session authorizes: it carries the token.
    failed = store_tutorial(stack.store, f"f{uuid.uuid4().hex[:6]}", 1, complete=False)
    stack.store.mark_failed(failed, reason="GitHub answered 502", failure_type="GitHubUnavailable")
    page = await stack.api.get(f"/tutorials/{failed}")
    retry = re.search(
        r'<form method="post" action="/submit" class="retry">(.*?)</form>', page.text, re.S
    )
    assert retry is not None
    assert form_value(retry.group(1), "csrf_token") == csrf_token(stack.api.cookies[COOKIE])
    async with browser(stack) as stranger:
        anonymous_retry = (await stranger.get(f"/tutorials/{failed}")).text
        assert "csrf_token" not in anonymous_retry


async def test_the_keys_page_makes_and_revokes_keys(make_stack: Any, database_url: str) -> None:
    stack = await make_stack(database_url, worker=False, **KEYS)
    accounts = stack.resources.accounts
    owner, headers = user_with_key(accounts, "keys@example.com")
    await sign_in_with_key(stack.api, headers["Authorization"].split()[1])
    token = await csrf_of(stack.api, "/me/keys")
    made = await stack.api.post("/me/keys", data={"name": "laptop", "csrf_token": token})
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    new_key = re.search(r'<code id="new-key">([^<]+)</code>', made.text)
    assert new_key is not None
    assert (
        await stack.api.get("/api/v1/me", headers={"Authorization": f"Bearer {new_key[1]}"})
    ).json()["email"] == "keys@example.com"
    listing = await stack.api.get("/me/keys")
    assert new_key[1] not in listing.text  # shown once
    assert keys.prefix_of(new_key[1]) in listing.text
    revoked = await stack.api.post(
        f"/me/keys/{keys.prefix_of(new_key[1])}/revoke", data={"csrf_token": token}
    )
    assert revoked.status_code == 303
    assert accounts.find_key(keys.prefix_of(new_key[1]) or "").revoked_at is not None
    # Someone else's key is not yours to revoke.
    _, theirs = user_with_key(accounts, "them@example.com")
    their_prefix = keys.prefix_of(theirs["Authorization"].split()[1])
    mine_only = await stack.api.post(f"/me/keys/{their_prefix}/revoke", data={"csrf_token": token})
    assert mine_only.status_code == 404
    assert accounts.find_key(their_prefix or "").revoked_at is None
    assert [e.action for e in accounts.audit_events(actor_id=owner.id)[0]][:2] == [
        "key.revoke",
        "key.create",
    ]


async def test_open_mode_pages_need_no_sign_in(
    make_stack: Any, sqlite_url: str, github: Any, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url, worker=False)  # open mode, as `make dev`
    home = await stack.api.get("/")
    assert 'href="/me">My tutorials' in home.text
    assert "csrf_token" not in home.text
    submitted = await stack.api.post("/submit", data={"issue": f"octo-org/{repo_name}#1"})
    assert submitted.status_code == 303  # no session, no token: as before
    mine = await stack.api.get("/me")
    assert mine.status_code == 200
    assert "Open mode" in mine.text
    assert f"octo-org/{repo_name.lower()}#1" in mine.text
    assert "No daily limit." in mine.text
    # Signing in still works, and the form then needs its token.
    _, headers = user_with_key(stack.resources.accounts, "dev@example.com")
    await sign_in_with_key(stack.api, headers["Authorization"].split()[1])
    assert signed_in_as((await stack.api.get("/")).text) == "dev@example.com"
    forged = await stack.api.post("/submit", data={"issue": f"octo-org/{repo_name}#1"})
    assert forged.status_code == 403
    await stack.client.get_workflow_handle(f"tutorial:octo-org/{repo_name.lower()}#1").terminate()


async def test_private_reads_with_a_session(make_stack: Any, sqlite_url: str) -> None:
    from tests.helpers import store_tutorial

    stack = await make_stack(sqlite_url, worker=False, public_reads=False, **KEYS)
    tutorial = store_tutorial(stack.store, f"r{uuid.uuid4().hex[:6]}", 1)
    refused = await stack.api.get(f"/tutorials/{tutorial}")
    assert refused.status_code == 401
    assert "Sign in to see this page." in refused.text
    assert form_value(refused.text, "next") == f"/tutorials/{tutorial}"
    assert (await stack.api.get("/signin")).status_code == 200  # reachable while closed
    _, headers = user_with_key(stack.resources.accounts, "private@example.com")
    signed = await sign_in_with_key(
        stack.api, headers["Authorization"].split()[1], next_url=f"/tutorials/{tutorial}"
    )
    assert signed.headers["location"] == f"/tutorials/{tutorial}"
    assert (await stack.api.get(f"/tutorials/{tutorial}")).status_code == 200
    # The progress page's polling of the status route reads as the signed-in browser.
    assert (await stack.api.get(f"/api/v1/tutorials/{tutorial}")).status_code == 200
    async with browser(stack) as anonymous:
        assert (await anonymous.get(f"/api/v1/tutorials/{tutorial}")).status_code == 401


class _Everything(logging.Formatter):
    """A log record whole: its message and every attribute (extras included)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.getMessage()} {record.__dict__}"


async def test_sign_in_secrets_never_reach_the_logs(
    make_stack: Any, database_url: str, github_oauth: FakeGitHubOAuth
) -> None:
    stack = await make_stack(
        database_url, worker=False, **oauth_settings(github_oauth, github_signup="open")
    )
    github_oauth.add_user("octocat", id=7, emails=[("logs@example.com", True, True)])
    github_oauth.signed_in = "octocat"
    _, headers = user_with_key(stack.resources.accounts, "keylogs@example.com")
    key = headers["Authorization"].split()[1]
    raw = io.StringIO()  # what the code logs, before any scrubbing
    scrubbed = io.StringIO()  # what a deployment writes (JSON, secrets removed)
    handlers = [logging.StreamHandler(raw), logging.StreamHandler(scrubbed)]
    handlers[0].setFormatter(_Everything())
    handlers[1].setFormatter(JsonFormatter(stack.settings.secret_values()))
    root = logging.getLogger()
    level = root.level
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        async with browser(stack) as with_key, browser(stack) as with_github:
            await sign_in_with_key(with_key, key)
            await sign_in_with_key(with_key, key + "x")  # a refused one too
            await github_flow(with_github, github_oauth)
            github_oauth.token_faults = [500]
            await github_flow(with_github, github_oauth)
            sessions = [with_key.cookies[COOKIE], with_github.cookies[COOKIE]]
        root.removeHandler(handlers[0])  # the deliberate slip below is for the scrubbing one
        logging.getLogger("issuesight.test").warning("oops %s", OAUTH_CLIENT_SECRET)
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(level)
    secrets = [key, key[17:], *sessions, *github_oauth.issued_tokens(), OAUTH_CLIENT_SECRET]
    logged = raw.getvalue()
    assert "signed in" in logged  # the capture worked
    for secret in secrets:
        assert secret not in logged
        assert secret not in scrubbed.getvalue()
    assert "oops [redacted]" in scrubbed.getvalue()


async def test_sign_in_attempts_are_rate_limited(make_stack: Any, sqlite_url: str) -> None:
    """Per client address, as every write is: guessing keys (or codes) meets the limit."""
    stack = await make_stack(
        sqlite_url, worker=False, auth_mode="keys", write_rate_per_minute=1, write_burst=2
    )
    _, headers = user_with_key(stack.resources.accounts, "patient@example.com")
    before = await refusals(stack, "rate")
    for _ in range(2):
        assert (await sign_in_with_key(stack.api, keys.mint().key)).status_code == 401
    limited = await sign_in_with_key(stack.api, headers["Authorization"].split()[1])
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "Too many write requests from this address" in limited.text
    assert COOKIE not in stack.api.cookies
    assert await refusals(stack, "rate") - before == 1


async def test_a_dropped_session_connection_is_read_again(
    make_stack: Any, postgres_url: str
) -> None:
    """PostgreSQL restarted under the API: the session read's pool finds its connection gone
    and reads once more, instead of failing the page."""
    stack = await make_stack(postgres_url, worker=False, **KEYS)
    _, headers = user_with_key(stack.resources.accounts, "restart@example.com")
    await sign_in_with_key(stack.api, headers["Authorization"].split()[1])
    assert (await stack.api.get("/me")).status_code == 200  # the pool is open
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            killed = connection.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'issuesight-sessions'"
                )
            ).scalar_one()
    finally:
        admin.dispose()
    assert killed >= 1
    again = await stack.api.get("/me")
    assert again.status_code == 200
    assert signed_in_as(again.text) == "restart@example.com"


async def test_the_sign_in_pages_stay_out_of_the_api_contract(
    make_stack: Any, sqlite_url: str
) -> None:
    stack = await make_stack(sqlite_url, worker=False, **KEYS)
    paths = set((await stack.api.get("/openapi.json")).json()["paths"])
    assert not {p for p in paths if p.startswith(("/signin", "/signout", "/me"))}
    assert "/api/v1/me" in paths


async def test_a_sqlite_session_is_read_without_the_thread_pool(
    make_stack: Any, sqlite_url: str
) -> None:
    """On a SQLite file the session read runs on the event loop (its own read-only connection),
    so a signed-in page waits for one thread hand-off, not two: with every thread of the pool
    taken, a session still resolves; ended and unknown sessions still do not."""
    stack = await make_stack(sqlite_url, worker=False, **KEYS)
    sessions = stack.resources.sessions
    user, _ = user_with_key(stack.resources.accounts, "inline@example.com")
    token, _ = sessions.open(user.id, method="key")
    limiter = anyio.to_thread.current_default_thread_limiter()
    borrowers = [object() for _ in range(int(limiter.total_tokens))]
    for borrower in borrowers:
        await limiter.acquire_on_behalf_of(borrower)
    try:
        view = await asyncio.wait_for(sessions.resolve_async(token), timeout=5)
        assert view is not None
        assert view.principal.email == "inline@example.com"
        assert await asyncio.wait_for(sessions.resolve_async("issn_" + "x" * 43), timeout=5) is None
    finally:
        for borrower in borrowers:
            limiter.release_on_behalf_of(borrower)
    assert sessions.end(token)
    assert await sessions.resolve_async(token) is None
