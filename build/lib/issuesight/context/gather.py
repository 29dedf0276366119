"""Reads an issue with its repository around it from GitHub.

Everything here is I/O: per-issue reads (the issue, its timeline) through GitHubClient, reads
every issue of a repository shares (the repository, its head commit, tree, README and files)
through SharedReads' cache. What to keep of it, within the prompt budget, is decided by bundle.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from issuesight.context.references import FileCandidate, rank_referenced_files
from issuesight.context.text import clean, decode_text
from issuesight.github import errors
from issuesight.github.cache import SharedReads
from issuesight.github.client import RAW, SHA, GitHubClient, parse_json
from issuesight.github.errors import GitHubError
from issuesight.refs import IssueRef

log = logging.getLogger(__name__)

EVENTS_PER_PAGE = 100
MAX_TIMELINE_PAGES = 6  # the first page plus the newest five: 600 events are plenty of context
MAX_FILES = 5
MAX_FILE_BYTES = 400_000
CONTRIBUTING_CANDIDATES = (
    "contributing.md",
    ".github/contributing.md",
    "docs/contributing.md",
    "contributing.rst",
    ".github/contributing.rst",
    "docs/contributing.rst",
    "contributing.txt",
    "contributing",
)


@dataclass
class FetchedFile:
    path: str
    blob_sha: str | None
    text: str | None  # None: binary or too large
    reasons: tuple[str, ...]
    line: int | None
    explicit: bool
    size: int | None


@dataclass
class RawContext:
    repo: dict[str, Any]
    issue: dict[str, Any]
    comments: list[dict[str, Any]]
    comments_total: int
    commit_sha: str | None
    tree_paths: list[str] = field(default_factory=list)
    tree_truncated: bool = False
    readme: tuple[str, str] | None = None
    contributing: tuple[str, str] | None = None
    files: list[FetchedFile] = field(default_factory=list)
    linked_pull_requests: list[dict[str, Any]] = field(default_factory=list)


async def fetch_repository(reads: SharedReads, owner: str, repo: str) -> dict[str, Any]:
    what = f"repository {owner}/{repo}"
    try:
        content = await reads.get(f"/repos/{owner}/{repo}", what=what)
        data = parse_json(content or b"", what)
    except GitHubError as exc:
        if exc.kind == errors.NOT_FOUND:
            raise GitHubError(
                f"Repository {owner}/{repo} was not found on GitHub (it does not exist, or it is "
                "private and the configured token cannot see it)",
                kind=errors.REPOSITORY_NOT_FOUND,
                status=exc.status,
            ) from exc
        raise
    return _expect_dict(data, "repository")


async def fetch_issue(client: GitHubClient, repo_path: str, ref: IssueRef) -> dict[str, Any]:
    try:
        data = await client.get_json(f"{repo_path}/issues/{ref.number}", what=f"issue {ref}")
    except GitHubError as exc:
        if exc.kind == errors.NOT_FOUND:
            raise GitHubError(
                f"Issue {ref} does not exist", kind=errors.ISSUE_NOT_FOUND, status=exc.status
            ) from exc
        if exc.kind == errors.ISSUE_DELETED:
            raise GitHubError(
                f"Issue {ref} was deleted", kind=errors.ISSUE_DELETED, status=exc.status
            ) from exc
        raise
    issue = _expect_dict(data, "issue")
    if issue.get("pull_request"):
        raise GitHubError(
            f"{ref} is a pull request, not an issue: IssueSight explains issues",
            kind=errors.NOT_AN_ISSUE,
        )
    return issue


async def gather_context(reads: SharedReads, ref: IssueRef) -> RawContext:
    client = reads.client
    repo = await fetch_repository(reads, ref.owner, ref.repo)
    # The canonical name survives renames and transfers (GitHub redirected us to it).
    repo_path = f"/repos/{repo.get('full_name') or ref.repo_full_name}"
    issue = await fetch_issue(client, repo_path, ref)
    events = await _fetch_timeline(client, repo_path, ref)
    # The timeline carries the comments as "commented" events: one paginated read, not two.
    comments = [e for e in events if e.get("event") == "commented"]
    commit_sha = await _fetch_head_commit(reads, repo_path, repo)
    raw = RawContext(
        repo=repo,
        issue=issue,
        comments=comments,
        comments_total=max(int(issue.get("comments") or 0), len(comments)),
        commit_sha=commit_sha,
        linked_pull_requests=_linked_pull_requests(events),
    )
    if commit_sha is not None:
        blobs = await _fetch_tree(reads, repo_path, commit_sha, raw)
        raw.readme = await _fetch_readme(reads, repo_path, commit_sha)
        raw.contributing = await _fetch_contributing(reads, repo_path, raw.tree_paths, blobs)
        texts = [clean(issue.get("title")), clean(issue.get("body"))]
        texts += [clean(c.get("body")) for c in comments]
        candidates = rank_referenced_files(texts, raw.tree_paths, limit=MAX_FILES * 2)
        raw.files = await _fetch_files(reads, repo_path, _choose_files(candidates), blobs)
    return raw


async def _fetch_timeline(
    client: GitHubClient, repo_path: str, ref: IssueRef
) -> list[dict[str, Any]]:
    """The first page and the newest pages: the question's framing and its latest state."""
    what = f"the timeline of {ref}"
    first = await client.get(
        f"{repo_path}/issues/{ref.number}/timeline",
        what=what,
        params={"per_page": EVENTS_PER_PAGE},
        allow_missing=True,
    )
    if first is None:
        log.warning("GitHub has no timeline for %s: no comments or linked pull requests", ref)
        return []
    pages: dict[int, list[dict[str, Any]]] = {1: _expect_list(parse_json(first, what), what)}
    last_url = first.links.get("last", {}).get("url")
    if last_url:
        last = httpx.URL(last_url)
        _require_same_origin(client, last, what)
        last_page = int(last.params.get("page", "1"))
        for page in range(last_page, max(1, last_page - MAX_TIMELINE_PAGES + 1), -1):
            url = str(last.copy_set_param("page", str(page)))
            response = await client.get(url, what=what)
            assert response is not None
            pages[page] = _expect_list(parse_json(response, what), what)
    return [e for page in sorted(pages) for e in pages[page] if isinstance(e, dict)]


async def _fetch_head_commit(
    reads: SharedReads, repo_path: str, repo: dict[str, Any]
) -> str | None:
    branch = str(repo.get("default_branch") or "HEAD")
    try:
        response = await reads.get(
            f"{repo_path}/commits/{quote(branch, safe='')}",
            what=f"the head commit of {repo_path[7:]}",
            accept=SHA,
            allow_missing=True,
        )
    except GitHubError as exc:
        if exc.status == 409:  # "Git Repository is empty": issues without code still exist
            return None
        raise
    if response is None:
        return None
    sha = response.decode("ascii", "replace").strip()
    return sha if len(sha) == 40 and all(c in "0123456789abcdef" for c in sha) else None


async def _fetch_tree(
    reads: SharedReads, repo_path: str, commit_sha: str, raw: RawContext
) -> dict[str, tuple[str, int | None]]:
    what = f"the file tree of {repo_path[7:]}"
    content = await reads.get(
        f"{repo_path}/git/trees/{commit_sha}",
        what=what,
        params={"recursive": "1"},
        allow_missing=True,
        immutable=True,
    )
    data = None if content is None else parse_json(content, what)
    if not isinstance(data, dict):
        return {}
    blobs: dict[str, tuple[str, int | None]] = {}
    for entry in data.get("tree") or []:
        if isinstance(entry, dict) and entry.get("type") == "blob" and entry.get("path"):
            size = entry.get("size")
            blobs[str(entry["path"])] = (
                str(entry.get("sha", "")),
                size if isinstance(size, int) else None,
            )
    raw.tree_paths = sorted(blobs)
    raw.tree_truncated = bool(data.get("truncated"))
    return blobs


async def _fetch_readme(
    reads: SharedReads, repo_path: str, commit_sha: str
) -> tuple[str, str] | None:
    content = await reads.get(
        f"{repo_path}/readme",
        what="the README",
        params={"ref": commit_sha},
        accept=RAW,
        allow_missing=True,
        immutable=True,
    )
    if content is None:
        return None
    text = decode_text(content)
    return None if text is None else ("README", text)


async def _fetch_contributing(
    reads: SharedReads,
    repo_path: str,
    tree_paths: list[str],
    blobs: dict[str, tuple[str, int | None]],
) -> tuple[str, str] | None:
    by_lower = {p.lower(): p for p in tree_paths}
    for candidate in CONTRIBUTING_CANDIDATES:
        path = by_lower.get(candidate)
        if path is None:
            continue
        data = await _fetch_blob(reads, repo_path, blobs[path][0], path)
        text = None if data is None else decode_text(data)
        if text:
            return path, text
    return None


def _choose_files(candidates: list[FileCandidate]) -> list[FileCandidate]:
    """Files the issue names first; a few keyword matches only when it names fewer."""
    explicit = [c for c in candidates if c.explicit][:MAX_FILES]
    implicit = [c for c in candidates if not c.explicit]
    room = max(0, min(3, MAX_FILES) - len(explicit))
    return explicit + implicit[:room]


async def _fetch_files(
    reads: SharedReads,
    repo_path: str,
    chosen: list[FileCandidate],
    blobs: dict[str, tuple[str, int | None]],
) -> list[FetchedFile]:
    fetched = []
    for candidate in chosen:
        blob_sha, size = blobs.get(candidate.path, ("", None))
        text: str | None = None
        if blob_sha and (size is None or size <= MAX_FILE_BYTES):
            data = await _fetch_blob(reads, repo_path, blob_sha, candidate.path)
            text = None if data is None else decode_text(data)
        fetched.append(
            FetchedFile(
                path=candidate.path,
                blob_sha=blob_sha or None,
                text=text,
                reasons=candidate.reasons,
                line=candidate.line,
                explicit=candidate.explicit,
                size=size,
            )
        )
    return fetched


async def _fetch_blob(reads: SharedReads, repo_path: str, sha: str, path: str) -> bytes | None:
    # Blobs are addressed by content hash: immutable, so the cache keeps them until evicted.
    return await reads.get(
        f"{repo_path}/git/blobs/{sha}", what=path, accept=RAW, allow_missing=True, immutable=True
    )


def _linked_pull_requests(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pull requests that mention the issue: someone may already be working on it."""
    linked: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.get("event") != "cross-referenced":
            continue
        source = (event.get("source") or {}).get("issue") or {}
        if isinstance(source, dict) and source.get("pull_request") and source.get("number"):
            linked[int(source["number"])] = {
                "number": int(source["number"]),
                "state": str(source.get("state") or ""),
                "title": clean(str(source.get("title") or ""))[:300],
                "merged": bool((source.get("pull_request") or {}).get("merged_at")),
            }
    return [linked[n] for n in sorted(linked)]


def _require_same_origin(client: GitHubClient, url: httpx.URL, what: str) -> None:
    base = client.base_url
    if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
        raise GitHubError(
            f"GitHub sent a pagination link to another host for {what}", kind=errors.UNAVAILABLE
        )


def _expect_dict(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise GitHubError(f"GitHub sent an unexpected {what} document", kind=errors.UNAVAILABLE)
    return data


def _expect_list(data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise GitHubError(f"GitHub sent an unexpected page of {what}", kind=errors.UNAVAILABLE)
    return data
