"""A fake of GitHub's OAuth web flow for OAuth apps, and the two API reads that say who a token
belongs to, faithful at the wire:

- `GET /login/oauth/authorize`: GitHub's consent step, decided by the test (`signed_in`, `deny`):
  a 302 back to `redirect_uri` with `code` and `state`, or with `error=access_denied`; an
  unregistered `redirect_uri` goes to the registered callback with `error=redirect_uri_mismatch`;
  an unknown `client_id` is GitHub's 404 page.
- `POST /login/oauth/access_token`: parameters in the form body (or the query string); the
  answer is form-encoded by default and JSON for `Accept: application/json`, as GitHub does;
  `incorrect_client_credentials`, `redirect_uri_mismatch` and `bad_verification_code` (unknown,
  used or expired codes: single use, ten minutes) come back with status 200, as on GitHub.
- `GET /user` and `GET /user/emails` (also under `/api/v3`, GitHub Enterprise's layout) with
  `Authorization: Bearer|token <token>`: 401 `Bad credentials` otherwise; `/user/emails` needs the
  `user:email` (or `user`) scope and answers 404 without it, as GitHub does.

Faults at the edge: `token_faults` / `api_faults` are statuses the next calls answer with
(GitHub's 5xx pages are HTML). Any other path goes to `fallback` (e.g. the fake REST API), so one
server can stand for a whole GitHub.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

DOCS = "https://docs.github.com"
_TROUBLE = "/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"
CODE_SECONDS = 600


@dataclass
class FakeGitHubUser:
    id: int
    login: str
    name: str | None = None
    # GitHub's /user/emails items: {"email", "primary", "verified", "visibility"}
    emails: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class OAuthRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    form: dict[str, str]
    status: int


@dataclass
class _Code:
    login: str
    redirect_uri: str | None
    scope: str
    expires: float
    used: bool = False


class FakeGitHubOAuth:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        fallback: ASGIApp | None = None,
        callback_url: str | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.callback_url = callback_url  # the registered callback; None: any is accepted
        self.url = ""  # for the caller to record where it serves `app`; unused here
        self.users: dict[str, FakeGitHubUser] = {}
        self.signed_in: str | None = None  # who is signed in to GitHub in "the browser"
        self.deny = False  # the person clicks "Cancel" on GitHub's consent page
        self.token_faults: list[int] = []
        self.api_faults: list[int] = []
        self.requests: list[OAuthRequest] = []
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, tuple[str, str]] = {}  # token -> (login, scope)
        self._lock = threading.Lock()
        routes: list[Route | Mount] = [
            Route("/login/oauth/authorize", self._authorize, methods=["GET"]),
            Route("/login/oauth/access_token", self._access_token, methods=["POST"]),
        ]
        for prefix in ("", "/api/v3"):
            routes.append(Route(f"{prefix}/user", self._user, methods=["GET"]))
            routes.append(Route(f"{prefix}/user/emails", self._emails, methods=["GET"]))
        if fallback is not None:
            routes.append(Mount("/", app=fallback))
        self.app = Starlette(routes=routes)

    # ---- state ---------------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        id: int,
        name: str | None = None,
        emails: Sequence[tuple[str, bool, bool]] = (),
    ) -> FakeGitHubUser:
        """`emails`: (address, primary, verified)."""
        user = FakeGitHubUser(
            id=id,
            login=login,
            name=name,
            emails=[
                {"email": e, "primary": p, "verified": v, "visibility": "private" if p else None}
                for e, p, v in emails
            ],
        )
        with self._lock:
            self.users[login] = user
        return user

    def calls(self, path: str) -> list[OAuthRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(path)]

    def issued_tokens(self) -> list[str]:
        with self._lock:
            return list(self._tokens)

    # ---- endpoints -----------------------------------------------------------------------

    def _record(self, request: Request, form: dict[str, str], status: int) -> None:
        with self._lock:
            self.requests.append(
                OAuthRequest(
                    method=request.method,
                    path=request.url.path,
                    query=dict(request.query_params),
                    headers={k.lower(): v for k, v in request.headers.items()},
                    form=form,
                    status=status,
                )
            )

    async def _authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        state = query.get("state")
        redirect_uri = query.get("redirect_uri") or self.callback_url
        if query.get("client_id") != self.client_id:
            self._record(request, {}, 404)
            return HTMLResponse(
                "<h1>404</h1><p>This is not the web page you are looking for.</p>", 404
            )
        if self.callback_url and (not redirect_uri or not _within(redirect_uri, self.callback_url)):
            target = _with_query(
                self.callback_url,
                {
                    "error": "redirect_uri_mismatch",
                    "error_description": "The redirect_uri MUST match the registered callback "
                    "URL for this application.",
                    "error_uri": f"{DOCS}/apps/managing-oauth-apps/troubleshooting-"
                    "authorization-request-errors/#redirect-uri-mismatch",
                    "state": state,
                },
            )
            self._record(request, {}, 302)
            return RedirectResponse(target, 302)
        assert redirect_uri is not None, "the fake needs a redirect_uri or a callback_url"
        if self.signed_in is None:
            self._record(request, {}, 200)
            return HTMLResponse("<h1>Sign in to GitHub</h1><p>to continue to the app</p>")
        if self.deny:
            target = _with_query(
                redirect_uri,
                {
                    "error": "access_denied",
                    "error_description": "The user has denied your application access.",
                    "error_uri": f"{DOCS}/apps/managing-oauth-apps/troubleshooting-"
                    "authorization-request-errors/#access-denied",
                    "state": state,
                },
            )
            self._record(request, {}, 302)
            return RedirectResponse(target, 302)
        code = secrets.token_hex(10)  # GitHub's codes are 20 hex characters
        with self._lock:
            self._codes[code] = _Code(
                login=self.signed_in,
                redirect_uri=query.get("redirect_uri"),
                scope=query.get("scope") or "",
                expires=time.time() + CODE_SECONDS,
            )
        self._record(request, {}, 302)
        return RedirectResponse(_with_query(redirect_uri, {"code": code, "state": state}), 302)

    async def _access_token(self, request: Request) -> Response:
        raw = await request.body()
        form = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        if "json" in content_type:
            form.update({k: str(v) for k, v in json.loads(raw or b"{}").items()})
        else:
            form.update(dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True)))
        as_json = "application/json" in request.headers.get("accept", "")
        with self._lock:
            fault = self.token_faults.pop(0) if self.token_faults else None
        if fault is not None:
            self._record(request, form, fault)
            return HTMLResponse(
                "<h1>Unicorn!</h1><p>This page is taking too long to load.</p>", fault
            )
        answer = self._exchange(form)
        self._record(request, form, 200)
        if as_json:
            return Response(json.dumps(answer), 200, media_type="application/json; charset=utf-8")
        return Response(
            urlencode(answer), 200, media_type="application/x-www-form-urlencoded; charset=utf-8"
        )

    def _exchange(self, form: dict[str, str]) -> dict[str, str]:
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return _token_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
                "#incorrect-client-credentials",
            )
        with self._lock:
            code = self._codes.get(form.get("code") or "")
            if code is None or code.used or code.expires < time.time():
                return _token_error(
                    "bad_verification_code",
                    "The code passed is incorrect or expired.",
                    "#bad-verification-code",
                )
            if code.redirect_uri and form.get("redirect_uri") not in (None, code.redirect_uri):
                return _token_error(
                    "redirect_uri_mismatch",
                    "The redirect_uri MUST match the registered callback URL for this application.",
                    "#redirect-uri-mismatch2",
                )
            code.used = True
            token = "gho_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
            self._tokens[token] = (code.login, code.scope)
        return {
            "access_token": token,
            "scope": code.scope.replace(" ", ","),
            "token_type": "bearer",
        }

    def _bearer(self, request: Request) -> tuple[FakeGitHubUser, str] | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        with self._lock:
            held = self._tokens.get(token.strip())
            if held is None:
                return None
            user = self.users.get(held[0])
        return (user, held[1]) if user is not None else None

    def _api_fault(self, request: Request) -> Response | None:
        with self._lock:
            fault = self.api_faults.pop(0) if self.api_faults else None
        if fault is None:
            return None
        self._record(request, {}, fault)
        return HTMLResponse("<h1>Unicorn!</h1>", fault)

    async def _user(self, request: Request) -> Response:
        fault = self._api_fault(request)
        if fault is not None:
            return fault
        held = self._bearer(request)
        if held is None:
            self._record(request, {}, 401)
            return _api_json(
                401,
                {
                    "message": "Bad credentials",
                    "documentation_url": DOCS + "/rest",
                    "status": "401",
                },
            )
        user, scope = held
        self._record(request, {}, 200)
        primary = next(
            (e["email"] for e in user.emails if e["primary"] and e["visibility"] == "public"), None
        )
        return _api_json(
            200,
            {
                "login": user.login,
                "id": user.id,
                "node_id": f"MDQ6VXNlcj{user.id}",
                "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
                "html_url": f"https://github.com/{user.login}",
                "type": "User",
                "site_admin": False,
                "name": user.name,
                "company": None,
                "blog": "",
                "location": None,
                "email": primary,
                "hireable": None,
                "bio": None,
                "public_repos": 2,
                "followers": 0,
                "following": 0,
                "created_at": "2020-01-02T03:04:05Z",
                "updated_at": "2024-01-02T03:04:05Z",
            },
            scope,
        )

    async def _emails(self, request: Request) -> Response:
        fault = self._api_fault(request)
        if fault is not None:
            return fault
        held = self._bearer(request)
        if held is None:
            self._record(request, {}, 401)
            return _api_json(
                401,
                {
                    "message": "Bad credentials",
                    "documentation_url": DOCS + "/rest",
                    "status": "401",
                },
            )
        user, scope = held
        scopes = {s.strip() for s in scope.replace(",", " ").split()}
        if not scopes & {"user:email", "user"}:
            self._record(request, {}, 404)
            return _api_json(
                404,
                {"message": "Not Found", "documentation_url": DOCS + "/rest", "status": "404"},
                scope,
            )
        self._record(request, {}, 200)
        return _api_json(200, user.emails, scope)


def _token_error(code: str, description: str, anchor: str) -> dict[str, str]:
    return {"error": code, "error_description": description, "error_uri": _TROUBLE + anchor}


def _api_json(status: int, payload: Any, scope: str = "") -> Response:
    return Response(
        json.dumps(payload),
        status,
        media_type="application/json; charset=utf-8",
        headers={
            "X-OAuth-Scopes": scope.replace(" ", ", "),
            "X-Accepted-OAuth-Scopes": "",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-RateLimit-Limit": "5000",
            "X-RateLimit-Remaining": "4999",
        },
    )


def _with_query(url: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _within(redirect_uri: str, callback: str) -> bool:
    """GitHub: same host and port, and a path at or below the registered callback's."""
    got, want = urlsplit(redirect_uri), urlsplit(callback)
    return (got.scheme, got.netloc) == (want.scheme, want.netloc) and (
        got.path == want.path or got.path.startswith(want.path.rstrip("/") + "/")
    )
