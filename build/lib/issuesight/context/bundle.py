"""The bounded context a generation reads: what to keep of an issue and its repository.

Whatever the issue's size, the bundle fits the prompt budget. Priority: the issue itself, the
README, the files it refers to, CONTRIBUTING, then comments newest first (the latest state of a
discussion matters more than its middle).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from issuesight.context.gather import RawContext
from issuesight.context.text import (
    clean,
    scrub,
    truncate_head,
    truncate_middle,
    window_around_line,
)
from issuesight.db.types import parse_time
from issuesight.refs import IssueRef

STALE_AFTER = timedelta(days=180)
# Characters reserved for the instructions, the data delimiters and the fixed lines and headings
# of the prompt (2,100 to 2,500 today; tests/test_unit_prompt.py checks the margin holds).
FIXED_OVERHEAD = 2_600
# The heading of one comment or file excerpt (a longer file heading is counted as it is).
PER_ITEM_OVERHEAD = 120
MIN_COMMENT_CHARS = 400
# The share of the budget the short fields (description, labels, layout, pull requests…) may
# claim from the long texts; beyond it, the prompt renderer shortens them instead.
METADATA_SHARE = 0.25
# The issue body keeps at least this share of the budget (or all of itself), whatever else the
# bundle holds: the prompt renderer shortens the other parts first.
MIN_BODY_SHARE = 0.1
# Below this many characters a file excerpt says nothing useful: it is left out with a note.
MIN_FILE_CHARS = 200
MAX_FLAGGED_PRS = 10
LEFT_OUT = "left out to fit the prompt budget"


class CommentExcerpt(BaseModel):
    author: str
    created_at: str | None
    body: str
    truncated: bool


class FileExcerpt(BaseModel):
    path: str
    url: str
    reasons: list[str]
    line: int | None
    content: str | None
    note: str | None = None


class LinkedPullRequest(BaseModel):
    number: int
    state: str
    title: str
    merged: bool


class ContextBundle(BaseModel):
    issue_key: str
    repo_full_name: str
    repo_description: str
    repo_language: str | None
    repo_url: str
    commit_sha: str | None
    issue_title: str
    issue_body: str
    issue_body_truncated: bool
    issue_state: str
    issue_url: str
    labels: list[str]
    assignees: list[str]
    author: str
    created_at: str | None
    updated_at: str | None
    comments: list[CommentExcerpt]
    comments_total: int
    readme: str | None
    contributing_path: str | None
    contributing: str | None
    files: list[FileExcerpt]
    tree_outline: list[str]
    tree_paths: list[str]
    tree_truncated: bool
    linked_pull_requests: list[LinkedPullRequest]
    observed_flags: list[str]
    fingerprint: str
    budget_chars: int

    @property
    def comments_omitted(self) -> int:
        return max(0, self.comments_total - len(self.comments))

    def blob_url(self, path: str) -> str:
        return blob_url(self.repo_url, self.commit_sha, path)


def blob_url(repo_url: str, commit: str | None, path: str) -> str:
    """The file on GitHub at the commit read; the path percent-encoded (its `/` kept), so a
    space, a parenthesis or a `#` in a file name cannot end or change the URL."""
    return f"{repo_url}/blob/{quote(commit or 'HEAD', safe='')}/{quote(path, safe='/')}"


def build_bundle(
    raw: RawContext,
    ref: IssueRef,
    *,
    budget_chars: int,
    secrets: Sequence[str] = (),
    now: datetime | None = None,
) -> ContextBundle:
    now = now or datetime.now(UTC)

    def safe(text: Any) -> str:
        return scrub(clean(text if isinstance(text, str) else None), secrets)

    issue, repo = raw.issue, raw.repo
    repo_url = str(repo.get("html_url") or f"https://github.com/{ref.repo_full_name}")
    commit = raw.commit_sha

    # The short fields first: what they take is not there for the long texts.
    description = safe(repo.get("description"))[:1000]
    labels = [safe(label)[:100] for label in _label_names(issue)]
    assignees = [safe(a.get("login"))[:100] for a in _dicts(issue.get("assignees"))]
    author = safe((issue.get("user") or {}).get("login"))[:100]
    linked = [_linked_pull_request(pr, safe) for pr in raw.linked_pull_requests]
    flags = _observed_flags(raw, now, assignees)
    outline = _outline(raw.tree_paths)
    metadata = metadata_chars(description, author, labels, assignees, outline, linked, flags)
    headings = sum(
        max(PER_ITEM_OVERHEAD, len(f.path) + sum(len(r) + 2 for r in f.reasons) + 20)
        for f in raw.files
    )
    available = max(
        0,
        budget_chars
        - FIXED_OVERHEAD
        - headings
        - min(metadata, int(budget_chars * METADATA_SHARE)),
    )

    title = safe(issue.get("title"))[:500]
    body_full = safe(issue.get("body"))
    body = truncate_middle(
        body_full, max(int(available * 0.35), int(budget_chars * MIN_BODY_SHARE))
    )
    readme = truncate_head(safe(raw.readme[1]), int(available * 0.15)) if raw.readme else None
    contributing = (
        truncate_head(safe(raw.contributing[1]), int(available * 0.08))
        if raw.contributing
        else None
    )
    files = _file_excerpts(raw, repo_url, commit, int(available * 0.25), safe)
    used = len(title) + len(body) + len(readme or "") + len(contributing or "")
    used += sum(len(f.content or "") for f in files)
    comments = _newest_comments_within(raw.comments, max(0, available - used), safe)
    if len(body) < len(body_full):
        # Room the comments did not need goes back to a body that had to be cut.
        spare = available - used - sum(len(c.body) + PER_ITEM_OVERHEAD for c in comments)
        if spare > 0:
            body = truncate_middle(body_full, len(body) + spare)

    return ContextBundle(
        issue_key=ref.key,
        repo_full_name=str(repo.get("full_name") or ref.repo_full_name),
        repo_description=description,
        repo_language=repo.get("language") if isinstance(repo.get("language"), str) else None,
        repo_url=repo_url,
        commit_sha=commit,
        issue_title=title,
        issue_body=body,
        issue_body_truncated=len(body) < len(body_full),
        issue_state=str(issue.get("state") or "open"),
        issue_url=str(issue.get("html_url") or ref.html_url),
        labels=labels,
        assignees=assignees,
        author=author,
        created_at=_str_or_none(issue.get("created_at")),
        updated_at=_str_or_none(issue.get("updated_at")),
        comments=comments,
        comments_total=raw.comments_total,
        readme=readme,
        contributing_path=raw.contributing[0] if raw.contributing else None,
        contributing=contributing,
        files=files,
        tree_outline=outline,
        tree_paths=raw.tree_paths,
        tree_truncated=raw.tree_truncated,
        linked_pull_requests=linked,
        observed_flags=flags,
        fingerprint=fingerprint(raw),
        budget_chars=budget_chars,
    )


def metadata_chars(
    description: str,
    author: str,
    labels: Sequence[str],
    assignees: Sequence[str],
    outline: Sequence[str],
    linked: Sequence[LinkedPullRequest],
    flags: Sequence[str],
) -> int:
    """About what the short fields take in the prompt (METADATA_SHARE of it is reserved)."""
    return (
        len(description)
        + len(author)
        + sum(len(x) + 3 for x in [*labels, *assignees, *outline])
        + sum(len(pr.title) + 20 for pr in linked)
        + sum(len(flag) + 2 for flag in flags)
    )


def fingerprint(raw: RawContext) -> str:
    """A digest of exactly what a tutorial is generated from.

    Reactions, assignees and a bare `updated_at` bump leave it unchanged, so they cost no
    regeneration; an edited body, a new label or comment, a changed referenced file, or a pull
    request opened, closed or merged for the issue do. README and CONTRIBUTING are left out on
    purpose: a repository-wide edit would otherwise regenerate every tutorial of the project.
    """
    material = {
        "title": clean(raw.issue.get("title")),
        "body": clean(raw.issue.get("body")),
        "state": raw.issue.get("state"),
        "labels": sorted(_label_names(raw.issue)),
        "comments": [
            [c.get("id"), c.get("updated_at"), clean(c.get("body"))] for c in raw.comments
        ],
        "files": sorted((f.path, f.blob_sha or "") for f in raw.files),
        # A pull request opened or merged for the issue changes its red flags.
        "pull_requests": sorted(
            (int(pr.get("number", 0)), str(pr.get("state", "")), bool(pr.get("merged")))
            for pr in raw.linked_pull_requests
        ),
    }
    encoded = json.dumps(material, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


def _file_excerpts(
    raw: RawContext, repo_url: str, commit: str | None, room: int, safe: Any
) -> list[FileExcerpt]:
    per_file = room // max(1, len(raw.files))
    excerpts = []
    for fetched in raw.files:
        note = None
        content = None
        if fetched.text is None:
            note = "binary or too large to show"
        elif per_file < MIN_FILE_CHARS:
            note = LEFT_OUT
        else:
            text = safe(fetched.text)
            content = (
                window_around_line(text, fetched.line, per_file)
                if fetched.line
                else truncate_head(text, per_file)
            )
        excerpts.append(
            FileExcerpt(
                path=fetched.path,
                url=blob_url(repo_url, commit, fetched.path),
                reasons=list(fetched.reasons),
                line=fetched.line,
                content=content,
                note=note,
            )
        )
    return excerpts


def _newest_comments_within(
    comments: list[dict[str, Any]], room: int, safe: Any
) -> list[CommentExcerpt]:
    kept: list[CommentExcerpt] = []
    for comment in reversed(comments):
        room -= PER_ITEM_OVERHEAD
        if room < MIN_COMMENT_CHARS // 2:
            break
        body = safe(comment.get("body"))
        # No single comment may take everything: a wall of logs would crowd out the rest.
        cap = max(MIN_COMMENT_CHARS, min(room, 6_000))
        excerpt = truncate_middle(body, cap)
        room -= len(excerpt)
        kept.append(
            CommentExcerpt(
                author=safe((comment.get("user") or {}).get("login"))[:100] or "ghost",
                created_at=_str_or_none(comment.get("created_at")),
                body=excerpt,
                truncated=len(excerpt) < len(body),
            )
        )
    kept.reverse()
    return kept


def _linked_pull_request(pr: dict[str, Any], safe: Any) -> LinkedPullRequest:
    return LinkedPullRequest(
        number=int(pr["number"]),
        state=safe(pr.get("state"))[:20],
        title=safe(pr.get("title"))[:300],
        merged=bool(pr.get("merged")),
    )


def _observed_flags(raw: RawContext, now: datetime, assignees: list[str]) -> list[str]:
    """Facts worth a red flag; `assignees` are the logins as scrubbed for the bundle."""
    issue = raw.issue
    flags = []
    if any(assignees):
        flags.append("already assigned to " + ", ".join(f"@{a}" for a in assignees if a))
    open_prs = [f"#{pr['number']}" for pr in raw.linked_pull_requests if pr.get("state") == "open"]
    if len(open_prs) == 1:
        flags.append(f"open pull request {open_prs[0]} references this issue")
    elif open_prs:
        # One flag for them all, however many: the list of pull requests has the details.
        shown = ", ".join(open_prs[:MAX_FLAGGED_PRS])
        more = (
            f" and {len(open_prs) - MAX_FLAGGED_PRS} more"
            if len(open_prs) > MAX_FLAGGED_PRS
            else ""
        )
        flags.append(f"open pull requests {shown}{more} reference this issue")
    if issue.get("state") == "closed":
        flags.append("the issue is closed")
    if issue.get("locked"):
        flags.append("the conversation is locked")
    updated = parse_time(issue.get("updated_at"))
    if updated is not None and now - updated > STALE_AFTER:
        flags.append(f"no activity since {updated.date().isoformat()}")
    if not clean(issue.get("body")).strip():
        flags.append("the issue has no description: scope may be vague")
    return flags


def _outline(paths: list[str], limit: int = 60) -> list[str]:
    """Top-level entries, directories marked with '/': the shape of the project at a glance."""
    seen: dict[str, None] = {}
    for path in paths:
        head, sep, _ = path.partition("/")
        seen.setdefault(head + ("/" if sep else ""), None)
        if len(seen) >= limit:
            break
    return list(seen)


def _label_names(issue: dict[str, Any]) -> list[str]:
    names = []
    for label in issue.get("labels") or []:
        name = label.get("name") if isinstance(label, dict) else label
        if isinstance(name, str):
            names.append(name)
    return names


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
