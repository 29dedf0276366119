"""A fake GitHub REST v3 API, faithful at the wire: status codes, headers, Link pagination,
ETags and conditional requests, rate limits, raw media types and GitHub's error bodies.

Tests drive it through the real HTTP client; state lives in plain objects behind one lock,
because the test thread mutates it while the server thread answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import _github_json as render
from ._git import ObjectStore, normalize_files
from ._github_routes import (
    CODELOAD_PREFIX,
    DOCS,
    JSON_TYPE,
    Answer,
    Ctx,
    Fail,
    codeload,
    json_answer,
    not_found,
    route,
)
from ._github_state import Comment, FakeRepo, Issue, Label, iso, now, to_datetime

__all__ = ["FakeGitHub", "FakeRepo", "RecordedRequest"]

RATE_LIMIT_DOCS = f"{DOCS}/overview/resources-in-the-rest-api#rate-limiting"
_RATE_WINDOW = 3600.0
_EDITABLE = frozenset(
    [
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
    ]
)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    status: int
    at: float  # epoch seconds at arrival
    counted: bool = True  # spent rate-limit budget (304s and archive downloads do not)


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    body: dict[str, Any] | str | None


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False

    def strip(tag: str) -> str:
        return tag.strip().removeprefix("W/")

    candidates = {strip(t) for t in if_none_match.split(",")}
    return "*" in candidates or strip(etag) in candidates


class FakeGitHub:
    """GitHub REST v3 for tests: add repos and issues, inject faults, read the request log.

    `token`: if set, a request carrying another token gets 401; requests without one are
    anonymous (they see public repositories only, as on GitHub).
    """

    def __init__(self, token: str | None = None, *, latency: float = 0.0) -> None:
        self.token = token
        self.latency = latency  # seconds added to every answer
        self.url = ""  # for the caller to record where it serves `app`; unused here
        self._lock = threading.RLock()
        self._ids = 1000
        self._repos: dict[str, FakeRepo] = {}
        self._faults: list[_Fault] = []
        self._log: list[RecordedRequest] = []
        self._limit = self._remaining = 5000
        self._reset = math.ceil(time.time() + _RATE_WINDOW)
        # Archives: "" serves them from the API's own origin (GitHub Enterprise); another origin
        # (e.g. http://localhost:PORT) stands for codeload.github.com; a location replaces the
        # redirect altogether (a foreign host).
        self.archive_origin = ""
        self.archive_location = ""
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
        empty: bool = False,
    ) -> FakeRepo:
        key = f"{owner}/{name}".lower()
        normalized = normalize_files(files or {})
        with self._lock:
            if key in self._repos:
                raise ValueError(f"repository {owner}/{name} already exists")
            objects = ObjectStore()
            created = now()
            head = objects.commit(normalized, parent=None, message="Initial", date=created)
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
                commit_sha=head.sha,
                objects=objects,
                empty=empty,
            )
            self._repos[key] = repo
            return repo

    def repo(self, full_name: str) -> FakeRepo:
        """Case-insensitive lookup; KeyError if unknown."""
        with self._lock:
            found = self._repos.get(full_name.lower())
            if found is None:
                raise KeyError(full_name)
            return found

    def repos(self) -> list[FakeRepo]:
        with self._lock:
            return list(self._repos.values())

    def set_archive(self, full_name: str, data: bytes | None) -> None:
        """Serve `data` as the repository's archive (None: the one built from its files)."""
        with self._lock:
            self.repo(full_name).archive = data

    def set_files(self, full_name: str, files: Mapping[str, str | bytes]) -> str:
        """Replace the default branch's files with a new commit; returns its sha.

        Earlier commits, trees and blobs stay readable by sha, as on GitHub.
        """
        normalized = normalize_files(files)
        with self._lock:
            repo = self.repo(full_name)
            head = repo.objects.commit(
                normalized, parent=repo.commit_sha, message="Update files", date=now()
            )
            repo.files, repo.commit_sha = normalized, head.sha
            return head.sha

    # ---- state: issues -------------------------------------------------------------------

    def _label_names(self, repo: FakeRepo, labels: Sequence[str | Mapping[str, Any]]) -> list[str]:
        """Register labels ({"name", "color", "description"} or a name) with the repository."""
        names = []
        for label in labels:
            spec: Mapping[str, Any] = {"name": label} if isinstance(label, str) else label
            name = str(spec["name"])
            known = repo.labels.get(name.lower())
            if known is None:
                color = hashlib.sha256(name.lower().encode()).hexdigest()[:6]
                known = repo.labels[name.lower()] = Label(self._next_id(), name, color, None)
            known.color = str(spec.get("color", known.color))
            known.description = spec.get("description", known.description)
            names.append(known.name)
        return names

    def _issue(self, full_name: str, number: int) -> Issue:
        found = self.repo(full_name).issues.get(number)
        if found is None:
            raise KeyError(f"{full_name}#{number}")
        return found

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
        """Stores an issue (or a pull request: the issues API lists both); returns a snapshot.

        `comments` are bodies or {"body", "user", "created_at"} dicts.
        """
        with self._lock:
            repo = self.repo(full_name)
            if number is None:
                number = max(repo.issues, default=0) + 1
            if number in repo.issues:
                raise ValueError(f"{full_name}#{number} already exists")
            created = to_datetime(created_at, now())
            item = Issue(
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
            repo.issues[number] = item
            self._set_state(item, state, at=created)
            for entry in comments:
                spec = {"body": entry} if isinstance(entry, str) else entry
                self._append_comment(item, spec, default_at=created)
            item.updated_at = to_datetime(updated_at, item.updated_at)
            return self._snapshot(repo, item)

    @staticmethod
    def _set_state(item: Issue, state: str, *, at: datetime) -> None:
        if state not in {"open", "closed"}:
            raise ValueError(f"state must be 'open' or 'closed', not {state!r}")
        if state != item.state:
            item.state = state
            item.closed_at = at if state == "closed" else None
            item.state_reason = "completed" if state == "closed" else "reopened"

    def _append_comment(
        self, item: Issue, spec: Mapping[str, Any], *, default_at: datetime | None = None
    ) -> Comment:
        at = to_datetime(spec.get("created_at"), default_at or now())
        note = Comment(self._next_id(), str(spec["body"]), spec.get("user", "octocat"), at, at)
        item.comments.append(note)
        # Commenting touches the issue, as on GitHub.
        item.updated_at = max(item.updated_at, at)
        return note

    @staticmethod
    def _bump(item: Issue) -> None:
        # At least one second later: timestamps have second precision, and an edit made in the
        # same second as the previous one must still show up through `since` filters.
        item.updated_at = max(now(), item.updated_at + timedelta(seconds=1))

    def edit_issue(self, full_name: str, number: int, **fields: Any) -> dict[str, Any]:
        """Change stored fields (title, body, labels, state, assignees, ...); bumps updated_at
        unless `updated_at` is given."""
        unknown = set(fields) - _EDITABLE
        if unknown:
            raise TypeError(f"edit_issue got unknown fields: {sorted(unknown)}")
        with self._lock:
            repo = self.repo(full_name)
            item = self._issue(full_name, number)
            self._bump(item)
            for name, value in fields.items():
                if name == "labels":
                    item.labels = self._label_names(repo, value)
                elif name == "state":
                    self._set_state(item, value, at=item.updated_at)
                elif name == "merged_at":
                    item.merged_at = to_datetime(value, now()) if value else None
                elif name in {"created_at", "updated_at"}:
                    setattr(item, name, to_datetime(value, now()))
                else:
                    setattr(item, name, value)
            return self._snapshot(repo, item)

    def delete_issue(self, full_name: str, number: int) -> None:
        """From now on the issue answers 410 and is left out of listings."""
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
            item = self._issue(full_name, number)
            if created_at is None:
                self._bump(item)
                created_at = item.updated_at
            spec = {"body": body, "user": user, "created_at": created_at}
            note = self._append_comment(item, spec)
            return {
                "id": note.id,
                "body": note.body,
                "user": note.user,
                "created_at": iso(note.created_at),
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
        """A pull request of the same repository mentions issue `number` (a timeline event).

        The pull request is created if missing; either way it is given `state` (merged: closed
        with merged_at set).
        """
        with self._lock:
            repo = self.repo(full_name)
            item = self._issue(full_name, number)
            if pr_number not in repo.issues:
                self.add_issue(
                    full_name,
                    pr_number,
                    title=f"Fix #{number}",
                    body=f"Fixes #{number}",
                    user=actor,
                    is_pull_request=True,
                )
            pr = repo.issues[pr_number]
            if not pr.is_pull_request:
                raise ValueError(f"{full_name}#{pr_number} is an issue, not a pull request")
            at = now()
            self._set_state(pr, "closed" if merged else state, at=at)
            pr.merged_at = at if merged else None
            item.events.append((at, {"kind": "cross-referenced", "pr": pr_number, "actor": actor}))

    def add_timeline_event(self, full_name: str, number: int, event: Mapping[str, Any]) -> None:
        """Append a timeline event served as given, for kinds not modelled here."""
        with self._lock:
            item = self._issue(full_name, number)
            at = to_datetime(event.get("created_at"), now())
            item.events.append((at, {"kind": "raw", "event": dict(event)}))

    @staticmethod
    def _snapshot(repo: FakeRepo, item: Issue) -> dict[str, Any]:
        return {
            "id": item.id,
            "number": item.number,
            "repository": repo.full_name,
            "html_url": render.issue_html(repo, item),
            "title": item.title,
            "body": item.body,
            "labels": list(item.labels),
            "state": item.state,
            "state_reason": item.state_reason,
            "assignees": list(item.assignees),
            "user": item.user,
            "is_pull_request": item.is_pull_request,
            "created_at": iso(item.created_at),
            "updated_at": iso(item.updated_at),
            "closed_at": iso(item.closed_at),
            "comments": [
                {"id": c.id, "body": c.body, "user": c.user, "created_at": iso(c.created_at)}
                for c in item.comments
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

        A str body is served as HTML (GitHub's 5xx pages are HTML); None means a JSON message.
        Given headers override the usual ones (x-ratelimit-*, ...).
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
        if time.time() >= self._reset:
            self._remaining = self._limit
            self._reset = math.ceil(time.time() + _RATE_WINDOW)

    # ---- observation ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request answered so far, in the order answered."""
        with self._lock:
            return list(self._log)

    def count(
        self,
        path_pattern: str | None = None,
        *,
        status: int | None = None,
        exclude_status: int | None = None,
        counted: bool | None = None,
    ) -> int:
        """Requests whose path matches; `counted=True`: only those that spent rate limit."""
        pattern = re.compile(path_pattern) if path_pattern is not None else None
        return sum(
            1
            for r in self.requests
            if (pattern is None or pattern.search(r.path))
            and (status is None or r.status == status)
            and (exclude_status is None or r.status != exclude_status)
            and (counted is None or r.counted == counted)
        )

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    def reset(self) -> None:
        """Forget repositories, faults, the log, latency and rate-limit state (ids keep growing,
        so stale ids from an earlier test never resolve)."""
        with self._lock:
            self._repos.clear()
            self._faults.clear()
            self._log.clear()
            self._limit = self._remaining = 5000
            self._reset = math.ceil(time.time() + _RATE_WINDOW)
            self.latency = 0.0
            self.archive_origin = self.archive_location = ""

    # ---- HTTP pipeline -------------------------------------------------------------------

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
                RecordedRequest(
                    request.method, path, query, headers, answer.status, arrived, answer.counted
                )
            )
        if answer.content_type is not None:
            answer.headers["content-type"] = answer.content_type
        return Response(answer.body, status_code=answer.status, headers=answer.headers)

    def _answer(
        self, request: Request, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> Answer:
        """With the lock held: fault, credentials, route, conditional request, rate limit."""
        self._refill()
        answer = self._take_fault(path)
        if answer is None and path.startswith(CODELOAD_PREFIX + "/"):
            # The archive host: its URL is the credential (GitHub signs it for private
            # repositories), and it is not the API: no token check, no rate limit.
            try:
                answer = self._codeload(path)
            except Fail as fail:
                answer = fail.answer
        if answer is None:
            try:
                self._check_token(headers.get("authorization"))
                if request.method not in {"GET", "HEAD"}:
                    raise not_found()
                if path == "/rate_limit":
                    answer = self._rate_limit_body()
                else:
                    ctx = Ctx(
                        str(request.base_url).rstrip("/"),
                        query,
                        headers.get("accept", ""),
                        self.archive_origin,
                        self.archive_location,
                    )
                    answer = self._route(ctx, path, authenticated="authorization" in headers)
            except Fail as fail:
                answer = fail.answer
        etag = None
        if answer.status == 200:
            etag = f'W/"{hashlib.sha256(answer.body).hexdigest()}"'
            if _etag_matches(headers.get("if-none-match"), etag):
                # GitHub does not charge a 304, so a cached resource stays readable when the
                # budget is exhausted.
                answer = Answer(304, b"", None, counted=False)
        if answer.counted and self._remaining <= 0:
            answer = self._rate_limited(request, authenticated="authorization" in headers)
        if answer.counted:
            self._remaining = max(self._remaining - 1, 0)
        final = {
            "x-ratelimit-limit": str(self._limit),
            "x-ratelimit-remaining": str(self._remaining),
            "x-ratelimit-used": str(self._limit - self._remaining),
            "x-ratelimit-reset": str(self._reset),
            "x-ratelimit-resource": "core",
            "x-github-request-id": uuid.uuid4().hex[:20].upper(),
            "x-github-api-version-selected": "2022-11-28",
            "x-github-media-type": "github.v3; format=json",
        }
        if etag is not None:
            final["etag"] = etag
        if answer.status == 200:
            final["cache-control"] = "private, max-age=60, s-maxage=60"
            final["vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        answer.headers = final | answer.headers
        return answer

    def _take_fault(self, path: str) -> Answer | None:
        fault = next((f for f in self._faults if f.pattern.search(path)), None)
        if fault is None:
            return None
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
        return Answer(fault.status, body, content_type, dict(fault.headers))

    def _codeload(self, path: str) -> Answer:
        parts = path[len(CODELOAD_PREFIX) + 1 :].split("/")
        if len(parts) != 4 or parts[2] != "legacy.tar.gz":
            raise not_found()
        repo = self._repos.get(f"{parts[0]}/{parts[1]}".lower())
        if repo is None:
            raise not_found()
        return codeload(repo, parts[3])

    def _check_token(self, authorization: str | None) -> None:
        if authorization is None or self.token is None:
            return
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() not in {"bearer", "token"} or credential.strip() != self.token:
            raise Fail(json_answer(401, {"message": "Bad credentials", "documentation_url": DOCS}))

    @staticmethod
    def _rate_limited(request: Request, *, authenticated: bool) -> Answer:
        if authenticated:
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
        return json_answer(403, {"message": message, "documentation_url": RATE_LIMIT_DOCS})

    def _rate_limit_body(self) -> Answer:
        def resource(name: str, limit: int, remaining: int) -> dict[str, Any]:
            return {
                "limit": limit,
                "used": limit - remaining,
                "remaining": remaining,
                "reset": self._reset,
                "resource": name,
            }

        core = resource("core", self._limit, self._remaining)
        resources = {"core": core, "search": resource("search", 30, 30)}
        answer = json_answer(200, {"resources": resources, "rate": core})
        answer.counted = False  # GitHub does not charge for reading the rate limit
        return answer

    def _route(self, ctx: Ctx, path: str, *, authenticated: bool) -> Answer:
        by_name = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        by_id = re.fullmatch(r"/repositories/(\d+)(/.*)?", path)
        repo: FakeRepo | None = None
        if by_name:
            repo, rest = self._repos.get(f"{by_name[1]}/{by_name[2]}".lower()), by_name[3]
        elif by_id:
            repo = next((r for r in self._repos.values() if r.id == int(by_id[1])), None)
            rest = by_id[2]
        else:
            raise not_found()
        # A private repository is invisible, not forbidden, to anonymous callers.
        if repo is None or (repo.private and not authenticated):
            raise not_found(f"{DOCS}/repos/repos#get-a-repository")
        return route(ctx, repo, rest or "")
