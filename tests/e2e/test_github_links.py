"""Links to GitHub follow the GitHub in use: GITHUB_WEB_URL, derived from GITHUB_API_URL when
unset (api.github.com: github.com; an Enterprise's https://HOST/api/v3: https://HOST), on the
tutorial page (the issue, the commit read), the project page and the status JSON."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.helpers import MakeStack, store_tutorial

SHA = "abc123def4567890"


def _github_links(html: str) -> set[str]:
    return {h for h in re.findall(r'href="([^"]+)"', html) if "://" in h and "/octo-org/" in h}


@pytest.mark.parametrize(
    ("settings", "web"),
    [
        ({"github_api_url": "https://ghe.example/api/v3"}, "https://ghe.example"),
        ({"github_web_url": "https://code.example:8443/"}, "https://code.example:8443"),
        ({"github_api_url": "https://api.github.com"}, "https://github.com"),
    ],
)
async def test_links_point_at_the_configured_github(
    make_stack: MakeStack, database_url: str, settings: dict[str, str], web: str
) -> None:
    # No worker: nothing here talks to GitHub, whose address may not be this machine's.
    stack = await make_stack(database_url, worker=False, **settings)
    repo = f"links-{uuid.uuid4().hex[:8]}"
    tutorial_id = store_tutorial(stack.store, repo, 4, commit_sha=SHA)

    page = await stack.api.get(f"/tutorials/{tutorial_id}")
    assert page.status_code == 200
    links = _github_links(page.text)
    assert f"{web}/octo-org/{repo}/issues/4" in links
    assert f"{web}/octo-org/{repo}/tree/{SHA}" in links

    project = await stack.api.get(f"/projects/octo-org/{repo}")
    assert project.status_code == 200
    assert f"{web}/octo-org/{repo}" in _github_links(project.text)

    for path in (f"/api/v1/tutorials/{tutorial_id}", f"/api/v1/issues/octo-org/{repo}/4/tutorial"):
        body = (await stack.api.get(path)).json()
        assert body["issue_url"] == f"{web}/octo-org/{repo}/issues/4"
    if web != "https://github.com":
        # (The tutorial's file links are GitHub's own html_url, as the repository document
        # gave it when the context was read: right on an Enterprise host by construction.)
        assert not any(link.startswith("https://github.com/") for link in links - _files(page))
        assert not any(
            link.startswith("https://github.com/") for link in _github_links(project.text)
        )


def _files(page: httpx.Response) -> set[str]:
    return {link for link in _github_links(page.text) if "/blob/" in link}
