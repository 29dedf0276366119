"""GitHub's JSON shapes for the fake's state, modelled on recorded responses (octokit fixtures).

`api` is the base URL the client reached the fake at, so self links lead back to the fake;
web links (html_url, download_url) point at github.com as GitHub's do.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import quote, urlencode

from ._git import Commit, TreeEntry
from ._github_state import Comment, FakeRepo, Issue, iso

HTML = "https://github.com"


def node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def b64_lines(data: bytes) -> str:
    # GitHub wraps base64 content at 60 characters, each line ending with a newline.
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


def user_id(login: str) -> int:
    # Derived from the login so that the same user has the same id in every fake.
    return 10_000 + int(hashlib.sha256(login.lower().encode()).hexdigest()[:7], 16)


def user(api: str, login: str) -> dict[str, Any]:
    uid = user_id(login)
    return {
        "login": login,
        "id": uid,
        "node_id": node_id("User", uid),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": f"{api}/users/{login}",
        "html_url": f"{HTML}/{login}",
        "type": "User",
        "site_admin": False,
    }


def repository(api: str, repo: FakeRepo) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}"
    open_count = sum(1 for i in repo.issues.values() if i.state == "open" and not i.deleted)
    pushed = iso(repo.head.date)
    return {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": user(api, repo.owner),
        "html_url": f"{HTML}/{repo.full_name}",
        "description": repo.description,
        "fork": False,
        "url": url,
        "issues_url": f"{url}/issues{{/number}}",
        "contents_url": f"{url}/contents/{{+path}}",
        "trees_url": f"{url}/git/trees{{/sha}}",
        "created_at": iso(repo.created_at),
        "updated_at": pushed,
        "pushed_at": pushed,
        "git_url": f"git://github.com/{repo.full_name}.git",
        "clone_url": f"{HTML}/{repo.full_name}.git",
        "homepage": None,
        "size": sum(len(d) for d in repo.files.values()) // 1024,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": repo.language,
        "has_issues": True,
        "has_projects": True,
        "has_wiki": True,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": open_count,
        "license": None,
        "allow_forking": True,
        "is_template": False,
        "topics": list(repo.topics),
        "visibility": repo.visibility or ("private" if repo.private else "public"),
        "forks": 0,
        "open_issues": open_count,
        "watchers": 0,
        "default_branch": repo.default_branch,
    }


def issue_html(repo: FakeRepo, issue: Issue) -> str:
    kind = "pull" if issue.is_pull_request else "issues"
    return f"{HTML}/{repo.full_name}/{kind}/{issue.number}"


def _association(repo: FakeRepo, login: str, explicit: str | None = None) -> str:
    return explicit or ("OWNER" if login.lower() == repo.owner.lower() else "NONE")


def _reactions(url: str) -> dict[str, Any]:
    kinds = ["+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"]
    return {"url": f"{url}/reactions", "total_count": 0, **dict.fromkeys(kinds, 0)}


def _label(api: str, repo: FakeRepo, name: str) -> dict[str, Any]:
    label = repo.labels[name.lower()]
    return {
        "id": label.id,
        "node_id": node_id("Label", label.id),
        "url": f"{api}/repos/{repo.full_name}/labels/{quote(label.name)}",
        "name": label.name,
        "color": label.color,
        "default": False,
        "description": label.description,
    }


def issue(api: str, repo: FakeRepo, item: Issue) -> dict[str, Any]:
    repo_url = f"{api}/repos/{repo.full_name}"
    url = f"{repo_url}/issues/{item.number}"
    assignees = [user(api, login) for login in item.assignees]
    data: dict[str, Any] = {
        "url": url,
        "repository_url": repo_url,
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": issue_html(repo, item),
        "id": item.id,
        "node_id": node_id("PullRequest" if item.is_pull_request else "Issue", item.id),
        "number": item.number,
        "title": item.title,
        "user": user(api, item.user),
        "labels": [_label(api, repo, name) for name in item.labels],
        "state": item.state,
        "locked": item.locked,
        "assignee": assignees[0] if assignees else None,
        "assignees": assignees,
        "milestone": None,
        "comments": len(item.comments),
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "closed_at": iso(item.closed_at),
        "author_association": _association(repo, item.user, item.author_association),
        "active_lock_reason": None,
        "body": item.body,
        "reactions": _reactions(url),
        "timeline_url": f"{url}/timeline",
        "performed_via_github_app": None,
        "state_reason": item.state_reason,
    }
    if item.is_pull_request:
        pr_html = f"{HTML}/{repo.full_name}/pull/{item.number}"
        data["draft"] = False
        data["pull_request"] = {
            "url": f"{repo_url}/pulls/{item.number}",
            "html_url": pr_html,
            "diff_url": f"{pr_html}.diff",
            "patch_url": f"{pr_html}.patch",
            "merged_at": iso(item.merged_at),
        }
    return data


def comment(api: str, repo: FakeRepo, item: Issue, note: Comment) -> dict[str, Any]:
    repo_url = f"{api}/repos/{repo.full_name}"
    url = f"{repo_url}/issues/comments/{note.id}"
    return {
        "url": url,
        "html_url": f"{issue_html(repo, item)}#issuecomment-{note.id}",
        "issue_url": f"{repo_url}/issues/{item.number}",
        "id": note.id,
        "node_id": node_id("IssueComment", note.id),
        "user": user(api, note.user),
        "created_at": iso(note.created_at),
        "updated_at": iso(note.updated_at),
        "author_association": _association(repo, note.user),
        "body": note.body,
        "reactions": _reactions(url),
        "performed_via_github_app": None,
    }


def timeline(api: str, repo: FakeRepo, item: Issue) -> list[dict[str, Any]]:
    """Comments as "commented" events merged with the issue's other events, oldest first."""
    events: list[tuple[Any, int, dict[str, Any]]] = []
    for note in item.comments:
        data = comment(api, repo, item, note)
        data.update(event="commented", actor=data["user"])
        events.append((note.created_at, note.id, data))
    for seq, (at, spec) in enumerate(item.events):
        if spec["kind"] == "raw":
            data = spec["event"]
        else:
            source = {
                **issue(api, repo, repo.issues[spec["pr"]]),
                "repository": repository(api, repo),
            }
            data = {
                "actor": user(api, spec["actor"]),
                "event": "cross-referenced",
                "created_at": iso(at),
                "updated_at": iso(at),
                "source": {"type": "issue", "issue": source},
            }
        events.append((at, seq, data))
    events.sort(key=lambda e: (e[0], e[1]))
    return [e[2] for e in events]


def commit(api: str, repo: FakeRepo, item: Commit) -> dict[str, Any]:
    repo_url = f"{api}/repos/{repo.full_name}"
    person = {"name": "IssueSight Fake", "email": "fake@example.invalid", "date": iso(item.date)}
    parents = [] if item.parent is None else [item.parent]
    return {
        "sha": item.sha,
        "node_id": node_id("Commit", int(item.sha[:8], 16)),
        "commit": {
            "author": person,
            "committer": person,
            "message": item.message,
            "tree": {"sha": item.tree_sha, "url": f"{repo_url}/git/trees/{item.tree_sha}"},
            "url": f"{repo_url}/git/commits/{item.sha}",
            "comment_count": 0,
        },
        "url": f"{repo_url}/commits/{item.sha}",
        "html_url": f"{HTML}/{repo.full_name}/commit/{item.sha}",
        "author": None,
        "committer": None,
        "parents": [
            {
                "sha": p,
                "url": f"{repo_url}/commits/{p}",
                "html_url": f"{HTML}/{repo.full_name}/commit/{p}",
            }
            for p in parents
        ],
    }


def tree(api: str, repo: FakeRepo, tree_sha: str, *, recursive: bool) -> dict[str, Any]:
    git_url = f"{api}/repos/{repo.full_name}/git"
    entries = []
    for path, entry in repo.objects.walk(tree_sha, recursive=recursive):
        item: dict[str, Any] = {
            "path": path,
            "mode": entry.mode,
            "type": entry.type,
            "sha": entry.sha,
        }
        if entry.size is not None:
            item["size"] = entry.size
        item["url"] = f"{git_url}/{entry.type}s/{entry.sha}"
        entries.append(item)
    url = f"{git_url}/trees/{tree_sha}"
    return {"sha": tree_sha, "url": url, "tree": entries, "truncated": False}


def blob(api: str, repo: FakeRepo, sha: str, data: bytes) -> dict[str, Any]:
    return {
        "sha": sha,
        "node_id": node_id("Blob", int(sha[:8], 16)),
        "size": len(data),
        "url": f"{api}/repos/{repo.full_name}/git/blobs/{sha}",
        "content": b64_lines(data),
        "encoding": "base64",
    }


def content_entry(
    api: str, repo: FakeRepo, ref: str, path: str, entry: TreeEntry
) -> dict[str, Any]:
    """One item of a contents listing; a file's own answer adds content and encoding."""
    is_file = entry.type == "blob"
    self_url = f"{api}/repos/{repo.full_name}/contents/{quote(path)}?ref={quote(ref)}"
    git_url = f"{api}/repos/{repo.full_name}/git/{entry.type}s/{entry.sha}"
    html_url = f"{HTML}/{repo.full_name}/{'blob' if is_file else 'tree'}/{ref}/{quote(path)}"
    raw_url = f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{quote(path)}"
    return {
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": entry.sha,
        "size": entry.size or 0,
        "url": self_url,
        "html_url": html_url,
        "git_url": git_url,
        "download_url": raw_url if is_file else None,
        "type": "file" if is_file else "dir",
        "_links": {"self": self_url, "git": git_url, "html": html_url},
    }


def link_header(
    api: str, path: str, query: dict[str, str], *, per_page: int, page: int, last: int
) -> str | None:
    """GitHub's Link header: no prev/first on page 1, no next/last on the last page, and
    absolute URLs at `path` (GitHub's point at /repositories/{id}/..., not the path asked)."""
    if last == 1 and page == 1:
        return None
    kept = [(k, v) for k, v in query.items() if k not in {"page", "per_page"}]

    def url(n: int) -> str:
        return f"<{api}{path}?{urlencode([*kept, ('per_page', per_page), ('page', n)])}>"

    links = []
    if page > 1:
        links.append(f'{url(min(page - 1, last))}; rel="prev"')
    if page < last:
        links += [f'{url(page + 1)}; rel="next"', f'{url(last)}; rel="last"']
    if page > 1:
        links.append(f'{url(1)}; rel="first"')
    return ", ".join(links)
