"""The bounded context a generation reads: what to keep of an issue and its repository.

Whatever the issue's size, the bundle fits the prompt budget. The issue itself comes first
(up to BODY_SHARE of the room), then the README and CONTRIBUTING (each a small share), the
comments newest first (the latest state of a discussion matters more than its middle) up to
COMMENT_SHARE, and the code gets everything those leave: excerpts of the ranked files, the
best-ranked getting the most room, each cut to the windows the issue is about (windows.py),
then a compact repository map of the next files' definitions. Room the code does not need goes
back to an issue body that had to be cut.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel

from issuesight.context.gather import FetchedFile, RawContext
from issuesight.context.windows import excerpt as cut_excerpt
from issuesight.core.text import (
    clean,
    scrub,
    truncate_head,
    truncate_middle,
    window_around_line,
)
from issuesight.db.types import parse_time
from issuesight.domain.refs import IssueRef

STALE_AFTER = timedelta(days=180)
# Characters reserved for the instructions, the data delimiters and the fixed lines and headings
# of the prompt (2,100 to 2,500 today; tests/unit/test_prompt.py checks the margin holds).
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
# Shares of the room the instructions and short fields leave (bench.context: code given the
# rest put the fixed file in far more prompts than fixed shares for everything did).
BODY_SHARE = 0.35
README_SHARE = 0.10
CONTRIBUTING_SHARE = 0.05
COMMENT_SHARE = 0.25
# The repository map takes at most this share of the code's room.
MAP_SHARE = 0.15
MAX_MAP_LINE = 160
# A ranked file's share of the code's room falls with its rank as 1 / (rank + 1) ** DECAY.
RANK_DECAY = 0.6
# Files beyond the first with less room than this are left to the repository map.
MIN_WINDOW_CHARS = 500
# The best-ranked files whose content is part of a tutorial's fingerprint (with every file the
# issue names): a change there regenerates the tutorial.
FINGERPRINT_FILES = 3


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
    # Paths and definitions of the best-ranked files beyond the excerpts (Aider's repo map);
    # bundles stored before it existed have none.
    repo_map: list[str] = []

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
    available = max(
        0, budget_chars - FIXED_OVERHEAD - min(metadata, int(budget_chars * METADATA_SHARE))
    )

    title = safe(issue.get("title"))[:500]
    body_full = safe(issue.get("body"))
    body = truncate_middle(
        body_full, max(int(available * BODY_SHARE), int(budget_chars * MIN_BODY_SHARE))
    )
    readme = (
        truncate_head(safe(raw.readme[1]), int(available * README_SHARE)) if raw.readme else None
    )
    contributing = (
        truncate_head(safe(raw.contributing[1]), int(available * CONTRIBUTING_SHARE))
        if raw.contributing
        else None
    )
    used = len(title) + len(body) + len(readme or "") + len(contributing or "")
    comments = _newest_comments_within(
        raw.comments, max(0, min(available - used, int(available * COMMENT_SHARE))), safe
    )
    used += sum(len(c.body) + PER_ITEM_OVERHEAD for c in comments)
    code_room = max(0, available - used)
    files, repo_map, code_used = _code(raw, repo_url, commit, code_room, safe)
    if len(body) < len(body_full):
        # Room the code did not need goes back to a body that had to be cut.
        spare = code_room - code_used
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
        repo_map=repo_map,
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
    So are the files ranked below FINGERPRINT_FILES that the issue does not name: the prompt
    shows a dozen or more, and an edit anywhere among them is not a new question.
    """
    # A comment is its id and its text, in id order: its `updated_at` is metadata (an edit
    # that matters shows in the text), and the order the timeline happens to list comments
    # in is not what a tutorial is made from.
    comments = sorted(
        (str(c.get("id")), clean(c.get("body"))) for c in raw.comments if isinstance(c, dict)
    )
    return _digest(raw, [list(c) for c in comments])


def earlier_fingerprint(raw: RawContext) -> str:
    """The digest tutorials stored before comments were fingerprinted by id and text alone:
    a refresh that matches it is unchanged too, so the new formula costs no regeneration of
    every stored tutorial."""
    return _digest(
        raw, [[c.get("id"), c.get("updated_at"), clean(c.get("body"))] for c in raw.comments]
    )


def _digest(raw: RawContext, comments: list[list[Any]]) -> str:
    material = {
        "title": clean(raw.issue.get("title")),
        "body": clean(raw.issue.get("body")),
        "state": raw.issue.get("state"),
        "labels": sorted(_label_names(raw.issue)),
        "comments": comments,
        "files": sorted(
            (f.path, f.blob_sha or "")
            for rank, f in enumerate(raw.files)
            if f.explicit or rank < FINGERPRINT_FILES
        ),
        # A pull request opened or merged for the issue changes its red flags.
        "pull_requests": sorted(
            (int(pr.get("number", 0)), str(pr.get("state", "")), bool(pr.get("merged")))
            for pr in raw.linked_pull_requests
        ),
    }
    encoded = json.dumps(material, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


def _code(
    raw: RawContext, repo_url: str, commit: str | None, room: int, safe: Any
) -> tuple[list[FileExcerpt], list[str], int]:
    """File excerpts and the repository map within `room` characters; what they used.

    Files come in rank order. Each gets a share of the room that falls with its rank, and what
    a file does not need (a short file shown whole) flows to the others. Files the issue names
    that get no room keep a heading with a note; other files that get none are left to the
    map. The map lists the next files' definitions in what the excerpts leave, up to
    MAP_SHARE of the room.
    """
    map_room = int(room * MAP_SHARE) if raw.repo_map else 0
    shares = _shares(raw.files, room - map_room)
    excerpts: list[FileExcerpt] = []
    used = 0
    for rank, fetched in enumerate(raw.files):
        heading = _heading_chars(fetched)
        share = shares[rank]
        url = blob_url(repo_url, commit, fetched.path)
        if fetched.text is None:
            if fetched.explicit or not fetched.regions:
                excerpts.append(_excerpt(fetched, url, None, "binary or too large to show"))
                used += heading
            continue
        least = min(MIN_FILE_CHARS if rank == 0 else MIN_WINDOW_CHARS, len(fetched.text) + 60)
        if share - heading < least:
            if fetched.explicit or not fetched.regions:
                excerpts.append(_excerpt(fetched, url, None, LEFT_OUT))
                used += heading
            continue
        content, anchor = _content(fetched, safe(fetched.text), share - heading)
        excerpts.append(_excerpt(fetched, url + anchor, content, None))
        used += heading + len(content)
    shown = {f.path for f in excerpts}
    repo_map = _repo_map(raw.repo_map, shown, room - used, safe)
    used += sum(len(line) + 1 for line in repo_map)
    return excerpts, repo_map, used


def _shares(files: Sequence[FetchedFile], room: int) -> list[int]:
    """Room per file: by rank, water-filled so that no file gets more than it can use."""
    if not files:
        return []
    need = [_heading_chars(f) + (len(f.text) + 60 if f.text is not None else 0) for f in files]
    weights = [1.0 / (rank + 1) ** RANK_DECAY for rank in range(len(files))]
    shares = [0] * len(files)
    open_files = set(range(len(files)))
    left = room
    while open_files and left > 0:
        total = sum(weights[i] for i in open_files)
        spent = 0
        capped = []
        for i in sorted(open_files):
            offer = int(left * weights[i] / total)
            take = min(offer, need[i] - shares[i])
            shares[i] += take
            spent += take
            if shares[i] >= need[i]:
                capped.append(i)
        open_files -= set(capped)
        left -= spent
        if not capped:
            break
    return shares


def _heading_chars(fetched: FetchedFile) -> int:
    return max(PER_ITEM_OVERHEAD, len(fetched.path) + sum(len(r) + 2 for r in fetched.reasons) + 20)


def _content(fetched: FetchedFile, text: str, room: int) -> tuple[str, str]:
    """The excerpt and the `#Lstart-Lend` anchor of its main window ("" for a head)."""
    if fetched.regions:
        regions = [(r.start, r.end, r.label) for r in fetched.regions]
        cut = cut_excerpt(fetched.path, text, regions, room)
        anchor = ""
        if cut.main is not None and cut.lines_shown < cut.total_lines:
            anchor = f"#L{cut.main[0]}-L{cut.main[1]}"
        return cut.text, anchor
    if fetched.line:
        return window_around_line(text, fetched.line, room), f"#L{fetched.line}"
    return truncate_head(text, room), ""


def _excerpt(fetched: FetchedFile, url: str, content: str | None, note: str | None) -> FileExcerpt:
    return FileExcerpt(
        path=fetched.path,
        url=url,
        reasons=list(fetched.reasons),
        line=fetched.line,
        content=content,
        note=note,
    )


def _repo_map(
    entries: Sequence[tuple[str, Sequence[str]]], shown: set[str], room: int, safe: Any
) -> list[str]:
    """`path` lines, each followed by its definitions' signatures, until the room is spent."""
    lines: list[str] = []
    used = 0
    for path, signatures in entries:
        if path in shown:
            continue
        block = [safe(path)[:MAX_MAP_LINE]]
        block += ["  " + safe(s)[: MAX_MAP_LINE - 2] for s in signatures]
        cost = sum(len(line) + 1 for line in block)
        if used + cost > room:
            if used + len(block[0]) + 1 > room:
                break
            block = block[:1]
            cost = len(block[0]) + 1
        lines += block
        used += cost
    return lines


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
