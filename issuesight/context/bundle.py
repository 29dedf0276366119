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

from pydantic import BaseModel

from issuesight.context.gather import RawContext
from issuesight.context.text import (
    clean,
    scrub,
    truncate_head,
    truncate_middle,
    window_around_line,
)
from issuesight.refs import IssueRef

STALE_AFTER = timedelta(days=180)
# Characters reserved for the instructions and the headings around each part of the prompt.
FIXED_OVERHEAD = 5_000
PER_ITEM_OVERHEAD = 120
MIN_COMMENT_CHARS = 400


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
        ref = self.commit_sha or "HEAD"
        return f"{self.repo_url}/blob/{ref}/{path}"


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
    available = max(2_000, budget_chars - FIXED_OVERHEAD - PER_ITEM_OVERHEAD * len(raw.files))
    repo_url = str(repo.get("html_url") or f"https://github.com/{ref.repo_full_name}")
    commit = raw.commit_sha

    title = safe(issue.get("title"))[:500]
    body_full = safe(issue.get("body"))
    body = truncate_middle(body_full, int(available * 0.35))
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
        repo_description=safe(repo.get("description"))[:1000],
        repo_language=repo.get("language") if isinstance(repo.get("language"), str) else None,
        repo_url=repo_url,
        commit_sha=commit,
        issue_title=title,
        issue_body=body,
        issue_body_truncated=len(body) < len(body_full),
        issue_state=str(issue.get("state") or "open"),
        issue_url=str(issue.get("html_url") or ref.html_url),
        labels=[safe(label)[:100] for label in _label_names(issue)],
        assignees=[safe(a.get("login"))[:100] for a in _dicts(issue.get("assignees"))],
        author=safe((issue.get("user") or {}).get("login"))[:100],
        created_at=_str_or_none(issue.get("created_at")),
        updated_at=_str_or_none(issue.get("updated_at")),
        comments=comments,
        comments_total=raw.comments_total,
        readme=readme,
        contributing_path=raw.contributing[0] if raw.contributing else None,
        contributing=contributing,
        files=files,
        tree_outline=_outline(raw.tree_paths),
        tree_paths=raw.tree_paths,
        tree_truncated=raw.tree_truncated,
        linked_pull_requests=[LinkedPullRequest(**pr) for pr in raw.linked_pull_requests],
        observed_flags=_observed_flags(raw, now),
        fingerprint=fingerprint(raw),
        budget_chars=budget_chars,
    )


def fingerprint(raw: RawContext) -> str:
    """A digest of exactly what a tutorial is generated from.

    Reactions, assignees and a bare `updated_at` bump leave it unchanged, so they cost no
    regeneration; an edited body, a new label or comment, or a changed referenced file do not.
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
                url=f"{repo_url}/blob/{commit or 'HEAD'}/{fetched.path}",
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


def _observed_flags(raw: RawContext, now: datetime) -> list[str]:
    issue = raw.issue
    flags = []
    assignees = [a.get("login") for a in _dicts(issue.get("assignees"))]
    if assignees:
        flags.append("already assigned to " + ", ".join(f"@{a}" for a in assignees if a))
    for pr in raw.linked_pull_requests:
        if pr.get("state") == "open":
            flags.append(f"open pull request #{pr['number']} references this issue")
    if issue.get("state") == "closed":
        flags.append("the issue is closed")
    if issue.get("locked"):
        flags.append("the conversation is locked")
    updated = _parse_time(issue.get("updated_at"))
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


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
