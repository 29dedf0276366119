"""Reads an issue with its repository around it from GitHub.

Per-issue reads (the issue, its timeline) go through GitHubClient; reads every issue of a
repository shares go through SharedReads' cache (the repository, its head commit) and, for the
code, through RepoIndexes: the repository's archive at the commit, read once, indexed, and
ranked against the issue (retrieve.py). When the archive cannot be had, the tree and the files
the issue names are read one by one as before. What to keep, within the prompt budget, is
decided by bundle.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from issuesight.context.index import RepoIndex
from issuesight.context.indexes import RepoIndexes
from issuesight.context.references import FileCandidate, rank_referenced_files
from issuesight.context.retrieve import Picks, RankedFile, Region, apply_picks, rank_files
from issuesight.core.text import clean, decode_text
from issuesight.domain.failures import FailureKind
from issuesight.domain.refs import IssueRef
from issuesight.github.cache import SharedReads
from issuesight.github.client import RAW, SHA, GitHubClient, parse_json
from issuesight.github.errors import GitHubError
from issuesight.github.visibility import fetch_publishable_repository

log = logging.getLogger(__name__)

EVENTS_PER_PAGE = 100
MAX_TIMELINE_PAGES = 6  # the first page plus the newest five: 600 events are plenty of context
MAX_FILES = 5
MAX_FILE_BYTES = 400_000
# With an index: the ranked files offered to the bundle (it gives the best the most room and
# stops where the room does), and how many more the repository map may name.
INDEXED_FILES = 16
MAP_FILES = 40
MAX_MAP_SIGNATURES = 4
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


# README and CONTRIBUTING read one by one are size-checked first and streamed with this cap:
# the prompt keeps a tenth of the budget of them at most.
MAX_GUIDE_BYTES = 512 * 1024


# The optional localization step (llm/localize.py): the issue's texts and the map's entries in,
# the model's picks out (None: the ranking stands).
Localize = Callable[[list[str], list[tuple[str, list[str]]]], Awaitable[Picks | None]]


@dataclass(frozen=True)
class GatherOptions:
    # Owners (lower-case) whose private repositories may be explained; all others are
    # refused exactly as a missing repository is (github/visibility.py: the one rule).
    allowed_private_owners: frozenset[str] = frozenset()
    indexes: RepoIndexes | None = None


@dataclass
class FetchedFile:
    path: str
    blob_sha: str | None
    text: str | None  # None: binary or too large
    reasons: tuple[str, ...]
    line: int | None
    explicit: bool
    size: int | None
    # Line spans worth showing, most important first; none for files chosen by path alone,
    # whose excerpt is their head (or a window around the line the issue names).
    regions: tuple[Region, ...] = ()


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
    # (path, signatures) of the best-ranked files, for the repository map.
    repo_map: list[tuple[str, list[str]]] = field(default_factory=list)


async def fetch_issue(client: GitHubClient, repo_path: str, ref: IssueRef) -> dict[str, Any]:
    try:
        data = await client.get_json(f"{repo_path}/issues/{ref.number}", what=f"issue {ref}")
    except GitHubError as exc:
        if exc.kind == FailureKind.NOT_FOUND:
            raise GitHubError(
                f"Issue {ref} does not exist", kind=FailureKind.ISSUE_NOT_FOUND, status=exc.status
            ) from exc
        if exc.kind == FailureKind.ISSUE_DELETED:
            raise GitHubError(
                f"Issue {ref} was deleted", kind=FailureKind.ISSUE_DELETED, status=exc.status
            ) from exc
        raise
    issue = _expect_dict(data, "issue")
    if issue.get("pull_request"):
        raise GitHubError(
            f"{ref} is a pull request, not an issue: IssueSight explains issues",
            kind=FailureKind.NOT_AN_ISSUE,
        )
    return issue


async def gather_context(
    reads: SharedReads,
    ref: IssueRef,
    options: GatherOptions | None = None,
    *,
    localize: Localize | None = None,
) -> RawContext:
    options = options or GatherOptions()
    client = reads.client
    repo = await fetch_publishable_repository(
        reads, ref.owner, ref.repo, allowed_private_owners=options.allowed_private_owners
    )
    # The canonical name survives renames and transfers (GitHub redirected us to it).
    full_name = str(repo.get("full_name") or ref.repo_full_name)
    repo_path = f"/repos/{full_name}"
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
    if commit_sha is None:
        return raw
    texts = [clean(issue.get("title")), clean(issue.get("body"))]
    texts += [clean(c.get("body")) for c in comments]
    index = await options.indexes.get(full_name, commit_sha) if options.indexes else None
    if index is not None:
        raw.tree_paths = index.paths
        raw.readme = readme_from_index(index)
        raw.contributing = contributing_from_index(index)
        ranked = await asyncio.to_thread(rank_files, index, texts, limit=INDEXED_FILES + MAP_FILES)
        if localize is not None:
            entries = [(r.path, map_signatures(index, r)) for r in ranked]
            picks = await localize(texts, entries)
            if picks is not None:
                ranked = apply_picks(index, ranked, picks)
        raw.files, raw.repo_map = files_from_ranked(index, ranked)
        return raw
    blobs = await _fetch_tree(reads, repo_path, commit_sha, raw)
    raw.readme = await _fetch_readme(reads, repo_path, commit_sha, blobs)
    raw.contributing = await _fetch_contributing(reads, repo_path, raw.tree_paths, blobs)
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
    reads: SharedReads,
    repo_path: str,
    commit_sha: str,
    blobs: dict[str, tuple[str, int | None]],
) -> tuple[str, str] | None:
    """The root README from the tree (its size checked first), else GitHub's choice of README
    streamed with a byte cap: a 50 MB README costs MAX_GUIDE_BYTES, not 50 MB of memory."""
    root = [p for p in blobs if "/" not in p and p.lower().startswith("readme")]
    if root:
        path = min(root, key=lambda p: (p.lower() != "readme.md", p))
        data = await _fetch_guide(reads, repo_path, path, blobs)
        text = None if data is None else decode_text(data)
        return None if not text else ("README", text)
    content = await reads.get(
        f"{repo_path}/readme",
        what="the README",
        params={"ref": commit_sha},
        accept=RAW,
        allow_missing=True,
        immutable=True,
        max_bytes=MAX_GUIDE_BYTES,
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
        data = await _fetch_guide(reads, repo_path, path, blobs)
        text = None if data is None else decode_text(data)
        if text:
            return path, text
    return None


async def _fetch_guide(
    reads: SharedReads, repo_path: str, path: str, blobs: dict[str, tuple[str, int | None]]
) -> bytes | None:
    """A README or CONTRIBUTING blob, skipped when the tree says it is over MAX_GUIDE_BYTES
    and streamed with that cap in case the tree's size was not given."""
    sha, size = blobs[path]
    if size is not None and size > MAX_GUIDE_BYTES:
        log.info("guide too large to read", extra={"path": path, "bytes": size})
        return None
    return await reads.get(
        f"{repo_path}/git/blobs/{sha}",
        what=path,
        accept=RAW,
        allow_missing=True,
        immutable=True,
        max_bytes=MAX_GUIDE_BYTES,
    )


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


def files_from_index(
    index: RepoIndex, texts: list[str]
) -> tuple[list[FetchedFile], list[tuple[str, list[str]]]]:
    """The ranked files with their text and regions, and the repository map's entries."""
    return files_from_ranked(index, rank_files(index, texts, limit=INDEXED_FILES + MAP_FILES))


def files_from_ranked(
    index: RepoIndex, ranked: list[RankedFile]
) -> tuple[list[FetchedFile], list[tuple[str, list[str]]]]:
    files = []
    for entry in ranked[:INDEXED_FILES]:
        source = index.text(entry.path)
        files.append(
            FetchedFile(
                path=entry.path,
                blob_sha=source.blob_sha if source else None,
                text=source.text if source else None,
                reasons=entry.reasons,
                line=entry.line,
                explicit=entry.explicit,
                size=index.sizes.get(entry.path),
                regions=tuple(entry.regions),
            )
        )
    repo_map = [(entry.path, map_signatures(index, entry)) for entry in ranked]
    return files, repo_map


def map_signatures(index: RepoIndex, entry: RankedFile) -> list[str]:
    """A file's lines in the repository map: the definitions the issue matched (a method with
    its class), then its other top-level definitions, in file order."""
    definitions = index.definitions_of(entry.path)
    wanted: set[int] = set()
    for region in entry.regions:
        for i, definition in enumerate(definitions):
            if definition.line <= region.start <= definition.end and (
                definition.depth == 0 or region.named
            ):
                wanted.add(i)
    for i, definition in enumerate(definitions):
        if len(wanted) >= MAX_MAP_SIGNATURES:
            break
        if definition.depth == 0:
            wanted.add(i)
    return [
        "  " * definitions[i].depth + definitions[i].signature
        for i in sorted(wanted)[:MAX_MAP_SIGNATURES]
    ]


README_PREFERENCE = (".md", ".markdown", ".rst", ".txt", "")


def readme_from_index(index: RepoIndex) -> tuple[str, str] | None:
    """The README GitHub would show: at the root, Markdown first."""
    found = [p for p in index.file_ids if "/" not in p and p.lower().startswith("readme")]

    def preference(path: str) -> tuple[int, str]:
        suffix = path.lower().removeprefix("readme")
        rank = README_PREFERENCE.index(suffix) if suffix in README_PREFERENCE else 9
        return rank, path

    for path in sorted(found, key=preference):
        source = index.text(path)
        if source is not None and source.text.strip():
            return "README", source.text
    return None


def contributing_from_index(index: RepoIndex) -> tuple[str, str] | None:
    by_lower = {p.lower(): p for p in index.file_ids}
    for candidate in CONTRIBUTING_CANDIDATES:
        path = by_lower.get(candidate)
        source = index.text(path) if path else None
        if source is not None and source.text.strip():
            return source.path, source.text
    return None


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
            f"GitHub sent a pagination link to another host for {what}",
            kind=FailureKind.GITHUB_UNAVAILABLE,
        )


def _expect_dict(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise GitHubError(
            f"GitHub sent an unexpected {what} document", kind=FailureKind.GITHUB_UNAVAILABLE
        )
    return data


def _expect_list(data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise GitHubError(
            f"GitHub sent an unexpected page of {what}", kind=FailureKind.GITHUB_UNAVAILABLE
        )
    return data
