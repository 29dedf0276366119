"""Authentication and authorization for the API: who is calling (an API key sent as
`Authorization: Bearer <key>`, open mode's local user, or whatever a registered resolver
recognizes, e.g. a page's session cookie), what their role lets them do, and how fast they may
write. Every refusal is a `Refusal`, answered and counted in one place.

FastAPI dependencies, from the least to the most demanding (aliases in `api.deps`):
`current_principal` (None for an anonymous caller in keys mode), `require_user` (401 without
one), `require_writer` (rate limited per client address, then per key), `require_admin` (a
writer with the admin role, 403 otherwise) and `require_admin_reader` (an admin, for reads).

A page that signs people in with a cookie adds a resolver (`Authenticator.add_resolver`): the
same dependencies, roles and rate limits then apply to it unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from issuesight.accounts.principal import Principal
from issuesight.accounts.ratelimit import TokenBucket
from issuesight.accounts.store import AccountStore
from issuesight.core import metrics
from issuesight.core.http import format_retry_after
from issuesight.core.settings import Settings

log = logging.getLogger(__name__)
REALM = 'Bearer realm="issuesight"'
Resolver = Callable[[Request], Awaitable[Principal | None]]
# Query parameters that carry credentials in other APIs, and anything shaped like one of our keys
# (not merely containing "isk_": a search for "risk_score" is no key).
_CREDENTIAL_PARAMS = {"access_token", "api_key", "apikey"}
_KEY_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])isk_[0-9a-f]{12}")


class Refusal(Exception):
    """A request refused before any work: status, a reason for the metrics, a message."""

    def __init__(
        self,
        status: int,
        reason: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


def unauthenticated(detail: str, *, error: str | None = None) -> Refusal:
    challenge = REALM if error is None else f'{REALM}, error="{error}"'
    return Refusal(401, "unauthenticated", detail, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str) -> Refusal:
    return Refusal(
        403,
        "forbidden",
        detail,
        headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope"'},
    )


def too_many(reason: str, detail: str, retry_after: float, **extra: Any) -> Refusal:
    seconds = format_retry_after(retry_after)
    return Refusal(
        429,
        reason,
        detail,
        headers={"Retry-After": seconds},
        extra={"retry_after": int(seconds), **extra},
    )


def count(refusal: Refusal) -> Refusal:
    """Every refusal is counted once, by reason, whoever renders it (JSON here, or a page)."""
    metrics.REFUSALS.labels(refusal.reason).inc()
    return refusal


def _answer(refusal: Refusal) -> JSONResponse:
    count(refusal)
    return JSONResponse(
        {"detail": refusal.detail, **refusal.extra},
        status_code=refusal.status,
        headers=refusal.headers,
    )


async def refusal_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refusal)
    # The path and the reason only: never a header, a query string or a body.
    log.info("request refused", extra={"reason": exc.reason, "path": request.url.path})
    return _answer(exc)


class Authenticator:
    """Built once per app. In open mode an anonymous caller is the one local user; a caller who
    does send credentials is held to them in either mode."""

    def __init__(
        self, accounts: AccountStore, settings: Settings, limiter: TokenBucket | None
    ) -> None:
        self.accounts = accounts
        self.open = settings.effective_auth_mode == "open"
        self._limiter = limiter
        self._resolvers: list[Resolver] = []
        self._local: Principal | None = None
        self._local_lock = asyncio.Lock()

    def add_resolver(self, resolver: Resolver) -> None:
        """Another way to recognize a caller (e.g. a session cookie), tried after the
        Authorization header and before open mode's local user."""
        self._resolvers.append(resolver)

    async def identify(self, request: Request) -> Principal | None:
        header = request.headers.get("authorization")
        if header is not None:
            return await self._bearer(header)
        for resolver in self._resolvers:
            principal = await resolver(request)
            if principal is not None:
                return principal
        if self.open:
            return await self._local_user()
        return None

    async def limit_address(self, request: Request) -> None:
        if self._limiter is None:
            return
        address = request.client.host if request.client else "unknown"
        await self._take(f"addr:{address}", "this address")

    async def limit_principal(self, principal: Principal) -> None:
        if self._limiter is None:
            return
        if principal.key_prefix is not None:
            await self._take(f"key:{principal.key_prefix}", "this key")
        else:
            await self._take(f"user:{principal.user_id}", "this user")

    async def _take(self, bucket: str, whose: str) -> None:
        assert self._limiter is not None
        decision = await asyncio.to_thread(self._limiter.take, bucket)
        if not decision.allowed:
            raise too_many(
                "rate",
                f"Too many write requests from {whose}; retry in "
                f"{format_retry_after(decision.retry_after)} s.",
                decision.retry_after,
            )

    async def _bearer(self, header: str) -> Principal:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise unauthenticated(
                "Only API keys are accepted, sent as `Authorization: Bearer <key>`."
            )
        key = credentials.strip()
        if not key:
            raise unauthenticated("The Bearer credentials are empty.", error="invalid_request")
        principal = await asyncio.to_thread(self.accounts.authenticate, key)
        if principal is None:
            raise unauthenticated(
                "The API key is not valid: unknown, revoked, or not a key.", error="invalid_token"
            )
        return principal

    async def local_user(self) -> Principal | None:
        """Open mode's local user (whom an anonymous page acts for); None in keys mode."""
        return await self._local_user() if self.open else None

    async def _local_user(self) -> Principal:
        if self._local is None:
            async with self._local_lock:
                if self._local is None:
                    self._local = await asyncio.to_thread(self.accounts.ensure_local_user)
        return self._local


class RefuseKeysInQuery:
    """Credentials in a URL end up in proxy logs, browser history and Referer headers: a request
    that carries one in its query string is refused (400), whatever the route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query and _carries_a_key(query.decode("latin-1")):
            refusal = Refusal(
                400,
                "key_in_query",
                "API keys go in the Authorization header (`Bearer <key>`), never in the URL; "
                "treat a key that was sent in one as exposed and revoke it.",
                headers={"WWW-Authenticate": f'{REALM}, error="invalid_request"'},
            )
            await _answer(refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _carries_a_key(query: str) -> bool:
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name.lower() in _CREDENTIAL_PARAMS or _KEY_IN_TEXT.search(name + " " + value):
            return True
    return False


def install(app: FastAPI) -> None:
    app.add_middleware(RefuseKeysInQuery)
    app.add_exception_handler(Refusal, refusal_handler)


# -- dependencies ---------------------------------------------------------------------------


def authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.resources.auth
    return auth


# Declares the bearer scheme in the OpenAPI document on every route that identifies its caller
# (api.responses.describe_auth makes it optional in open mode). It refuses nothing itself
# (auto_error=False): `identify` reads the header and answers for it.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An IssueSight API key: `Authorization: Bearer isk_…` (`issuesight keys create`)",
)


async def current_principal(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
) -> Principal | None:
    """The caller, or None (keys mode, no credentials); 401 for credentials that do not hold."""
    return await authenticator(request).identify(request)


async def require_user(
    principal: Annotated[Principal | None, Depends(current_principal)],
) -> Principal:
    if principal is None:
        raise unauthenticated("This needs an API key: send `Authorization: Bearer <key>`.")
    return principal


async def limit_address(request: Request) -> None:
    """Before authentication, so that a flood of bad keys is limited too."""
    await authenticator(request).limit_address(request)


async def require_writer(
    request: Request,
    _address: Annotated[None, Depends(limit_address)],
    principal: Annotated[Principal, Depends(require_user)],
) -> Principal:
    await authenticator(request).limit_principal(principal)
    return principal


async def authorize_write(request: Request) -> Principal:
    """`require_writer` for a handler that answers refusals itself (a page renders them as
    HTML): the same checks in the same order; raises Refusal."""
    auth = authenticator(request)
    await auth.limit_address(request)
    principal = await require_user(await auth.identify(request))
    await auth.limit_principal(principal)
    return principal


async def require_admin(principal: Annotated[Principal, Depends(require_writer)]) -> Principal:
    if not principal.is_admin:
        raise forbidden("This needs the admin role.")
    return principal


async def require_admin_reader(
    principal: Annotated[Principal, Depends(require_user)],
) -> Principal:
    if not principal.is_admin:
        raise forbidden("This needs the admin role.")
    return principal
