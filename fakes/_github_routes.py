"""The fake GitHub's read endpoints, below /repos/{owner}/{repo} and /repositories/{id}.

Routes are plain functions of the request context and one repository; they run with the
fake's lock held and answer errors by raising Fail.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import _github_json as render
from ._archive import repository_entries, tar_gz
from ._git import Commit, TreeEntry
from ._github_state import FakeRepo, Issue, now, to_datetime

DOCS = "https://docs.github.com/rest"
JSON_TYPE = "application/json; charset=utf-8"
_RAW_ACCEPT = re.compile(r"application/vnd\.github\.(v3\.)?raw")
_SHA_ACCEPT = re.compile(r"application/vnd\.github\.(v3\.)?sha")
# GitHub serves files over 1 MiB through the contents API without inline content.
_INLINE_CONTENT_LIMIT = 1024 * 1024


@dataclass
class Answer:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    counted: bool = True  # spends rate-limit budget


class Fail(Exception):
    """Raised to answer with an error instead."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


@dataclass(frozen=True)
class Ctx:
    """What a route needs from the request."""

    api: str  # the base URL as the client reached us, for self links
    query: dict[str, str]
    accept: str
    # Where archives are served from ("" for the API's own origin, as on GitHub Enterprise),
    # or a Location that replaces the archive redirect altogether.
    archive_origin: str = ""
    archive_location: str = ""

    @property
    def raw(self) -> bool:
        return bool(_RAW_ACCEPT.search(self.accept))


def json_answer(status: int, payload: Any) -> Answer:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Answer(status, body, JSON_TYPE)


def error(status: int, message: str, doc: str = DOCS) -> Fail:
    return Fail(
        json_answer(status, {"message": message, "documentation_url": doc, "status": str(status)})
    )


def not_found(doc: str = DOCS) -> Fail:
    return error(404, "Not Found", doc)


def route(ctx: Ctx, repo: FakeRepo, rest: str) -> Answer:
    """Answer for `rest`, the path after the repository's prefix ("" for the repository)."""
    for pattern, handler in _ROUTES:
        match = pattern.fullmatch(rest)
        if match:
            params = {k: v for k, v in match.groupdict().items() if v is not None}
            return handler(ctx, repo, params)
    raise not_found()


def _page_params(query: Mapping[str, str]) -> tuple[int, int]:
    def as_int(name: str, default: int) -> int:
        try:
            return int(query.get(name, default))
        except ValueError:
            return default

    return min(max(as_int("per_page", 30), 1), 100), max(as_int("page", 1), 1)


def _parse_since(query: Mapping[str, str]) -> datetime | None:
    raw = query.get("since")
    if raw is None:
        return None
    try:
        return to_datetime(raw, now())
    except ValueError:
        raise error(422, f"Invalid value for since: {raw!r}") from None


def _paginate(ctx: Ctx, items: Sequence[Any], link_path: str) -> Answer:
    per_page, page = _page_params(ctx.query)
    last = max(1, math.ceil(len(items) / per_page))
    answer = json_answer(200, list(items[(page - 1) * per_page : page * per_page]))
    link = render.link_header(
        ctx.api, link_path, ctx.query, per_page=per_page, page=page, last=last
    )
    if link:
        answer.headers["link"] = link
    return answer


def _get_repo(ctx: Ctx, repo: FakeRepo, params: dict[str, str]) -> Answer:
    return json_answer(200, render.repository(ctx.api, repo))


def _live_issue(repo: FakeRepo, params: Mapping[str, str]) -> Issue:
    doc = f"{DOCS}/issues/issues#get-an-issue"
    item = repo.issues.get(int(params["number"]))
    if item is None:
        raise not_found(doc)
    if item.deleted:
        raise error(410, "This issue was deleted", doc)
    return item


def _get_issue(ctx: Ctx, repo: FakeRepo, params: dict[str, str]) -> Answer:
    return json_answer(200, render.issue(ctx.api, repo, _live_issue(repo, params)))


def _list_issues(ctx: Ctx, repo: FakeRepo, params: dict[str, str]) -> Answer:
    state = ctx.query.get("state", "open")
    if state not in {"open", "closed", "all"}:
        raise error(422, "Validation Failed", f"{DOCS}/issues/issues#list-repository-issues")
    wanted = {n.strip().lower() for n in ctx.query.get("labels", "").split(",") if n.strip()}
    since = _parse_since(ctx.query)
    items = [
        i
        for i in repo.issues.values()
        if not i.deleted
        and (state == "all" or i.state == state)
        and wanted <= {n.lower() for n in i.labels}
        and (since is None or i.updated_at >= since)
    ]
    sort_keys: dict[str, Callable[[Issue], Any]] = {
        "created": lambda i: (i.created_at, i.number),
        "updated": lambda i: (i.updated_at, i.number),
        "comments": lambda i: (len(i.comments), i.number),
    }
    sort_key = sort_keys.get(ctx.query.get("sort", "created"), sort_keys["created"])
    items.sort(key=sort_key, reverse=ctx.query.get("direction", "desc") != "asc")
    rendered = [render.issue(ctx.api, repo, i) for i in items]
    return _paginate(ctx, rendered, f"/repositories/{repo.id}/issues")


def _list_comments(ctx: Ctx, repo: FakeRepo, params: dict[str, str]) -> Answer:
    item = _live_issue(repo, params)
    since = _parse_since(ctx.query)
    notes = sorted(
        (c for c in item.comments if since is None or c.updated_at >= since),
        key=lambda c: (c.created_at, c.id),
    )
    rendered = [render.comment(ctx.api, repo, item, c) for c in notes]
    return _paginate(ctx, rendered, f"/repositories/{repo.id}/issues/{item.number}/comments")


def _list_timeline(ctx: Ctx, repo: FakeRepo, params: dict[str, str]) -> Answer:
    item = _live_issue(repo, params)
    events = render.timeline(ctx.api, repo, item)
    return _paginate(ctx, events, f"/repositories/{repo.id}/issues/{item.number}/timeline")


def _resolve_commit(repo: FakeRepo, ref: str) -> Commit | None:
    """The default branch (also as HEAD), or a full or abbreviated (7+) commit sha."""
    if ref in {repo.default_branch, "HEAD", f"heads/{repo.default_branch}"}:
        return repo.head
    if re.fullmatch(r"[0-9a-fA-F]{7,40}", ref):
        found = [c for sha, c in repo.objects.commits.items() if sha.startswith(ref.lower())]
        if len(found) == 1:
            return found[0]
    return None


def _refuse_if_empty(repo: FakeRepo, doc: str) -> None:
    if repo.empty:
        raise error(409, "Git Repository is empty.", doc)


def _get_commit(ctx: Ctx, repo: FakeRepo, params: dict[str, str]) -> Answer:
    _refuse_if_empty(repo, f"{DOCS}/commits/commits#get-a-commit")
    found = _resolve_commit(repo, params["ref"])
    if found is None:
        raise error(
            422,
            f"No commit found for SHA: {params['ref']}",
            f"{DOCS}/commits/commits#get-a-commit",
        )
    if _SHA_ACCEPT.search(ctx.accept):
        # The bare sha: no JSON, no newline.
        return Answer(200, found.sha.encode(), "application/vnd.github.sha; charset=utf-8")
    return json_answer(200, render.commit(ctx.api, repo, found))


def _get_tree(ctx: Ctx, repo: FakeRepo, params: dict[str, str]) -> Answer:
    _refuse_if_empty(repo, f"{DOCS}/git/trees#get-a-tree")
    ref = params["ref"]
    tree_sha = ref.lower() if ref.lower() in repo.objects.trees else None
    if tree_sha is None:
        found = _resolve_commit(repo, ref)
        if found is None:
            raise not_found(f"{DOCS}/git/trees#get-a-tree")
        tree_sha = found.tree_sha
    # GitHub treats any value of `recursive` as true, "0" and "false" included.
    recursive = "recursive" in ctx.query
    return json_answer(200, render.tree(ctx.api, repo, tree_sha, recursive=recursive))


def _raw(ctx: Ctx, data: bytes) -> Answer:
    # The answer names the media type in the form asked for (v3 or not), as GitHub does.
    media = (
        "application/vnd.github.v3.raw" if ".v3." in ctx.accept else "application/vnd.github.raw"
    )
    headers = {"x-github-media-type": "github.v3; param=raw"}
    return Answer(200, data, f"{media}; charset=utf-8", headers)


def _get_blob(ctx: Ctx, repo: FakeRepo, params: dict[str, str]) -> Answer:
    sha = params["sha"].lower()
    data = repo.objects.blobs.get(sha)
    if data is None:
        raise not_found(f"{DOCS}/git/blobs#get-a-blob")
    if ctx.raw:
        return _raw(ctx, data)
    return json_answer(200, render.blob(ctx.api, repo, sha, data))


def _file(ctx: Ctx, repo: FakeRepo, ref: str, path: str, entry: TreeEntry) -> Answer:
    data = repo.objects.blobs[entry.sha]
    if ctx.raw:
        return _raw(ctx, data)
    inline = len(data) <= _INLINE_CONTENT_LIMIT
    payload = {
        **render.content_entry(ctx.api, repo, ref, path, entry),
        "content": render.b64_lines(data) if inline else "",
        "encoding": "base64" if inline else "none",
    }
    return json_answer(200, payload)


def _ref_commit(ctx: Ctx, repo: FakeRepo) -> tuple[str, Commit]:
    ref = ctx.query.get("ref") or repo.default_branch
    found = _resolve_commit(repo, ref)
    if found is None:
        doc = f"{DOCS}/repos/contents#get-repository-content"
        raise error(404, f"No commit found for the ref {ref}", doc)
    return ref, found


def _get_readme(ctx: Ctx, repo: FakeRepo, params: dict[str, str]) -> Answer:
    ref, found = _ref_commit(ctx, repo)
    readmes = [
        e
        for e in repo.objects.trees[found.tree_sha]
        if e.type == "blob" and e.name.lower().startswith("readme")
    ]
    if not readmes:
        raise not_found(f"{DOCS}/repos/contents#get-a-repository-readme")
    entry = min(readmes, key=lambda e: (e.name.lower() != "readme.md", e.name))
    return _file(ctx, repo, ref, entry.name, entry)


def _get_contents(ctx: Ctx, repo: FakeRepo, params: dict[str, str]) -> Answer:
    ref, found = _ref_commit(ctx, repo)
    path = params.get("path", "").strip("/")
    entry = repo.objects.resolve(found.tree_sha, path)
    if entry is None:
        raise not_found(f"{DOCS}/repos/contents#get-repository-content")
    if entry.type == "blob":
        return _file(ctx, repo, ref, path, entry)
    listing = [
        render.content_entry(ctx.api, repo, ref, f"{path}/{name}".lstrip("/"), child)
        for name, child in repo.objects.walk(entry.sha, recursive=False)
    ]
    return json_answer(200, listing)


CODELOAD_PREFIX = "/_codeload"


def _get_tarball(ctx: Ctx, repo: FakeRepo, params: dict[str, str]) -> Answer:
    """302 to the archive, as GitHub answers: codeload.github.com there, the same host on
    GitHub Enterprise. The archive itself is served by `codeload`."""
    doc = f"{DOCS}/repos/contents#download-a-repository-archive-tar"
    _refuse_if_empty(repo, doc)
    found = _resolve_commit(repo, params["ref"])
    if found is None:
        raise not_found(doc)
    location = ctx.archive_location or (
        f"{ctx.archive_origin or ctx.api}{CODELOAD_PREFIX}/{repo.owner}/{repo.name}"
        f"/legacy.tar.gz/{found.sha}"
    )
    return Answer(302, b"", "text/html;charset=utf-8", {"location": location})


def codeload(repo: FakeRepo, sha: str) -> Answer:
    """The archive at a commit: not an API call, so not counted against the rate limit."""
    found = _resolve_commit(repo, sha)
    if found is None or repo.empty:
        raise not_found()
    top = f"{repo.owner}-{repo.name}-{found.sha[:7]}"
    if repo.archive is not None:
        body = repo.archive
    else:
        body = tar_gz(
            repository_entries(repo.objects, found.tree_sha, top),
            comment=found.sha,
            mtime=int(found.date.timestamp()),
        )
    headers = {"content-disposition": f"attachment; filename={top}.tar.gz"}
    return Answer(200, body, "application/x-gzip", headers, counted=False)


_ROUTES: list[tuple[re.Pattern[str], Callable[[Ctx, FakeRepo, dict[str, str]], Answer]]] = [
    (re.compile(pattern), handler)
    for pattern, handler in [
        (r"", _get_repo),
        (r"/issues", _list_issues),
        (r"/issues/(?P<number>\d+)", _get_issue),
        (r"/issues/(?P<number>\d+)/comments", _list_comments),
        (r"/issues/(?P<number>\d+)/timeline", _list_timeline),
        (r"/commits/(?P<ref>.+)", _get_commit),
        (r"/git/trees/(?P<ref>.+)", _get_tree),
        (r"/git/blobs/(?P<sha>[0-9a-fA-F]+)", _get_blob),
        (r"/readme", _get_readme),
        (r"/contents(?:/(?P<path>.*))?", _get_contents),
        (r"/tarball/(?P<ref>.+)", _get_tarball),
    ]
]
