"""Signing in, in a real headless Chromium (the OS package), against the real app in keys mode,
worker, Temporal and database; GitHub (its OAuth web flow and its REST API) and the LLM faked at
the network edge. Journeys: sign in with a key → request a tutorial → watch it → find it in My
tutorials → sign out; sign in with GitHub; another site's form refused even though the browser
sends the session cookie along. Checked with axe-core and photographed at both widths."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, expect
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from fakes import BackgroundServer, FakeGitHub, FakeGitHubOAuth, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.accounts.store import CLI
from tests.browser import (
    WIDTHS,
    LiveServer,
    PageWatch,
    assert_accessible,
    new_page,
    screenshot,
)
from tests.helpers import OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, MakeStack, Stack, user_with_key

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def live(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub
) -> AsyncIterator[tuple[Stack, LiveServer, FakeGitHubOAuth]]:
    """Keys mode, with GitHub sign-in: one fake GitHub serves the OAuth flow and, behind it,
    the REST API the worker reads."""
    oauth = FakeGitHubOAuth(
        client_id=OAUTH_CLIENT_ID, client_secret=OAUTH_CLIENT_SECRET, fallback=github.app
    )
    with BackgroundServer(oauth.app) as github_server:
        oauth.url = github_server.url
        stack: Stack = await make_stack(
            sqlite_url,
            auth_mode="keys",
            write_rate_per_minute=0,
            user_daily_generations=5,
            github_api_url=github_server.url,
            github_oauth_client_id=OAUTH_CLIENT_ID,
            github_oauth_client_secret=OAUTH_CLIENT_SECRET,
        )
        async with LiveServer(stack.app) as server:
            yield stack, server, oauth


async def test_sign_in_with_a_key_submit_and_find_it_in_my_tutorials(
    browser: Browser,
    live: tuple[Stack, LiveServer, FakeGitHubOAuth],
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
) -> None:
    stack, server, _ = live
    seed_hello_world(github, repo_name)
    llm.latency = 1.0
    _, headers = user_with_key(stack.resources.accounts, "reader@example.com")
    key = headers["Authorization"].split()[1]
    for width in WIDTHS:
        page = await new_page(browser, width)
        watch = PageWatch(page, server.host)
        await page.goto(server.url + "/")
        await page.get_by_role("link", name="Sign in").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        await assert_accessible(page)
        await screenshot(page, "signin")

        # A wrong key is refused in words, and nothing is signed in.
        await page.get_by_label("API key", exact=True).fill(key[:-3] + "zzz")
        await page.get_by_role("button", name="Sign in with this key").click()
        await expect(page.get_by_role("alert")).to_contain_text("That API key is not valid")
        await assert_accessible(page)

        await page.get_by_label("API key", exact=True).fill(key)
        await page.get_by_role("button", name="Sign in with this key").click()
        await page.wait_for_url(re.compile(r"/me$"))
        await expect(page.get_by_role("heading", level=1)).to_have_text("My tutorials")
        account = page.get_by_role("list", name="Your account")
        await expect(account).to_contain_text("reader@example.com")
        cookies = {c["name"]: c for c in await page.context.cookies()}
        session = cookies["issuesight_session"]
        assert session["httpOnly"] is True
        assert session["sameSite"] == "Lax"
        assert key not in session["value"]
        assert await page.evaluate("document.cookie") == ""  # no script can read any of them
        if width == WIDTHS[0]:
            await expect(page.locator(".quota-count")).to_contain_text("5 of 5 left")
            await page.get_by_role("link", name="Request a tutorial").click()
            await expect(page.locator(".quota-line")).to_contain_text("5")
            await page.get_by_label("GitHub issue").fill(f"octo-org/{repo_name}#1")
            await page.get_by_role("button", name="Write the tutorial").click()
            await page.wait_for_url(re.compile(r"/tutorials/[0-9a-f-]{36}$"))
            # The progress page polls the status route with the session and becomes the tutorial.
            await expect(page.get_by_role("heading", name="Summary")).to_be_visible(timeout=60_000)
            await expect(account).to_contain_text("reader@example.com")  # on a kept page too
            await assert_accessible(page)
        await account.get_by_role("link", name=re.compile("reader@example.com")).click()
        await page.wait_for_url(re.compile(r"/me$"))
        mine = page.locator(".results .result")
        await expect(mine).to_have_count(1)
        await expect(mine.first).to_contain_text(f"octo-org/{repo_name.lower()}#1")
        await expect(mine.first).to_contain_text("you asked for it first")
        await expect(page.locator(".quota-count")).to_contain_text("4 of 5 left")
        await assert_accessible(page)
        await screenshot(page, "my-tutorials")

        # Keys for scripts: made here, shown once, revoked here.
        await page.get_by_role("link", name="Your API keys").click()
        await page.get_by_label("Name of a new key").fill(f"laptop-{width}")
        await page.get_by_role("button", name="Make a key").click()
        await expect(page.locator("#new-key")).to_have_text(re.compile(r"^isk_[0-9a-f]{12}_"))
        await assert_accessible(page)
        await screenshot(page, "keys")
        made = await page.locator("#new-key").text_content() or ""
        row = page.get_by_role("row").filter(has_text=f"laptop-{width}")
        await row.get_by_role("button", name=re.compile("Revoke")).click()
        await page.wait_for_url(re.compile(r"/me/keys$"))
        await expect(page.get_by_role("row").filter(has_text=f"laptop-{width}")).to_contain_text(
            "revoked"
        )
        assert made not in await page.content()
        await page.goto(server.url + "/me")

        await account.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(server.url + "/")
        await expect(account).to_contain_text("Sign in")
        await page.goto(server.url + "/me")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        watch.assert_clean()
        await page.context.close()


async def test_sign_in_with_github(
    browser: Browser, live: tuple[Stack, LiveServer, FakeGitHubOAuth]
) -> None:
    stack, server, oauth = live
    stack.resources.accounts.create_user("octo@example.com", actor=CLI)
    oauth.add_user("octocat", id=583231, emails=[("octo@example.com", True, True)])
    oauth.signed_in = "octocat"
    github_host = urlsplit(oauth.url).netloc
    page = await new_page(browser, 375)
    watch = PageWatch(page, server.host)
    await page.goto(server.url + "/signin")
    await page.get_by_role("link", name="Sign in with GitHub").click()
    await page.wait_for_url(re.compile(r"/me$"))
    await expect(page.locator(".lede")).to_contain_text("with GitHub")
    await expect(page.get_by_role("list", name="Your account")).to_contain_text("octo@example.com")
    await assert_accessible(page)
    await screenshot(page, "signed-in-github")
    # The only other host the browser went to is GitHub, for the flow itself.
    assert {urlsplit(u).netloc for u in watch.foreign} == {github_host}
    watch.foreign.clear()
    watch.assert_clean()
    await page.context.close()


async def test_another_sites_form_is_refused_though_the_cookie_goes_along(
    browser: Browser, live: tuple[Stack, LiveServer, FakeGitHubOAuth], repo_name: str
) -> None:
    """127.0.0.1 on another port is the same *site* (SameSite=Lax sends the cookie with its
    posts) but another origin: the token and Sec-Fetch-Site refuse it."""
    stack, server, _ = live
    _, headers = user_with_key(stack.resources.accounts, "victim@example.com")
    evil_form = (
        f'<!doctype html><title>Win a prize</title><form method="post" '
        f'action="{server.url}/submit"><input type="hidden" name="issue" '
        f'value="octo-org/{repo_name}#1"><button>Claim</button></form>'
    )
    evil = Starlette(routes=[Route("/", lambda _request: HTMLResponse(evil_form))])
    with BackgroundServer(evil) as other_site:
        page = await new_page(browser)
        await page.goto(server.url + "/signin")
        await page.get_by_label("API key", exact=True).fill(headers["Authorization"].split()[1])
        await page.get_by_role("button", name="Sign in with this key").click()
        await page.wait_for_url(re.compile(r"/me$"))
        await page.goto(other_site.url + "/")
        async with page.expect_response(server.url + "/submit") as answer:
            await page.get_by_role("button", name="Claim").click()
        response = await answer.value
        assert response.status == 403
        assert (await response.request.all_headers())["sec-fetch-site"] == "same-site"
        assert "issuesight_session" in (await response.request.all_headers()).get("cookie", "")
        await expect(page.locator("main")).to_contain_text("sent from another site")
        listing = await stack.api.get("/api/v1/tutorials")
        assert listing.json()["total"] == 0
        await page.context.close()
