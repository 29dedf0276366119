"""A repository's gzip tar archive at one commit: one API request, one redirect, a byte cap.

`GET /repos/{owner}/{repo}/tarball/{ref}` answers 302 to the archive: on github.com to
codeload.github.com, on GitHub Enterprise to the same host (or to `codeload.HOST` with
subdomain isolation). The redirect is followed only there — never to an arbitrary host a
compromised or misconfigured server names (SSRF) — and the token only ever goes to the API's
own origin (codeload's URL carries its own short-lived token for private repositories).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

import httpx

from issuesight.github.client import GitHubClient

GITHUB_API_HOST = "api.github.com"
GITHUB_ARCHIVE_HOST = "codeload.github.com"


def archive_target_allowed(
    api: httpx.URL, target: httpx.URL, extra_origins: Sequence[str] = ()
) -> bool:
    """Whether an archive redirect may be followed to `target`.

    Allowed: the API's own origin (GitHub Enterprise); GitHub's archive host over https
    (`codeload.github.com` for api.github.com, `codeload.HOST` for an Enterprise HOST); and,
    for tests, origins passed explicitly.
    """
    origin = (target.scheme, target.host, target.port)
    if origin == (api.scheme, api.host, api.port):
        return True
    for extra in extra_origins:
        allowed = httpx.URL(extra)
        if origin == (allowed.scheme, allowed.host, allowed.port):
            return True
    if target.scheme != "https" or target.port not in (None, 443) or target.userinfo:
        return False
    if api.host == GITHUB_API_HOST:
        return target.host == GITHUB_ARCHIVE_HOST
    return bool(api.host) and target.host == f"codeload.{api.host}"


async def download_archive(
    client: GitHubClient,
    repo_full_name: str,
    commit_sha: str,
    sink: IO[bytes],
    *,
    max_bytes: int,
    extra_origins: Sequence[str] = (),
) -> int:
    """Streams the archive of `repo_full_name` at `commit_sha` into `sink`; the bytes written.

    Raises client.TooLarge past `max_bytes`, client.RedirectRefused for a redirect to another
    host, GitHubError for an error answer (404, 409 for an empty repository, 5xx...).
    """
    api = client.base_url

    def allowed(target: httpx.URL) -> bool:
        return archive_target_allowed(api, target, extra_origins)

    return await client.download(
        f"/repos/{repo_full_name}/tarball/{commit_sha}",
        sink,
        what=f"the archive of {repo_full_name} at {commit_sha[:12]}",
        max_bytes=max_bytes,
        allow_redirect=allowed,
    )
