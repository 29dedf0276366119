"""GitHub's OAuth web flow at the wire: the fake answers as GitHub does (form-encoded or JSON
token answers by Accept, errors with status 200, scopes, single-use codes, a registered
callback), and the real client (issuesight.github.oauth, on httpx) reads it, refusals and
outages told apart."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs

import httpx
import pytest

from fakes import FakeGitHubOAuth
from issuesight.github.oauth import GitHubOAuth, OAuthError
from tests.helpers import OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET

CALLBACK = "http://issuesight.test/signin/github/callback"


async def _code(
    fake: FakeGitHubOAuth, *, scope: str = "user:email", redirect: str = CALLBACK
) -> str:
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(
            fake.url + "/login/oauth/authorize",
            params={
                "client_id": OAUTH_CLIENT_ID,
                "redirect_uri": redirect,
                "scope": scope,
                "state": "s1",
            },
        )
    assert consent.status_code == 302
    back = httpx.URL(consent.headers["location"])
    assert back.params["state"] == "s1"
    return back.params["code"]


def _client(fake: FakeGitHubOAuth, *, secret: str = OAUTH_CLIENT_SECRET) -> GitHubOAuth:
    return GitHubOAuth(
        client_id=OAUTH_CLIENT_ID,
        client_secret=secret,
        web_url=fake.url,
        api_url=fake.url + "/api/v3",
    )


async def test_token_answers_follow_the_accept_header(github_oauth: FakeGitHubOAuth) -> None:
    github_oauth.add_user("octocat", id=1, emails=[("cat@example.com", True, True)])
    github_oauth.signed_in = "octocat"
    form = {
        "client_id": OAUTH_CLIENT_ID,
        "client_secret": OAUTH_CLIENT_SECRET,
        "redirect_uri": CALLBACK,
    }
    url = github_oauth.url + "/login/oauth/access_token"
    async with httpx.AsyncClient() as http:
        plain = await http.post(url, data={**form, "code": await _code(github_oauth)})
        assert plain.status_code == 200
        assert plain.headers["content-type"].startswith("application/x-www-form-urlencoded")
        fields = parse_qs(plain.text)
        assert fields["access_token"][0].startswith("gho_")
        assert fields["token_type"] == ["bearer"]
        assert fields["scope"] == ["user:email"]

        code = await _code(github_oauth)
        as_json = await http.post(
            url, data={**form, "code": code}, headers={"Accept": "application/json"}
        )
        assert as_json.headers["content-type"].startswith("application/json")
        assert as_json.json()["access_token"].startswith("gho_")

        # A code is good once; errors come back with 200, in the asked-for format.
        again = await http.post(
            url, data={**form, "code": code}, headers={"Accept": "application/json"}
        )
        assert again.status_code == 200
        assert again.json()["error"] == "bad_verification_code"
        again_form = await http.post(url, data={**form, "code": code})
        assert parse_qs(again_form.text)["error"] == ["bad_verification_code"]
        wrong = await http.post(
            url,
            data={**form, "client_secret": "nope", "code": await _code(github_oauth)},
            headers={"Accept": "application/json"},
        )
        assert wrong.json()["error"] == "incorrect_client_credentials"
        moved = await http.post(
            url,
            data={
                **form,
                "redirect_uri": "http://elsewhere.test/cb",
                "code": await _code(github_oauth),
            },
            headers={"Accept": "application/json"},
        )
        assert moved.json()["error"] == "redirect_uri_mismatch"


async def test_user_reads_need_the_token_and_the_scope(github_oauth: FakeGitHubOAuth) -> None:
    github_oauth.add_user(
        "octocat",
        id=583231,
        name="The Octocat",
        emails=[
            ("noreply@example.com", False, True),
            ("cat@example.com", True, True),
            ("old@example.com", False, False),
        ],
    )
    github_oauth.signed_in = "octocat"
    client = _client(github_oauth)
    try:
        token = await client.exchange(await _code(github_oauth), redirect_uri=CALLBACK)
        user = await client.user(token)
        assert (user.id, user.login, user.name) == (583231, "octocat", "The Octocat")
        assert user.verified_emails == ("cat@example.com", "noreply@example.com")  # primary first

        # Without the email scope GitHub answers /user/emails 404: no verified address known.
        narrow = await client.exchange(
            await _code(github_oauth, scope="read:user"), redirect_uri=CALLBACK
        )
        assert (await client.user(narrow)).verified_emails == ()
        with pytest.raises(OAuthError) as refused:
            await client.user("gho_" + "x" * 36)
        assert refused.value.code == "http_401"
        assert not refused.value.unavailable
    finally:
        await client.aclose()


async def test_refusals_and_outages_are_told_apart(github_oauth: FakeGitHubOAuth) -> None:
    github_oauth.add_user("octocat", id=1)
    github_oauth.signed_in = "octocat"
    wrong_secret = _client(github_oauth, secret="not-the-secret")
    client = _client(github_oauth)
    try:
        with pytest.raises(OAuthError) as bad_app:
            await wrong_secret.exchange(await _code(github_oauth), redirect_uri=CALLBACK)
        assert bad_app.value.code == "incorrect_client_credentials"
        assert "GITHUB_OAUTH_CLIENT_SECRET" in str(bad_app.value)
        assert "not-the-secret" not in str(bad_app.value)

        github_oauth.token_faults = [503]
        with pytest.raises(OAuthError) as down:
            await client.exchange(await _code(github_oauth), redirect_uri=CALLBACK)
        assert down.value.unavailable

        with pytest.raises(OAuthError) as used:
            await client.exchange("0" * 20, redirect_uri=CALLBACK)
        assert used.value.code == "bad_verification_code"
        assert not used.value.unavailable
    finally:
        await wrong_secret.aclose()
        await client.aclose()

    # Nobody listening: unavailable, not a crash.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nowhere = GitHubOAuth(
        client_id="x",
        client_secret="y",
        web_url=f"http://127.0.0.1:{port}",
        api_url=f"http://127.0.0.1:{port}",
    )
    try:
        with pytest.raises(OAuthError) as unreachable:
            await nowhere.exchange("code", redirect_uri=CALLBACK)
        assert unreachable.value.unavailable
    finally:
        await nowhere.aclose()
    assert "s3cr3t" not in repr(nowhere)


async def test_consent_denied_and_unregistered_callbacks(github_oauth: FakeGitHubOAuth) -> None:
    github_oauth.add_user("octocat", id=1)
    github_oauth.signed_in = "octocat"
    github_oauth.callback_url = CALLBACK
    authorize = github_oauth.url + "/login/oauth/authorize"
    params = {"client_id": OAUTH_CLIENT_ID, "redirect_uri": CALLBACK, "state": "s2"}
    async with httpx.AsyncClient() as browser:
        github_oauth.deny = True
        denied = httpx.URL((await browser.get(authorize, params=params)).headers["location"])
        assert (denied.params["error"], denied.params["state"]) == ("access_denied", "s2")
        github_oauth.deny = False
        elsewhere = await browser.get(
            authorize, params={**params, "redirect_uri": "http://evil.test/cb"}
        )
        mismatch = httpx.URL(elsewhere.headers["location"])
        assert str(mismatch).startswith(CALLBACK)  # back to the registered one, not elsewhere
        assert mismatch.params["error"] == "redirect_uri_mismatch"
        below = await browser.get(
            authorize, params={**params, "redirect_uri": CALLBACK + "/deeper"}
        )
        assert "code" in httpx.URL(below.headers["location"]).params
        unknown = await browser.get(authorize, params={**params, "client_id": "someone-else"})
        assert unknown.status_code == 404
