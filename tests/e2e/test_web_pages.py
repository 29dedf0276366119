"""The pages and the concept API through the real app (in process), on both databases: headers
on every response, what each page shows, banners, lenient query parameters, hostile queries,
the concept API's tree and pages. The browser journeys are in test_web_browser.py."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from issuesight.api.app import create_app
from issuesight.core.settings import Settings
from issuesight.db.models import TutorialContent
from issuesight.db.projects import ProjectStore
from issuesight.db.tutorials import TutorialStore
from issuesight.db.types import utcnow
from issuesight.web.security import CONTENT_SECURITY_POLICY
from tests.helpers import store_tutorial
from tests.paths import BLNS


@pytest.fixture
async def web(database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, TutorialStore]]:
    # Open mode (`make dev`'s): accounts are not the subject here (test_accounts_web is).
    app = create_app(
        Settings(
            _env_file=None,
            database_url=database_url,
            auth_mode="open",
            allowed_hosts="issuesight.test",  # the name this client calls it by
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://issuesight.test"
    ) as client:
        yield client, app.state.resources.store
    await app.state.resources.close()


class _Tags(HTMLParser):
    """Every start tag with its attributes, to check what a page holds."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _set(store: TutorialStore, tutorial_id: uuid.UUID, **values: Any) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            sa.update(TutorialContent)
            .where(col(TutorialContent.id) == tutorial_id)
            .values(**values)
        )


async def test_every_response_carries_the_security_headers(
    web: tuple[httpx.AsyncClient, TutorialStore],
) -> None:
    client, store = web
    tutorial_id = store_tutorial(store, f"h-{uuid.uuid4().hex[:6]}", 1)
    for path in (
        "/",
        f"/tutorials/{tutorial_id}",
        "/submit",
        "/concepts",
        "/projects",
        "/tutorials/not-a-uuid",
        f"/api/v1/tutorials/{tutorial_id}",
        "/static/app.js",
    ):
        response = await client.get(path)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert response.headers["x-frame-options"] == "DENY"
    # Swagger UI needs its CDN and inline script: it keeps framing refused, not the policy.
    docs = await client.get("/docs")
    assert docs.headers["content-security-policy"] == "frame-ancestors 'none'"
    # Versioned static files may be kept; their type is never sniffed.
    asset = await client.get("/static/app.css?v=1")
    assert "immutable" in asset.headers["cache-control"]
    assert asset.headers["content-type"].startswith("text/css")


async def test_no_page_has_inline_script_or_style(
    web: tuple[httpx.AsyncClient, TutorialStore],
) -> None:
    client, store = web
    repo = f"inline-{uuid.uuid4().hex[:6]}"
    done = store_tutorial(store, repo, 1, concepts=[("testing", "Testing", None)])
    pending = store_tutorial(store, repo, 2, complete=False)
    for path in (
        "/",
        "/?status=all",
        f"/tutorials/{done}",
        f"/tutorials/{pending}",
        "/submit",
        "/concepts",
        "/concepts/testing",
        "/projects",
        f"/projects/octo-org/{repo}",
    ):
        response = await client.get(path)
        assert response.status_code == 200, path
        for tag, attrs in _tags(response.text):
            assert "style" not in attrs, (path, tag)
            assert not [a for a in attrs if a.startswith("on")], (path, tag, attrs)
            if tag == "script":
                assert (attrs.get("src") or "").startswith("/static/app.js?v="), path
            assert tag not in ("style", "iframe", "img"), (path, tag)


async def test_tutorial_page_shows_the_issue_first_then_the_bridge(
    web: tuple[httpx.AsyncClient, TutorialStore],
) -> None:
    client, store = web
    repo = f"page-{uuid.uuid4().hex[:6]}"
    tutorial_id = store_tutorial(
        store, repo, 12, concepts=[("http-retries", "HTTP retries", "networking")]
    )
    page = (await client.get(f"/tutorials/{tutorial_id}")).text
    by_issue = await client.get(f"/issues/octo-org/{repo}/12")
    assert by_issue.text == page
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S)
    assert h1 is not None
    assert h1.group(1).strip() == "greet() crashes when name is None"
    assert page.index("<h1") < page.index('class="bridge-title"')
    assert "issue #12" in page
    assert "Issue open" in page
    # A table of contents whose links all land on a section.
    anchors = re.findall(r'<li><a href="#([a-z-]+)">', page)
    assert anchors[:2] == ["summary", "good-first-issue"]
    for anchor in anchors:
        assert f'<section id="{anchor}"' in page
    # Files at the commit read; the commit and when; concept chips to concept pages.
    assert 'href="https://github.com/octo-org/hello/blob/abc123/src/hello/app.py"' in page
    assert f"https://github.com/octo-org/{repo}/tree/abc123def4567890" in page
    assert "<code>abc123def456</code>" in page
    assert 'href="/concepts/http-retries"' in page
    assert 'data-copy="first-comment-text"' in page
    assert 'id="first-comment-text">Hi! I&#39;d like to fix this.' in page
    # The JSON status route carries the issue's own title and state.
    status = (await client.get(f"/api/v1/tutorials/{tutorial_id}")).json()
    assert status["issue_title"] == "greet() crashes when name is None"
    assert status["issue_state"] == "open"
    # A reader polling with the ETag gets a bodiless 304.
    first = await client.get(f"/tutorials/{tutorial_id}")
    again = await client.get(
        f"/tutorials/{tutorial_id}", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304


async def test_banners_progress_and_failure(web: tuple[httpx.AsyncClient, TutorialStore]) -> None:
    client, store = web
    repo = f"banners-{uuid.uuid4().hex[:6]}"
    tutorial_id = store_tutorial(store, repo, 1)

    async def text() -> str:
        response = await client.get(f"/tutorials/{tutorial_id}")
        assert response.status_code == 200
        return response.text

    assert 'class="banner ' not in await text()
    store.mark_stale(tutorial_id, regenerating=False)
    assert "The issue changed" in await text()
    store.mark_stale(tutorial_id, regenerating=True)
    page = await text()
    assert "A fresh version is being written" in page
    assert 'data-watch-mode="regenerating"' in page
    assert "The issue changed" not in page  # the fresh version is on its way
    store.mark_failed(tutorial_id, reason="LLM said <b>no</b>", failure_type="LLMTimeout")
    page = await text()
    assert "Writing a fresh version failed" in page
    assert "Summary" in page  # the previous version is still served
    _set(store, tutorial_id, archived_at=utcnow())
    assert "Archived." in await text()

    pending = store_tutorial(store, repo, 2, complete=False)
    page = (await client.get(f"/tutorials/{pending}")).text
    assert "Writing the context bridge" in page
    assert 'aria-current="step"' in page
    assert f'href="/tutorials/{pending}">check again</a>' in page

    store.mark_failed(
        pending,
        reason="Issue octo-org/x#2 <script>x</script> not found",
        failure_type="IssueNotFound",
    )
    page = (await client.get(f"/tutorials/{pending}")).text
    assert "This tutorial could not be written" in page
    assert "GitHub has no issue with this number" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x" not in page
    assert "Asking again gives the same answer" in page  # a permanent failure
    assert 'name="issue" value="octo-org/' in page


async def test_unknown_and_malformed_addresses_are_404_pages(
    web: tuple[httpx.AsyncClient, TutorialStore],
) -> None:
    client, _ = web
    for path in (
        "/tutorials/not-a-uuid",
        f"/tutorials/{uuid.uuid4()}",
        "/issues/octo-org/../1",  # normalized by the client to /issues/1: no such page
        "/no/such/page",
        "/issues/octo-org/repo/abc",
        "/concepts/Not_A_Slug",
        "/concepts/unknown",
        "/projects/octo-org/unknown",
        "/projects/-bad-/x",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html"), path
    missing = await client.get("/issues/octo-org/repo/5")
    assert missing.status_code == 404
    assert 'value="octo-org/repo#5"' in missing.text  # offered to be written


async def test_explore_filters_pagination_and_lenient_parameters(
    web: tuple[httpx.AsyncClient, TutorialStore],
) -> None:
    client, store = web
    repo = f"explore-{uuid.uuid4().hex[:6]}"
    for number in range(1, 24):
        store_tutorial(
            store, repo, number, title=f"Tutorial number {number}", difficulty="beginner"
        )
    store_tutorial(store, repo, 99, complete=False, issue_title="Still pending")
    first = (await client.get(f"/?repo=octo-org/{repo}")).text
    assert "Tutorials 1\u201320 of 23" in first
    assert "Still pending" not in first  # ready ones by default
    assert f'href="?repo=octo-org%2F{repo}&amp;page=2"' in first
    second = (await client.get(f"/?repo=octo-org/{repo}&page=2")).text
    assert "Tutorials 21\u201323 of 23" in second
    assert "Still pending" in (await client.get(f"/?repo=octo-org/{repo}&status=all")).text
    # Nonsense in a shared URL is left out with a word, never a 422 or a 500.
    odd = await client.get(
        "/?repo=%00evil&concept=<b>&difficulty=extreme&status=weird&sort=up&page=-3"
    )
    assert odd.status_code == 200
    assert "The repository filter was not an owner/repo name" in odd.text
    assert "The concept filter was not a concept name" in odd.text
    long_query = await client.get("/?q=" + "word " * 100)
    assert "Only the first 200 characters" in long_query.text
    symbols = await client.get("/?q=%22%2A%22")
    assert "no letters or digits" in symbols.text


async def test_hostile_queries_never_fail_on_the_page_or_the_api(
    web: tuple[httpx.AsyncClient, TutorialStore],
) -> None:
    client, store = web
    store_tutorial(store, f"q-{uuid.uuid4().hex[:6]}", 1)
    naughty: list[str] = json.loads(BLNS.read_text(encoding="utf-8"))
    syntax = ['"', "*", "NEAR(", "-", "NEAR(a b", "a OR", "title:x", "\x00", "'; DROP TABLE x;--"]
    for text in syntax + naughty:
        page = await client.get("/", params={"q": text})
        assert page.status_code == 200, repr(text)
        api = await client.get("/api/v1/tutorials", params={"q": text})
        assert api.status_code == (200 if len(text) <= 200 else 422), repr(text)
    for text in ("\x00", "a/b\x00", "<script>"):
        for name in ("repo", "concept"):
            api = await client.get("/api/v1/tutorials", params={name: text})
            assert api.status_code == 422, (name, text)


async def test_search_through_the_json_route(web: tuple[httpx.AsyncClient, TutorialStore]) -> None:
    client, store = web
    repo = f"json-{uuid.uuid4().hex[:6]}"
    store_tutorial(store, repo, 1, issue_body="The tokenizer mangles emoji.", title="A")
    store_tutorial(store, repo, 2, title="Tokenizer speed", junior_friendly=False)
    body = (await client.get("/api/v1/tutorials", params={"q": "tokenizer"})).json()
    assert [item["issue"].rsplit("#")[1] for item in body["items"]] == ["2", "1"]  # title first
    assert body["items"][0]["issue_title"] == "greet() crashes when name is None"
    friendly = (
        await client.get("/api/v1/tutorials", params={"q": "tokenizer", "junior_friendly": "true"})
    ).json()
    assert [item["issue"].rsplit("#")[1] for item in friendly["items"]] == ["1"]


async def test_concept_api_tree_and_detail(web: tuple[httpx.AsyncClient, TutorialStore]) -> None:
    client, store = web
    repo = f"concepts-{uuid.uuid4().hex[:6]}"
    store_tutorial(store, repo, 1, concepts=[("event-loop", "Event loop", "async-io")])
    store_tutorial(store, repo, 2, concepts=[("async-io", "Async I/O", "concurrency")])
    store_tutorial(store, repo, 3, concepts=[("event-loop", "Event loop", None)])
    # A cycle another tutorial's model made up: concurrency under event-loop.
    store_tutorial(store, repo, 4, concepts=[("concurrency", "Concurrency", "event-loop")])
    tree = (await client.get("/api/v1/concepts")).json()["concepts"]

    def find(nodes: list[dict[str, Any]], slug: str) -> dict[str, Any] | None:
        for node in nodes:
            if node["slug"] == slug:
                return node
            found = find(node["children"], slug)
            if found:
                return found
        return None

    loop = find(tree, "event-loop")
    assert loop is not None
    assert loop["tutorials"] == 2
    assert find(tree, "concurrency") is not None  # the cycle is entered, not lost
    assert json.dumps(tree).count('"slug": "event-loop"') <= 2  # never inside itself

    detail = await client.get("/api/v1/concepts/async-io", params={"limit": 1})
    assert detail.status_code == 200
    body = detail.json()
    assert [p["slug"] for p in body["parents"]] == ["concurrency"]
    assert [c["slug"] for c in body["children"]] == ["event-loop"]
    assert body["children"][0]["tutorials"] == 2
    assert body["tutorials"]["total"] == 1
    assert body["tutorials"]["items"][0]["issue"].endswith("#2")
    assert (await client.get("/api/v1/concepts/nope")).status_code == 404
    assert (await client.get("/api/v1/concepts/Bad_Slug")).status_code == 422
    page = (await client.get("/concepts/event-loop")).text
    assert "Learn Event loop through these issues" in page


async def test_projects_pages(web: tuple[httpx.AsyncClient, TutorialStore]) -> None:
    client, store = web
    tracked = f"tracked-{uuid.uuid4().hex[:6]}"
    other = f"other-{uuid.uuid4().hex[:6]}"
    ProjectStore(store.engine).track("octo-org", tracked, ["good first issue"], 30)
    store_tutorial(store, tracked, 1)
    store_tutorial(store, other, 1)
    listing = (await client.get("/projects")).text
    assert f'href="/projects/octo-org/{tracked}"' in listing
    assert "every 30 min" in listing
    assert f'href="/projects/octo-org/{other}"' in listing  # under "Other repositories"
    page = (await client.get(f"/projects/octo-org/{tracked}")).text
    assert "Watched labels" in page
    assert "good first issue" in page
    assert "Make greet() accept None" in page
    untracked = (await client.get(f"/projects/octo-org/{other}")).text
    assert "Not tracked" in untracked


async def test_form_posts_from_another_site_are_refused(
    web: tuple[httpx.AsyncClient, TutorialStore],
) -> None:
    client, _ = web
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ):
        response = await client.post("/submit", data={"issue": "a/b#1"}, headers=headers)
        assert response.status_code == 403, headers
    invalid = await client.post(
        "/submit", data={"issue": "<script>"}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert invalid.status_code == 422
    assert "That is not a GitHub issue." in invalid.text
    assert 'value="&lt;script&gt;"' in invalid.text


async def test_web_submission_starts_the_workflow(
    make_stack: Any, sqlite_url: str, github: Any, repo_name: str
) -> None:
    from fakes.scenarios import seed_hello_world
    from tests.helpers import wait_finished

    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url)
    response = await stack.api.post(
        "/submit", data={"issue": f"https://github.com/Octo-Org/{repo_name}/issues/1"}
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert re.fullmatch(r"/tutorials/[0-9a-f-]{36}", location)
    done = await wait_finished(stack.api, "/api/v1" + location)
    assert done["status"] == "COMPLETED"
    again = await stack.api.post("/submit", data={"issue": f"octo-org/{repo_name}#1"})
    assert again.headers["location"] == location  # the same tutorial, not a new job
    page = await stack.api.get(location)
    assert "Summary" in page.text


def test_age_wording() -> None:
    from issuesight.web.templating import age

    now = utcnow()
    assert age(now - timedelta(seconds=5), now) == "just now"
    assert age(now - timedelta(minutes=1), now) == "1 minute ago"
    assert age(now - timedelta(hours=5), now) == "5 hours ago"
    assert age(now - timedelta(days=40), now) == "1 month ago"
    assert age(now - timedelta(days=800), now) == "2 years ago"
    assert age("not a date", now) == "at an unknown time"
