"""A fake GitHub REST v3 API, faithful at the wire: status codes, headers, Link pagination,
ETags and conditional requests, rate limits, raw media types and GitHub's error bodies.

Tests drive it through the real HTTP client; state lives in plain objects behind one lock,
because the test thread mutates it while the server thread answers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._git import Commit, ObjectStore, TreeEntry, normalize_files

HTML = "https://github.com"
DOCS = "https://docs.github.com/rest"
RATE_LIMIT_DOCS = f"{DOCS}/overview/resources-in-the-rest-api#rate-limiting"
JSON_TYPE = "application/json; charset=utf-8"
_RAW_ACCEPT = re.compile(r"application/vnd\.github\.(v3\.)?raw")
_SHA_ACCEPT = re.compile(r"application/vnd\.github\.(v3\.)?sha")
# GitHub serves files over 1 MiB through the contents API without inline content.
_INLINE_CONTENT_LIMIT = 1024 * 1024
_REFILL_WINDOW = 3600.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    status: int
    at: float  # epoch seconds at arrival


@dataclass
class FakeRepo:
    id: int
    owner: str
    name: str
    default_branch: str
    language: str | None
    private: bool
    description: str | None
    topics: list[str]
    created_at: datetime
    files: dict[str, bytes]
    commit_sha: str
    objects: ObjectStore = field(repr=False)
    issues: dict[int, _Issue] = field(default_factory=dict, repr=False)
    labels: dict[str, _Label] = field(default_factory=dict, repr=False)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def head(self) -> Commit:
        return self.objects.commits[self.commit_sha]


@dataclass
class _Label:
    id: int
    name: str
    color: str
    description: str | None


@dataclass
class _Comment:
    id: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime


@dataclass
class _Issue:
    id: int
    number: int
    title: str
    body: str | None
    labels: list[str]
    state: str
    state_reason: str | None
    assignees: list[str]
    user: str
    is_pull_request: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    locked: bool = False
    author_association: str | None = None  # None: derived (OWNER for the repo owner)
    deleted: bool = False
    comments: list[_Comment] = field(default_factory=list)
    # ("cross-referenced", pr_number, actor, at) or ("raw", event dict)
    events: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    body: dict[str, Any] | str | None


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    counted: bool = True  # consumes rate-limit budget


class _Fail(Exception):
    """Raised by a route to answer with an error instead."""

    def __init__(self, answer: _Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


@dataclass(frozen=True)
class _Ctx:
    """What a route needs from the request."""

    api: str  # base URL as the client reached us, for self links
    query: Mapping[str, str]
    accept: str
    authenticated: bool

    @property
    def raw(self) -> bool:
        return bool(_RAW_ACCEPT.search(self.accept))


_Handler = Callable[[_Ctx, FakeRepo, dict[str, str]], _Answer]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _to_datetime(value: datetime | str | None, default: datetime) -> datetime:
    if value is None:
        return default
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _node_id(kind: str, ident: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def _json(status: int, payload: Any) -> _Answer:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return _Answer(status, body, JSON_TYPE)


def _error(status: int, message: str, doc: str = DOCS) -> _Fail:
    return _Fail(
        _json(status, {"message": message, "documentation_url": doc, "status": str(status)})
    )


def _not_found(doc: str = DOCS) -> _Fail:
    return _error(404, "Not Found", doc)


def _b64_lines(data: bytes) -> str:
    # GitHub wraps base64 content at 60 characters, with a trailing newline.
    encoded = base64.b64encode(data).decode()
    return "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))


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
        return _to_datetime(raw, _now())
    except ValueError:
        raise _error(422, f"Invalid value for since: {raw!r}") from None


class FakeGitHub:
    """GitHub REST v3 for tests: add repos and issues, inject faults, read the request log."""

    def __init__(self, token: str | None = None, *, latency: float = 0.0) -> None:
        self.token = token
        self.latency = latency
        self._lock = threading.RLock()
        self._ids = 1000
        self._repos: dict[str, FakeRepo] = {}
        self._users: dict[str, int] = {}
        self._faults: list[_Fault] = []
        self._log: list[RecordedRequest] = []
        self._limit = 5000
        self._remaining = 5000
        self._reset = math.ceil(time.time() + _REFILL_WINDOW)
        self._routes: list[tuple[re.Pattern[str], _Handler]] = [
            (re.compile(pattern), handler)
            for pattern, handler in [
                (r"", self._get_repo),
                (r"/issues", self._list_issues),
                (r"/issues/(?P<number>\d+)", self._get_issue),
                (r"/issues/(?P<number>\d+)/comments", self._list_comments),
                (r"/issues/(?P<number>\d+)/timeline", self._list_timeline),
                (r"/commits/(?P<ref>.+)", self._get_commit),
                (r"/git/trees/(?P<ref>.+)", self._get_tree),
                (r"/git/blobs/(?P<sha>[0-9a-fA-F]+)", self._get_blob),
                (r"/readme", self._get_readme),
                (r"/contents(?:/(?P<path>.*))?", self._get_contents),
            ]
        ]
        # Every method reaches the endpoint so that unsupported ones get GitHub's JSON 404.
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=methods)])

    # ---- state: repositories -------------------------------------------------------------

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def add_repo(
        self,
        owner: str,
        name: str,
        *,
        files: Mapping[str, str | bytes] | None = None,
        default_branch: str = "main",
        language: str | None = "Python",
        private: bool = False,
        description: str | None = "A repository served by the fake GitHub",
        topics: Sequence[str] = (),
    ) -> FakeRepo:
        key = f"{owner}/{name}".lower()
        with self._lock:
            if key in self._repos:
                raise ValueError(f"repository {owner}/{name} already exists")
            objects = ObjectStore()
            normalized = normalize_files(files or {})
            created = _now()
            commit = objects.commit(normalized, parent=None, message="Initial", date=created)
            repo = FakeRepo(
                id=self._next_id(),
                owner=owner,
                name=name,
                default_branch=default_branch,
                language=language,
                private=private,
                description=description,
                topics=list(topics),
                created_at=created,
                files=normalized,
                commit_sha=commit.sha,
                objects=objects,
            )
            self._repos[key] = repo
            return repo

    def repo(self, full_name: str) -> FakeRepo:
        with self._lock:
            found = self._repos.get(full_name.lower())
            if found is None:
                raise KeyError(full_name)
            return found

    def set_files(self, full_name: str, files: Mapping[str, str | bytes]) -> str:
        """Replace the default branch's files with a new commit; returns its sha."""
        with self._lock:
            repo = self.repo(full_name)
            normalized = normalize_files(files)
            commit = repo.objects.commit(
                normalized, parent=repo.commit_sha, message="Update files", date=_now()
            )
            repo.files, repo.commit_sha = normalized, commit.sha
            return commit.sha

    # ---- state: issues -------------------------------------------------------------------

    def _label_names(self, repo: FakeRepo, labels: Sequence[str | Mapping[str, Any]]) -> list[str]:
        names = []
        for label in labels:
            spec: Mapping[str, Any] = {"name": label} if isinstance(label, str) else label
            name = str(spec["name"])
            known = repo.labels.get(name.lower())
            if known is None:
                color = hashlib.sha256(name.lower().encode()).hexdigest()[:6]
                known = _Label(self._next_id(), name, color, None)
                repo.labels[name.lower()] = known
            known.color = str(spec.get("color", known.color))
            known.description = spec.get("description", known.description)
            names.append(known.name)
        return names

    def _issue(self, full_name: str, number: int) -> _Issue:
        issue = self.repo(full_name).issues.get(number)
        if issue is None:
            raise KeyError(f"{full_name}#{number}")
        return issue

    def add_issue(
        self,
        full_name: str,
        number: int | None = None,
        *,
        title: str,
        body: str | None,
        labels: Sequence[str | Mapping[str, Any]] = (),
        comments: Sequence[str | Mapping[str, Any]] = (),
        state: str = "open",
        assignees: Sequence[str] = (),
        user: str = "octocat",
        is_pull_request: bool = False,
        created_at: datetime | str | None = None,
        updated_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Store an issue (or a pull request, as the issues API lists both); returns a snapshot."""
        with self._lock:
            repo = self.repo(full_name)
            if number is None:
                number = max(repo.issues, default=0) + 1
            if number in repo.issues:
                raise ValueError(f"{full_name}#{number} already exists")
            created = _to_datetime(created_at, _now())
            issue = _Issue(
                id=self._next_id(),
                number=number,
                title=title,
                body=body,
                labels=self._label_names(repo, labels),
                state="open",
                state_reason=None,
                assignees=list(assignees),
                user=user,
                is_pull_request=is_pull_request,
                created_at=created,
                updated_at=created,
            )
            repo.issues[number] = issue
            if state != "open":
                self._set_state(issue, state, at=created)
            for entry in comments:
                spec = {"body": entry} if isinstance(entry, str) else entry
                self._append_comment(issue, spec, default_at=created)
            # Explicit timestamps win over those that comments would bump.
            issue.updated_at = _to_datetime(updated_at, max(issue.updated_at, created))
            return self._snapshot(repo, issue)

    @staticmethod
    def _set_state(issue: _Issue, state: str, *, at: datetime) -> None:
        if state not in {"open", "closed"}:
            raise ValueError(f"state must be 'open' or 'closed', not {state!r}")
        if state == issue.state:
            return
        issue.state = state
        issue.closed_at = at if state == "closed" else None
        issue.state_reason = "completed" if state == "closed" else "reopened"

    def _append_comment(
        self, issue: _Issue, spec: Mapping[str, Any], *, default_at: datetime | None = None
    ) -> _Comment:
        at = _to_datetime(spec.get("created_at"), default_at or _now())
        comment = _Comment(self._next_id(), str(spec["body"]), spec.get("user", "octocat"), at, at)
        issue.comments.append(comment)
        issue.updated_at = max(issue.updated_at, at)
        return comment

    @staticmethod
    def _bump(issue: _Issue) -> None:
        # At least one second later: GitHub timestamps have second precision, and an edit made
        # in the same second as the last one must still be visible to `since` filters.
        issue.updated_at = max(_now(), issue.updated_at + timedelta(seconds=1))

    def edit_issue(self, full_name: str, number: int, **fields: Any) -> dict[str, Any]:
        """Change stored fields (title, body, labels, state, assignees, ...); bumps updated_at."""
        allowed = {
            "title",
            "body",
            "labels",
            "state",
            "state_reason",
            "assignees",
            "user",
            "locked",
            "author_association",
            "is_pull_request",
            "created_at",
            "updated_at",
            "merged_at",
        }
        unknown = set(fields) - allowed
        if unknown:
            raise TypeError(f"edit_issue got unknown fields: {sorted(unknown)}")
        with self._lock:
            repo = self.repo(full_name)
            issue = self._issue(full_name, number)
            self._bump(issue)
            for name, value in fields.items():
                if name == "labels":
                    issue.labels = self._label_names(repo, value)
                elif name == "state":
                    self._set_state(issue, value, at=issue.updated_at)
                elif name in {"created_at", "updated_at", "merged_at"}:
                    setattr(issue, name, _to_datetime(value, _now()) if value else None)
                else:
                    setattr(issue, name, value)
            return self._snapshot(repo, issue)

    def delete_issue(self, full_name: str, number: int) -> None:
        with self._lock:
            self._issue(full_name, number).deleted = True

    def add_comment(
        self,
        full_name: str,
        number: int,
        body: str,
        *,
        user: str = "octocat",
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        with self._lock:
            issue = self._issue(full_name, number)
            if created_at is None:
                self._bump(issue)
                created_at = issue.updated_at
            comment = self._append_comment(
                issue, {"body": body, "user": user, "created_at": created_at}
            )
            return {
                "id": comment.id,
                "body": comment.body,
                "user": comment.user,
                "created_at": _iso(comment.created_at),
            }

    def add_cross_reference(
        self,
        full_name: str,
        number: int,
        pr_number: int,
        state: str = "open",
        *,
        merged: bool = False,
        actor: str = "octocat",
    ) -> None:
        """A pull request in the same repository mentions issue `number`.

        The pull request is created if missing; either way it is given `state` (a merged one
        is closed with merged_at set).
        """
        with self._lock:
            repo = self.repo(full_name)
            issue = self._issue(full_name, number)
            pr = repo.issues.get(pr_number)
            if pr is None:
                self.add_issue(
                    full_name,
                    pr_number,
                    title=f"Fix #{number}",
                    body=f"Fixes #{number}",
                    user=actor,
                    is_pull_request=True,
                )
                pr = repo.issues[pr_number]
            elif not pr.is_pull_request:
                raise ValueError(f"{full_name}#{pr_number} is an issue, not a pull request")
            at = _now()
            self._set_state(pr, "closed" if merged else state, at=at)
            pr.merged_at = at if merged else None
            issue.events.append((at, {"kind": "cross-referenced", "pr": pr_number, "actor": actor}))

    def add_timeline_event(self, full_name: str, number: int, event: Mapping[str, Any]) -> None:
        """Append an arbitrary timeline event (served as given), for events not modelled here."""
        with self._lock:
            issue = self._issue(full_name, number)
            at = _to_datetime(event.get("created_at"), _now())
            issue.events.append((at, {"kind": "raw", "event": dict(event)}))

    def _snapshot(self, repo: FakeRepo, issue: _Issue) -> dict[str, Any]:
        return {
            "id": issue.id,
            "number": issue.number,
            "repository": repo.full_name,
            "html_url": self._issue_html(repo, issue),
            "title": issue.title,
            "body": issue.body,
            "labels": list(issue.labels),
            "state": issue.state,
            "state_reason": issue.state_reason,
            "assignees": list(issue.assignees),
            "user": issue.user,
            "is_pull_request": issue.is_pull_request,
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at),
            "closed_at": _iso(issue.closed_at),
            "comments": [
                {"id": c.id, "body": c.body, "user": c.user, "created_at": _iso(c.created_at)}
                for c in issue.comments
            ],
        }

    # ---- faults and rate limits ----------------------------------------------------------

    def fail_next(
        self,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        body: dict[str, Any] | str | None = None,
    ) -> None:
        """The next `times` requests whose path matches (re.search) get this answer instead.

        A str body is served as HTML (GitHub's 5xx pages are); None means a JSON message.
        """
        with self._lock:
            self._faults.append(
                _Fault(re.compile(path_pattern), status, times, dict(headers or {}), body)
            )

    def exhaust_rate_limit(self, reset_in: float) -> None:
        with self._lock:
            self._remaining = 0
            self._reset = math.ceil(time.time() + reset_in)

    def set_rate_limit(self, limit: int = 5000, remaining: int | None = None) -> None:
        with self._lock:
            self._limit = limit
            self._remaining = limit if remaining is None else remaining

    @property
    def rate_limit_remaining(self) -> int:
        with self._lock:
            self._refill()
            return self._remaining

    def _refill(self) -> None:
        now = time.time()
        if now >= self._reset:
            self._remaining = self._limit
            self._reset = math.ceil(now + _REFILL_WINDOW)

    def _rate_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self._limit),
            "x-ratelimit-remaining": str(self._remaining),
            "x-ratelimit-used": str(self._limit - self._remaining),
            "x-ratelimit-reset": str(self._reset),
            "x-ratelimit-resource": "core",
        }

    # ---- observation ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def count(
        self,
        path_pattern: str | None = None,
        *,
        status: int | None = None,
        exclude_status: int | None = None,
    ) -> int:
        pattern = re.compile(path_pattern) if path_pattern is not None else None
        return sum(
            1
            for r in self.requests
            if (pattern is None or pattern.search(r.path))
            and (status is None or r.status == status)
            and (exclude_status is None or r.status != exclude_status)
        )

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    def reset(self) -> None:
        """Forget repositories, faults, the log and the rate-limit state (ids keep growing)."""
        with self._lock:
            self._repos.clear()
            self._faults.clear()
            self._log.clear()
            self._limit = self._remaining = 5000
            self._reset = math.ceil(time.time() + _REFILL_WINDOW)
            self.latency = 0.0

    # ---- HTTP ----------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        arrived = time.time()
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(request.query_params)
        path = request.url.path
        with self._lock:
            answer = self._answer(request, path, query, headers)
            self._log.append(
                RecordedRequest(request.method, path, query, headers, answer.status, arrived)
            )
        response_headers = dict(answer.headers)
        if answer.content_type is not None:
            response_headers["content-type"] = answer.content_type
        return Response(answer.body, status_code=answer.status, headers=response_headers)

    def _answer(
        self, request: Request, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> _Answer:
        """Runs with the lock held: faults, auth, routing, conditional requests, rate limit."""
        self._refill()
        answer = self._take_fault(path)
        if answer is None:
            try:
                self._check_auth(headers.get("authorization"))
                if request.method not in {"GET", "HEAD"}:
                    raise _not_found()
                if path == "/rate_limit":
                    answer = self._rate_limit_body()
                else:
                    ctx = _Ctx(
                        api=str(request.base_url).rstrip("/"),
                        query=query,
                        accept=headers.get("accept", ""),
                        authenticated="authorization" in headers,
                    )
                    answer = self._route(ctx, path)
            except _Fail as fail:
                answer = fail.answer
        etag = None
        if answer.status == 200:
            etag = f'W/"{hashlib.sha256(answer.body).hexdigest()}"'
            if _etag_matches(headers.get("if-none-match"), etag):
                # GitHub does not charge conditional requests answered 304, even when exhausted.
                answer = _Answer(304, b"", None, {}, counted=False)
        if answer.counted and answer.status != 304 and self._remaining <= 0:
            answer = self._rate_limited(request, headers)
        if answer.counted:
            self._remaining = max(self._remaining - 1, 0)
        final = {
            **self._rate_headers(),
            "x-github-request-id": uuid.uuid4().hex[:20].upper(),
            "x-github-api-version-selected": "2022-11-28",
            "x-github-media-type": "github.v3; format=json",
        }
        if etag is not None:
            final["etag"] = etag
        if answer.status == 200:
            final["cache-control"] = "private, max-age=60, s-maxage=60"
            final["vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        final.update(answer.headers)
        answer.headers = final
        return answer

    def _take_fault(self, path: str) -> _Answer | None:
        for fault in self._faults:
            if fault.pattern.search(path):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                if isinstance(fault.body, str):
                    body, content_type = fault.body.encode(), "text/html; charset=utf-8"
                else:
                    payload = fault.body or {
                        "message": HTTPStatus(fault.status).phrase,
                        "documentation_url": DOCS,
                    }
                    body, content_type = json.dumps(payload).encode(), JSON_TYPE
                return _Answer(fault.status, body, content_type, dict(fault.headers))
        return None

    def _check_auth(self, authorization: str | None) -> None:
        if authorization is None or self.token is None:
            return
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() not in {"bearer", "token"} or credential.strip() != self.token:
            raise _Fail(_json(401, {"message": "Bad credentials", "documentation_url": DOCS}))

    def _rate_limited(self, request: Request, headers: Mapping[str, str]) -> _Answer:
        if "authorization" in headers:
            message = (
                "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for "
                "help, please include the request ID."
            )
        else:
            host = request.client.host if request.client else "127.0.0.1"
            message = (
                f"API rate limit exceeded for {host}. (But here's the good news: Authenticated "
                "requests get a higher rate limit. Check out the documentation for more details.)"
            )
        return _json(403, {"message": message, "documentation_url": RATE_LIMIT_DOCS})

    def _rate_limit_body(self) -> _Answer:
        core = {
            "limit": self._limit,
            "used": self._limit - self._remaining,
            "remaining": self._remaining,
            "reset": self._reset,
            "resource": "core",
        }
        search = {
            "limit": 30,
            "used": 0,
            "remaining": 30,
            "reset": self._reset,
            "resource": "search",
        }
        answer = _json(200, {"resources": {"core": core, "search": search}, "rate": core})
        answer.counted = False
        return answer

    def _route(self, ctx: _Ctx, path: str) -> _Answer:
        repo, rest = self._find_repo(ctx, path)
        for pattern, handler in self._routes:
            match = pattern.fullmatch(rest)
            if match:
                params = {k: v for k, v in match.groupdict().items() if v is not None}
                return handler(ctx, repo, params)
        raise _not_found()

    def _find_repo(self, ctx: _Ctx, path: str) -> tuple[FakeRepo, str]:
        by_name = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        by_id = re.fullmatch(r"/repositories/(\d+)(/.*)?", path)
        repo: FakeRepo | None = None
        if by_name:
            repo = self._repos.get(f"{by_name[1]}/{by_name[2]}".lower())
            rest = by_name[3] or ""
        elif by_id:
            repo = next((r for r in self._repos.values() if r.id == int(by_id[1])), None)
            rest = by_id[2] or ""
        else:
            raise _not_found()
        # A private repository is invisible, not forbidden, to anonymous callers.
        if repo is None or (repo.private and not ctx.authenticated):
            raise _not_found(f"{DOCS}/repos/repos#get-a-repository")
        return repo, rest

    # ---- routes --------------------------------------------------------------------------

    def _user(self, ctx: _Ctx, login: str) -> dict[str, Any]:
        if login not in self._users:
            self._users[login] = 500 + len(self._users)
        uid = self._users[login]
        return {
            "login": login,
            "id": uid,
            "node_id": _node_id("User", uid),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "gravatar_id": "",
            "url": f"{ctx.api}/users/{login}",
            "html_url": f"{HTML}/{login}",
            "type": "User",
            "site_admin": False,
        }

    def _repo_json(self, ctx: _Ctx, repo: FakeRepo) -> dict[str, Any]:
        api = f"{ctx.api}/repos/{repo.full_name}"
        open_count = sum(1 for i in repo.issues.values() if i.state == "open" and not i.deleted)
        pushed = repo.head.date
        return {
            "id": repo.id,
            "node_id": _node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self._user(ctx, repo.owner),
            "html_url": f"{HTML}/{repo.full_name}",
            "description": repo.description,
            "fork": False,
            "url": api,
            "issues_url": f"{api}/issues{{/number}}",
            "contents_url": f"{api}/contents/{{+path}}",
            "trees_url": f"{api}/git/trees{{/sha}}",
            "created_at": _iso(repo.created_at),
            "updated_at": _iso(pushed),
            "pushed_at": _iso(pushed),
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
            "visibility": "private" if repo.private else "public",
            "forks": 0,
            "open_issues": open_count,
            "watchers": 0,
            "default_branch": repo.default_branch,
        }

    def _get_repo(self, ctx: _Ctx, repo: FakeRepo, params: dict[str, str]) -> _Answer:
        return _json(200, self._repo_json(ctx, repo))

    @staticmethod
    def _issue_html(repo: FakeRepo, issue: _Issue) -> str:
        kind = "pull" if issue.is_pull_request else "issues"
        return f"{HTML}/{repo.full_name}/{kind}/{issue.number}"

    def _association(self, repo: FakeRepo, login: str, explicit: str | None = None) -> str:
        return explicit or ("OWNER" if login.lower() == repo.owner.lower() else "NONE")

    @staticmethod
    def _reactions(url: str) -> dict[str, Any]:
        counts = dict.fromkeys(
            ["+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"], 0
        )
        return {"url": f"{url}/reactions", "total_count": 0, **counts}

    def _issue_json(self, ctx: _Ctx, repo: FakeRepo, issue: _Issue) -> dict[str, Any]:
        api = f"{ctx.api}/repos/{repo.full_name}"
        url = f"{api}/issues/{issue.number}"
        assignees = [self._user(ctx, login) for login in issue.assignees]
        labels = []
        for name in issue.labels:
            label = repo.labels[name.lower()]
            labels.append(
                {
                    "id": label.id,
                    "node_id": _node_id("Label", label.id),
                    "url": f"{api}/labels/{quote(label.name)}",
                    "name": label.name,
                    "color": label.color,
                    "default": False,
                    "description": label.description,
                }
            )
        data: dict[str, Any] = {
            "url": url,
            "repository_url": api,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": self._issue_html(repo, issue),
            "id": issue.id,
            "node_id": _node_id("PullRequest" if issue.is_pull_request else "Issue", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self._user(ctx, issue.user),
            "labels": labels,
            "state": issue.state,
            "locked": issue.locked,
            "assignee": assignees[0] if assignees else None,
            "assignees": assignees,
            "milestone": None,
            "comments": len(issue.comments),
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at),
            "closed_at": _iso(issue.closed_at),
            "author_association": self._association(repo, issue.user, issue.author_association),
            "active_lock_reason": None,
            "body": issue.body,
            "reactions": self._reactions(url),
            "timeline_url": f"{url}/timeline",
            "performed_via_github_app": None,
            "state_reason": issue.state_reason,
        }
        if issue.is_pull_request:
            pr_html = f"{HTML}/{repo.full_name}/pull/{issue.number}"
            data["draft"] = False
            data["pull_request"] = {
                "url": f"{api}/pulls/{issue.number}",
                "html_url": pr_html,
                "diff_url": f"{pr_html}.diff",
                "patch_url": f"{pr_html}.patch",
                "merged_at": _iso(issue.merged_at),
            }
        return data

    def _comment_json(
        self, ctx: _Ctx, repo: FakeRepo, issue: _Issue, comment: _Comment
    ) -> dict[str, Any]:
        api = f"{ctx.api}/repos/{repo.full_name}"
        url = f"{api}/issues/comments/{comment.id}"
        return {
            "url": url,
            "html_url": f"{self._issue_html(repo, issue)}#issuecomment-{comment.id}",
            "issue_url": f"{api}/issues/{issue.number}",
            "id": comment.id,
            "node_id": _node_id("IssueComment", comment.id),
            "user": self._user(ctx, comment.user),
            "created_at": _iso(comment.created_at),
            "updated_at": _iso(comment.updated_at),
            "author_association": self._association(repo, comment.user),
            "body": comment.body,
            "reactions": self._reactions(url),
            "performed_via_github_app": None,
        }

    def _paginate(self, ctx: _Ctx, items: Sequence[Any], link_path: str) -> _Answer:
        per_page, page = _page_params(ctx.query)
        last = max(1, math.ceil(len(items) / per_page))
        answer = _json(200, list(items[(page - 1) * per_page : page * per_page]))
        if last == 1 and page == 1:
            return answer
        kept = [(k, v) for k, v in ctx.query.items() if k not in {"page", "per_page"}]

        def url(n: int) -> str:
            query = urlencode([*kept, ("per_page", per_page), ("page", n)])
            return f"<{ctx.api}{link_path}?{query}>"

        # The same rel set and order as GitHub: no prev/first on page 1, no next/last at the end.
        links = []
        if page > 1:
            links.append(f'{url(min(page - 1, last))}; rel="prev"')
        if page < last:
            links += [f'{url(page + 1)}; rel="next"', f'{url(last)}; rel="last"']
        if page > 1:
            links.append(f'{url(1)}; rel="first"')
        answer.headers["link"] = ", ".join(links)
        return answer

    def _live_issue(self, repo: FakeRepo, params: Mapping[str, str]) -> _Issue:
        issue = repo.issues.get(int(params["number"]))
        if issue is None:
            raise _not_found(f"{DOCS}/issues/issues#get-an-issue")
        if issue.deleted:
            raise _Fail(
                _json(
                    410,
                    {
                        "message": "This issue was deleted",
                        "documentation_url": f"{DOCS}/issues/issues#get-an-issue",
                        "status": "410",
                    },
                )
            )
        return issue

    def _get_issue(self, ctx: _Ctx, repo: FakeRepo, params: dict[str, str]) -> _Answer:
        return _json(200, self._issue_json(ctx, repo, self._live_issue(repo, params)))

    def _list_issues(self, ctx: _Ctx, repo: FakeRepo, params: dict[str, str]) -> _Answer:
        state = ctx.query.get("state", "open")
        if state not in {"open", "closed", "all"}:
            raise _error(422, "Validation Failed", f"{DOCS}/issues/issues#list-repository-issues")
        wanted = {n.strip().lower() for n in ctx.query.get("labels", "").split(",") if n.strip()}
        since = _parse_since(ctx.query)
        issues = [
            i
            for i in repo.issues.values()
            if not i.deleted
            and (state == "all" or i.state == state)
            and wanted <= {n.lower() for n in i.labels}
            and (since is None or i.updated_at >= since)
        ]
        sort = ctx.query.get("sort", "created")
        keys: dict[str, Callable[[_Issue], Any]] = {
            "created": lambda i: (i.created_at, i.number),
            "updated": lambda i: (i.updated_at, i.number),
            "comments": lambda i: (len(i.comments), i.number),
        }
        issues.sort(
            key=keys.get(sort, keys["created"]), reverse=ctx.query.get("direction") != "asc"
        )
        rendered = [self._issue_json(ctx, repo, i) for i in issues]
        return self._paginate(ctx, rendered, f"/repositories/{repo.id}/issues")

    def _list_comments(self, ctx: _Ctx, repo: FakeRepo, params: dict[str, str]) -> _Answer:
        issue = self._live_issue(repo, params)
        since = _parse_since(ctx.query)
        comments = sorted(
            (c for c in issue.comments if since is None or c.updated_at >= since),
            key=lambda c: (c.created_at, c.id),
        )
        rendered = [self._comment_json(ctx, repo, issue, c) for c in comments]
        link_path = f"/repositories/{repo.id}/issues/{issue.number}/comments"
        return self._paginate(ctx, rendered, link_path)

    def _list_timeline(self, ctx: _Ctx, repo: FakeRepo, params: dict[str, str]) -> _Answer:
        issue = self._live_issue(repo, params)
        events: list[tuple[datetime, int, dict[str, Any]]] = []
        for comment in issue.comments:
            data = self._comment_json(ctx, repo, issue, comment)
            data.update(event="commented", actor=data["user"])
            events.append((comment.created_at, comment.id, data))
        for seq, (at, spec) in enumerate(issue.events):
            if spec["kind"] == "raw":
                data = spec["event"]
            else:
                pr = repo.issues[spec["pr"]]
                source = {
                    **self._issue_json(ctx, repo, pr),
                    "repository": self._repo_json(ctx, repo),
                }
                data = {
                    "actor": self._user(ctx, spec["actor"]),
                    "event": "cross-referenced",
                    "created_at": _iso(at),
                    "updated_at": _iso(at),
                    "source": {"type": "issue", "issue": source},
                }
            events.append((at, seq, data))
        events.sort(key=lambda e: (e[0], e[1]))
        link_path = f"/repositories/{repo.id}/issues/{issue.number}/timeline"
        return self._paginate(ctx, [e[2] for e in events], link_path)

    def _resolve_commit(self, repo: FakeRepo, ref: str) -> Commit | None:
        if ref in {repo.default_branch, "HEAD", f"heads/{repo.default_branch}"}:
            return repo.head
        if re.fullmatch(r"[0-9a-fA-F]{7,40}", ref):
            found = [c for sha, c in repo.objects.commits.items() if sha.startswith(ref.lower())]
            if len(found) == 1:
                return found[0]
        return None

    def _commit_json(self, ctx: _Ctx, repo: FakeRepo, commit: Commit) -> dict[str, Any]:
        api = f"{ctx.api}/repos/{repo.full_name}"
        person = {
            "name": "IssueSight Fake",
            "email": "fake@example.invalid",
            "date": _iso(commit.date),
        }
        parents = [] if commit.parent is None else [commit.parent]
        return {
            "sha": commit.sha,
            "node_id": _node_id("Commit", int(commit.sha[:8], 16)),
            "commit": {
                "author": person,
                "committer": person,
                "message": commit.message,
                "tree": {"sha": commit.tree_sha, "url": f"{api}/git/trees/{commit.tree_sha}"},
                "url": f"{api}/git/commits/{commit.sha}",
                "comment_count": 0,
            },
            "url": f"{api}/commits/{commit.sha}",
            "html_url": f"{HTML}/{repo.full_name}/commit/{commit.sha}",
            "author": None,
            "committer": None,
            "parents": [
                {
                    "sha": p,
                    "url": f"{api}/commits/{p}",
                    "html_url": f"{HTML}/{repo.full_name}/commit/{p}",
                }
                for p in parents
            ],
        }

    def _get_commit(self, ctx: _Ctx, repo: FakeRepo, params: dict[str, str]) -> _Answer:
        commit = self._resolve_commit(repo, params["ref"])
        if commit is None:
            raise _error(
                422,
                f"No commit found for SHA: {params['ref']}",
                f"{DOCS}/commits/commits#get-a-commit",
            )
        if _SHA_ACCEPT.search(ctx.accept):
            return _Answer(200, commit.sha.encode(), "application/vnd.github.sha; charset=utf-8")
        return _json(200, self._commit_json(ctx, repo, commit))

    def _get_tree(self, ctx: _Ctx, repo: FakeRepo, params: dict[str, str]) -> _Answer:
        ref = params["ref"]
        tree_sha = ref.lower() if ref.lower() in repo.objects.trees else None
        if tree_sha is None:
            commit = self._resolve_commit(repo, ref)
            if commit is None:
                raise _not_found(f"{DOCS}/git/trees#get-a-tree")
            tree_sha = commit.tree_sha
        api = f"{ctx.api}/repos/{repo.full_name}"
        # GitHub treats any value of `recursive` as true.
        walk = repo.objects.walk(tree_sha, recursive="recursive" in ctx.query)
        tree = []
        for path, entry in walk:
            kind = "blobs" if entry.type == "blob" else "trees"
            item: dict[str, Any] = {
                "path": path,
                "mode": entry.mode,
                "type": entry.type,
                "sha": entry.sha,
            }
            if entry.size is not None:
                item["size"] = entry.size
            item["url"] = f"{api}/git/{kind}/{entry.sha}"
            tree.append(item)
        url = f"{api}/git/trees/{tree_sha}"
        return _json(200, {"sha": tree_sha, "url": url, "tree": tree, "truncated": False})

    def _raw(self, ctx: _Ctx, data: bytes) -> _Answer:
        media = (
            "application/vnd.github.v3.raw"
            if ".v3." in ctx.accept
            else "application/vnd.github.raw"
        )
        return _Answer(
            200, data, f"{media}; charset=utf-8", {"x-github-media-type": "github.v3; param=raw"}
        )

    def _get_blob(self, ctx: _Ctx, repo: FakeRepo, params: dict[str, str]) -> _Answer:
        sha = params["sha"].lower()
        data = repo.objects.blobs.get(sha)
        if data is None:
            raise _not_found(f"{DOCS}/git/blobs#get-a-blob")
        if ctx.raw:
            return self._raw(ctx, data)
        return _json(
            200,
            {
                "sha": sha,
                "node_id": _node_id("Blob", int(sha[:8], 16)),
                "size": len(data),
                "url": f"{ctx.api}/repos/{repo.full_name}/git/blobs/{sha}",
                "content": _b64_lines(data),
                "encoding": "base64",
            },
        )

    def _content_entry(
        self, ctx: _Ctx, repo: FakeRepo, ref: str, path: str, entry: TreeEntry
    ) -> dict[str, Any]:
        api = f"{ctx.api}/repos/{repo.full_name}"
        is_file = entry.type == "blob"
        self_url = f"{api}/contents/{quote(path)}?ref={quote(ref)}"
        git_url = f"{api}/git/{'blobs' if is_file else 'trees'}/{entry.sha}"
        html_url = f"{HTML}/{repo.full_name}/{'blob' if is_file else 'tree'}/{ref}/{quote(path)}"
        raw_host = "https://raw.githubusercontent.com"
        return {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": entry.sha,
            "size": entry.size or 0,
            "url": self_url,
            "html_url": html_url,
            "git_url": git_url,
            "download_url": f"{raw_host}/{repo.full_name}/{ref}/{quote(path)}" if is_file else None,
            "type": "file" if is_file else "dir",
            "_links": {"self": self_url, "git": git_url, "html": html_url},
        }

    def _file_answer(
        self, ctx: _Ctx, repo: FakeRepo, ref: str, path: str, entry: TreeEntry
    ) -> _Answer:
        data = repo.objects.blobs[entry.sha]
        if ctx.raw:
            return self._raw(ctx, data)
        inline = len(data) <= _INLINE_CONTENT_LIMIT
        payload = {
            **self._content_entry(ctx, repo, ref, path, entry),
            "content": _b64_lines(data) if inline else "",
            "encoding": "base64" if inline else "none",
        }
        return _json(200, payload)

    def _ref_commit(self, ctx: _Ctx, repo: FakeRepo) -> tuple[str, Commit]:
        ref = ctx.query.get("ref") or repo.default_branch
        commit = self._resolve_commit(repo, ref)
        if commit is None:
            raise _error(
                404,
                f"No commit found for the ref {ref}",
                f"{DOCS}/repos/contents#get-repository-content",
            )
        return ref, commit

    def _get_readme(self, ctx: _Ctx, repo: FakeRepo, params: dict[str, str]) -> _Answer:
        ref, commit = self._ref_commit(ctx, repo)
        readmes = [
            e
            for e in repo.objects.trees[commit.tree_sha]
            if e.type == "blob" and e.name.lower().startswith("readme")
        ]
        if not readmes:
            raise _not_found(f"{DOCS}/repos/contents#get-a-repository-readme")
        entry = min(readmes, key=lambda e: (e.name.lower() != "readme.md", e.name))
        return self._file_answer(ctx, repo, ref, entry.name, entry)

    def _get_contents(self, ctx: _Ctx, repo: FakeRepo, params: dict[str, str]) -> _Answer:
        ref, commit = self._ref_commit(ctx, repo)
        path = params.get("path", "").strip("/")
        entry = repo.objects.resolve(commit.tree_sha, path)
        if entry is None:
            raise _not_found(f"{DOCS}/repos/contents#get-repository-content")
        if entry.type == "blob":
            return self._file_answer(ctx, repo, ref, path, entry)
        listing = [
            self._content_entry(ctx, repo, ref, f"{path}/{name}".lstrip("/"), child)
            for name, child in repo.objects.walk(entry.sha, recursive=False)
        ]
        return _json(200, listing)


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False

    def strip(tag: str) -> str:
        return tag.strip().removeprefix("W/")

    return if_none_match.strip() == "*" or strip(etag) in {
        strip(t) for t in if_none_match.split(",")
    }
