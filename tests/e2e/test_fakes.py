"""The network-edge fakes speak GitHub's and OpenAI's wire formats to the real clients."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import httpx
import openai
import pydantic
import pytest
from openai.types.shared_params import ResponseFormatJSONSchema

from fakes import BackgroundServer, FakeGitHub, FakeOpenAI
from fakes.openai import CLIENT_CLOSED
from issuesight.tutorial.schema import TutorialDraft, tutorial_response_format

TOKEN = "ghp_fake_token_for_tests"
API_KEY = "sk-fake-key-for-tests"
BINARY = b"\x00\xff\xfe PNG\r\n\x1a\n not utf-8: \xc3\x28"


@pytest.fixture(scope="session")
def github_server() -> Iterator[tuple[FakeGitHub, BackgroundServer]]:
    fake = FakeGitHub(token=TOKEN)
    with BackgroundServer(fake.app) as server:
        yield fake, server


@pytest.fixture
def fake_github(github_server: tuple[FakeGitHub, BackgroundServer]) -> FakeGitHub:
    fake, _ = github_server
    fake.reset()
    return fake


@pytest.fixture
async def gh(
    github_server: tuple[FakeGitHub, BackgroundServer],
) -> AsyncIterator[httpx.AsyncClient]:
    _, server = github_server
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
        yield client


@pytest.fixture(scope="session")
def openai_server() -> Iterator[tuple[FakeOpenAI, BackgroundServer]]:
    fake = FakeOpenAI(api_key=API_KEY)
    with BackgroundServer(fake.app) as server:
        yield fake, server


@pytest.fixture
def fake_llm(openai_server: tuple[FakeOpenAI, BackgroundServer]) -> FakeOpenAI:
    fake, _ = openai_server
    fake.reset()
    return fake


@pytest.fixture
async def llm_client(
    openai_server: tuple[FakeOpenAI, BackgroundServer],
) -> AsyncIterator[openai.AsyncOpenAI]:
    _, server = openai_server
    async with openai.AsyncOpenAI(
        api_key=API_KEY, base_url=server.url + "/v1", max_retries=0
    ) as sdk:
        yield sdk


async def _tutorial_call(client: openai.AsyncOpenAI, *, client_timeout: float = 10.0) -> str:
    completion = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Write a tutorial."},
            {"role": "user", "content": "Issue #7: retries"},
        ],
        response_format=cast(ResponseFormatJSONSchema, tutorial_response_format()),
        timeout=client_timeout,
    )
    content: str | None = completion.choices[0].message.content
    assert content is not None
    return content


# ---- GitHub ------------------------------------------------------------------------------


async def test_issue_pages_follow_link_through_repositories_urls(
    fake_github: FakeGitHub, gh: httpx.AsyncClient
) -> None:
    repo = fake_github.add_repo("Octo-Org", "Paginate")
    for n in range(1, 8):
        fake_github.add_issue("octo-org/paginate", title=f"Issue {n}", body=None)

    seen: list[int] = []
    response = await gh.get("/repos/octo-org/paginate/issues", params={"per_page": 3})
    assert "prev" not in response.links
    assert "first" not in response.links
    pages = 1
    while True:
        assert response.status_code == 200
        seen += [issue["number"] for issue in response.json()]
        if "next" not in response.links:
            break
        next_url = response.links["next"]["url"]
        assert f"/repositories/{repo.id}/issues?" in next_url
        assert response.links["last"]["url"].endswith("per_page=3&page=3")
        response = await gh.get(next_url)
        pages += 1
    assert pages == 3
    assert "last" not in response.links
    assert set(response.links) == {"prev", "first"}
    assert seen == [7, 6, 5, 4, 3, 2, 1]  # created desc, as GitHub's default
    issue = response.json()[0]
    assert issue["body"] is None
    assert issue["repository_url"].endswith("/repos/Octo-Org/Paginate")  # canonical casing


async def test_comment_pages_and_since_filter(
    fake_github: FakeGitHub, gh: httpx.AsyncClient
) -> None:
    fake_github.add_repo("octo", "comments")
    comments: list[str | dict[str, object]] = [
        {"body": f"c{i}", "created_at": f"2024-01-0{i}T00:00:00Z"} for i in range(1, 6)
    ]
    fake_github.add_issue("octo/comments", 1, title="t", body="b", comments=comments)

    bodies: list[str] = []
    url: str | None = "/repos/octo/comments/issues/1/comments?per_page=2"
    while url:
        response = await gh.get(url)
        bodies += [c["body"] for c in response.json()]
        url = response.links.get("next", {}).get("url")
    assert bodies == ["c1", "c2", "c3", "c4", "c5"]

    recent = await gh.get(
        "/repos/octo/comments/issues/1/comments", params={"since": "2024-01-04T00:00:00Z"}
    )
    assert [c["body"] for c in recent.json()] == ["c4", "c5"]
    assert "link" not in recent.headers


async def test_conditional_request_is_304_and_free(
    fake_github: FakeGitHub, gh: httpx.AsyncClient
) -> None:
    fake_github.add_repo("octo", "etag")
    fake_github.add_issue("octo/etag", 1, title="t", body="b")

    first = await gh.get("/repos/octo/etag/issues/1")
    etag = first.headers["etag"]
    remaining = int(first.headers["x-ratelimit-remaining"])
    assert etag.startswith('W/"')
    for header in (
        "x-ratelimit-limit",
        "x-ratelimit-used",
        "x-ratelimit-reset",
        "x-github-request-id",
    ):
        assert header in first.headers
    assert first.headers["x-ratelimit-resource"] == "core"

    cached = await gh.get("/repos/octo/etag/issues/1", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert int(cached.headers["x-ratelimit-remaining"]) == remaining

    fake_github.edit_issue("octo/etag", 1, title="changed")
    changed = await gh.get("/repos/octo/etag/issues/1", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["title"] == "changed"
    assert int(changed.headers["x-ratelimit-remaining"]) == remaining - 1
    assert fake_github.count(r"/issues/1$", status=304) == 1


async def test_deleted_issue_is_gone(fake_github: FakeGitHub, gh: httpx.AsyncClient) -> None:
    fake_github.add_repo("octo", "gone")
    fake_github.add_issue("octo/gone", 3, title="t", body="b")
    fake_github.delete_issue("octo/gone", 3)

    response = await gh.get("/repos/octo/gone/issues/3")
    assert response.status_code == 410
    assert response.json()["message"] == "This issue was deleted"
    assert (await gh.get("/repos/octo/gone/issues/4")).status_code == 404


async def test_pull_requests_are_listed_with_pull_request_key(
    fake_github: FakeGitHub, gh: httpx.AsyncClient
) -> None:
    fake_github.add_repo("octo", "prs")
    fake_github.add_issue("octo/prs", 1, title="bug", body="b", labels=["Good First Issue", "bug"])
    fake_github.add_issue("octo/prs", 2, title="fix", body="f", is_pull_request=True)
    fake_github.add_cross_reference("octo/prs", 1, 2, state="closed", merged=True)

    listed = {i["number"]: i for i in (await gh.get("/repos/octo/prs/issues?state=all")).json()}
    assert "pull_request" not in listed[1]
    assert listed[2]["pull_request"]["merged_at"] is not None
    filtered = await gh.get("/repos/octo/prs/issues", params={"labels": "good first issue,BUG"})
    assert [i["number"] for i in filtered.json()] == [1]
    assert filtered.json()[0]["labels"][0]["name"] == "Good First Issue"

    timeline = (await gh.get("/repos/octo/prs/issues/1/timeline")).json()
    (event,) = [e for e in timeline if e["event"] == "cross-referenced"]
    assert event["source"]["issue"]["number"] == 2
    assert event["source"]["issue"]["state"] == "closed"
    assert "pull_request" in event["source"]["issue"]


async def test_readme_raw_and_json(fake_github: FakeGitHub, gh: httpx.AsyncClient) -> None:
    readme = "# Hello\n\n" + "word " * 40
    fake_github.add_repo("octo", "docs", files={"readme.MD": readme, "src/app.py": "print(1)\n"})

    raw = await gh.get("/repos/octo/docs/readme", headers={"Accept": "application/vnd.github.raw"})
    assert raw.headers["content-type"] == "application/vnd.github.raw; charset=utf-8"
    assert raw.text == readme

    as_json = (await gh.get("/repos/octo/docs/readme")).json()
    assert as_json["name"] == "readme.MD"
    assert as_json["encoding"] == "base64"
    assert all(len(line) <= 60 for line in as_json["content"].splitlines())
    assert base64.b64decode(as_json["content"]).decode() == readme

    listing = (await gh.get("/repos/octo/docs/contents/src")).json()
    assert [(e["name"], e["type"]) for e in listing] == [("app.py", "file")]
    fake_github.add_repo("octo", "bare")
    assert (await gh.get("/repos/octo/bare/readme")).status_code == 404


async def test_bytes_files_are_served_as_bytes(
    fake_github: FakeGitHub, gh: httpx.AsyncClient
) -> None:
    fake_github.add_repo("octo", "binary", files={"assets/logo.bin": BINARY})
    raw_accept = {"Accept": "application/vnd.github.v3.raw"}

    raw = await gh.get("/repos/octo/binary/contents/assets/logo.bin", headers=raw_accept)
    assert raw.content == BINARY
    as_json = (await gh.get("/repos/octo/binary/contents/assets/logo.bin")).json()
    assert base64.b64decode(as_json["content"]) == BINARY
    blob = await gh.get(f"/repos/octo/binary/git/blobs/{as_json['sha']}", headers=raw_accept)
    assert blob.content == BINARY


async def test_commits_trees_and_new_shas(fake_github: FakeGitHub, gh: httpx.AsyncClient) -> None:
    repo = fake_github.add_repo("octo", "tree", files={"README.md": "# hi", "src/a.py": "x=1"})
    sha_accept = {"Accept": "application/vnd.github.sha"}

    head = await gh.get("/repos/octo/tree/commits/main", headers=sha_accept)
    assert head.text == repo.commit_sha
    tree = (await gh.get(f"/repos/octo/tree/git/trees/{head.text}?recursive=1")).json()
    assert [(e["path"], e["type"]) for e in tree["tree"]] == [
        ("README.md", "blob"),
        ("src", "tree"),
        ("src/a.py", "blob"),
    ]
    assert tree["sha"] == "b67be3e366430320eb7982bff9db9cafc6ac64de"  # `git write-tree`
    assert "size" not in tree["tree"][1]

    new_sha = fake_github.set_files("octo/tree", {"README.md": "# changed"})
    assert new_sha != head.text
    assert (await gh.get("/repos/octo/tree/commits/main", headers=sha_accept)).text == new_sha
    old = await gh.get(f"/repos/octo/tree/contents/src/a.py?ref={head.text}")
    assert old.status_code == 200
    missing = await gh.get("/repos/octo/tree/commits/nope")
    assert missing.status_code == 422
    assert missing.json()["message"] == "No commit found for SHA: nope"


async def test_rate_limit_exhaustion_then_recovery(
    fake_github: FakeGitHub, gh: httpx.AsyncClient
) -> None:
    fake_github.add_repo("octo", "limited")
    etag = (await gh.get("/repos/octo/limited")).headers["etag"]
    fake_github.exhaust_rate_limit(reset_in=0.3)

    limited = await gh.get("/repos/octo/limited")
    assert limited.status_code == 403
    assert limited.json()["message"].startswith("API rate limit exceeded")
    assert limited.headers["x-ratelimit-remaining"] == "0"
    reset = int(limited.headers["x-ratelimit-reset"])
    assert reset >= time.time()
    cached = await gh.get("/repos/octo/limited", headers={"If-None-Match": etag})
    assert cached.status_code == 304  # conditional requests still answer while exhausted

    await asyncio.sleep(max(0.0, reset - time.time()) + 0.05)
    recovered = await gh.get("/repos/octo/limited")
    assert recovered.status_code == 200
    assert int(recovered.headers["x-ratelimit-remaining"]) == 4999


async def test_fail_next_injects_502_then_recovers(
    fake_github: FakeGitHub, gh: httpx.AsyncClient
) -> None:
    fake_github.add_repo("octo", "flaky")
    fake_github.fail_next(r"^/repos/octo/flaky$", 502, body="<html><body>Unicorn!</body></html>")
    fake_github.fail_next(
        r"/flaky", 403, headers={"retry-after": "7"}, body={"message": "secondary"}
    )

    bad = await gh.get("/repos/octo/flaky")
    assert bad.status_code == 502
    assert bad.headers["content-type"].startswith("text/html")
    throttled = await gh.get("/repos/octo/flaky")
    assert (throttled.status_code, throttled.headers["retry-after"]) == (403, "7")
    assert (await gh.get("/repos/octo/flaky")).status_code == 200
    assert fake_github.count("/flaky", exclude_status=200) == 2


async def test_credentials_and_private_repos(
    fake_github: FakeGitHub, github_server: tuple[FakeGitHub, BackgroundServer]
) -> None:
    fake_github.add_repo("octo", "public")
    fake_github.add_repo("octo", "secret", private=True)
    _, server = github_server
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        bad = await anonymous.get("/repos/octo/public", headers={"Authorization": "token nope"})
        assert bad.status_code == 401
        assert bad.json()["message"] == "Bad credentials"
        assert (await anonymous.get("/repos/octo/public")).status_code == 200
        hidden = await anonymous.get("/repos/octo/secret")
        assert hidden.status_code == 404
        ok = await anonymous.get("/repos/octo/secret", headers={"Authorization": f"token {TOKEN}"})
        assert ok.json()["private"] is True


def test_a_subprocess_reaches_the_server(
    fake_github: FakeGitHub, github_server: tuple[FakeGitHub, BackgroundServer]
) -> None:
    fake_github.add_repo("octo", "remote")
    _, server = github_server
    script = (
        "import json, sys, urllib.request;"
        "print(json.load(urllib.request.urlopen(sys.argv[1]))['full_name'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, f"{server.url}/repos/octo/remote"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert out.stdout.strip() == "octo/remote"


# ---- OpenAI ------------------------------------------------------------------------------


async def test_completion_content_is_a_valid_tutorial(
    fake_llm: FakeOpenAI, llm_client: openai.AsyncOpenAI
) -> None:
    draft = TutorialDraft.model_validate_json(await _tutorial_call(llm_client))

    assert [f.path for f in draft.files_to_read] == ["README.md", "does/not/exist.py"]
    assert any(c.parent for c in draft.concepts)
    (call,) = fake_llm.calls
    assert call.model == "gpt-4o-mini"
    assert call.response_format is not None
    assert call.response_format["type"] == "json_schema"
    assert "Issue #7" in fake_llm.prompt_text(call)
    assert call.headers["authorization"] == f"Bearer {API_KEY}"


async def test_rate_limit_fault_carries_retry_after(
    fake_llm: FakeOpenAI, llm_client: openai.AsyncOpenAI
) -> None:
    fake_llm.fail_next("rate_limit", retry_after=2)
    with pytest.raises(openai.RateLimitError) as caught:
        await _tutorial_call(llm_client)
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.code == "rate_limit_exceeded"
    await _tutorial_call(llm_client)  # the fault was consumed
    assert [c.status for c in fake_llm.calls] == [429, 200]


async def test_server_error_and_bad_content_faults(
    fake_llm: FakeOpenAI, llm_client: openai.AsyncOpenAI
) -> None:
    fake_llm.fail_next("server_error")
    fake_llm.fail_next("malformed")
    fake_llm.fail_next("invalid")
    with pytest.raises(openai.InternalServerError):
        await _tutorial_call(llm_client)
    with pytest.raises(json.JSONDecodeError):
        json.loads(await _tutorial_call(llm_client))
    with pytest.raises(pydantic.ValidationError):
        TutorialDraft.model_validate_json(await _tutorial_call(llm_client))


async def test_wrong_api_key_is_rejected(
    fake_llm: FakeOpenAI, openai_server: tuple[FakeOpenAI, BackgroundServer]
) -> None:
    _, server = openai_server
    async with openai.AsyncOpenAI(
        api_key="sk-wrong", base_url=server.url + "/v1", max_retries=0
    ) as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            await _tutorial_call(wrong)
    assert caught.value.code == "invalid_api_key"
    assert fake_llm.count(status=401) == 1


async def test_hang_times_out_without_blocking_others(
    fake_llm: FakeOpenAI, llm_client: openai.AsyncOpenAI
) -> None:
    fake_llm.fail_next("hang", seconds=30)
    started = time.monotonic()
    hanging = asyncio.create_task(_tutorial_call(llm_client, client_timeout=0.5))
    await asyncio.sleep(0.05)  # the hang is consumed first
    assert json.loads(await _tutorial_call(llm_client))  # served while the other one hangs
    with pytest.raises(openai.APITimeoutError):
        await hanging
    assert time.monotonic() - started < 2
    for _ in range(50):  # the server notices the disconnect and stops hanging
        if fake_llm.count(status=CLIENT_CLOSED):
            break
        await asyncio.sleep(0.01)
    assert [c.status for c in fake_llm.calls] == [200, CLIENT_CLOSED]


async def test_concurrency_is_measured(
    fake_llm: FakeOpenAI, llm_client: openai.AsyncOpenAI
) -> None:
    fake_llm.latency = 0.2
    await asyncio.gather(*(_tutorial_call(llm_client) for _ in range(4)))
    assert fake_llm.max_in_flight == 4
    assert fake_llm.in_flight == 0
    models = await llm_client.models.list()
    assert [m.id for m in models.data] == ["gpt-4o-mini"]


async def test_answers_longer_than_the_output_cap_finish_with_length(
    fake_llm: FakeOpenAI, llm_client: openai.AsyncOpenAI
) -> None:
    messages: list[Any] = [{"role": "user", "content": "Issue #7: retries"}]
    full = await llm_client.chat.completions.create(model="m", messages=messages)
    assert full.choices[0].finish_reason == "stop"
    create = llm_client.chat.completions.create
    capped_by = {
        "max_completion_tokens": await create(
            model="m", messages=messages, max_completion_tokens=20
        ),
        "max_tokens": await create(model="m", messages=messages, max_tokens=20),
    }
    for name, capped in capped_by.items():
        assert capped.choices[0].finish_reason == "length", name
        assert len(capped.choices[0].message.content or "") == 80
        assert capped.usage is not None
        assert capped.usage.completion_tokens == 20
    fake_llm.fail_next("length")
    cut = await llm_client.chat.completions.create(model="m", messages=messages)
    assert cut.choices[0].finish_reason == "length"
    assert cut.choices[0].message.content is not None
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.choices[0].message.content)
    assert [c.body.get("max_completion_tokens") for c in fake_llm.calls] == [None, 20, None, None]
