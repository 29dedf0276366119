"""Signing in and out, "My tutorials" and the caller's keys, as pages.

Two ways in, both ending in a server-side session (web.session, accounts.sessions):
- an API key, typed into a form and exchanged for a session at once (the cookie holds the
  session's token, never the key);
- GitHub's OAuth web flow: `/signin/github` sends the browser to GitHub with a `state` bound
  to this browser by a short-lived cookie; GitHub sends it back to `/signin/github/callback`
  with a code, exchanged at GitHub's token endpoint for a token that reads who the person is
  (`GET /user`, `GET /user/emails`) and is then forgotten. The GitHub account opens the user
  it is linked to (`user_identities`), or the user an admin made for one of its verified
  addresses, or, only with GITHUB_SIGNUP=open, a new member.

Every sign-in rotates the session (a new token; the browser's previous one is ended), so a
session a third party planted in a browser never becomes a signed-in one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hmac
import logging
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from issuesight.accounts.principal import Principal
from issuesight.accounts.sessions import SessionMethod
from issuesight.accounts.store import Actor, ExternalAccount, SignInRefused, UnknownUser
from issuesight.api import auth
from issuesight.api.deps import ResourcesDep
from issuesight.github.oauth import OAuthError
from issuesight.web.routes import NO_STORE, PAGE_SIZE, page, refused_form
from issuesight.web.session import (
    GITHUB_COOKIE,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SIGNIN_COOKIE_SECONDS,
    PageAccount,
    SignInRequired,
    check_form,
    check_origin,
    clear_cookie,
    cookie_name,
    new_nonce,
    page_account,
    session_token,
    set_cookie,
    signin_nonce,
    signin_token_matches,
)
from issuesight.web.session import (
    signin_token as token_for_nonce,
)

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False, dependencies=[Depends(page_account)])

GITHUB_FLOW_SECONDS = 600  # GitHub's codes last ten minutes; so does a flow's state
DEFAULT_NEXT = "/me"
_NOT_NEXT = ("/signin", "/signout")


def safe_next(raw: str | None) -> str:
    """Where to go after signing in: a path on this site, never another host (an open
    redirect would lend this site's name to phishing)."""
    value = (raw or "").strip()
    if (
        not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or len(value) > 1000
        or any(c in value for c in "\\\r\n\t\x00")
        or value.startswith(_NOT_NEXT)
    ):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return value


def signin_page(
    request: Request,
    status_code: int = 200,
    *,
    next_url: str = DEFAULT_NEXT,
    error_title: str | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    """The sign-in page; the form's token is bound to this browser's sign-in cookie (set here
    when it has none)."""
    settings = request.app.state.resources.settings
    nonce = signin_nonce(request)
    fresh = nonce is None
    if nonce is None:
        nonce = new_nonce()
    response = page(
        request,
        "signin.html",
        status_code,
        nav="signin",
        next=next_url,
        signin_token=token_for_nonce(nonce),
        signup_open=settings.github_signup == "open",
        public_reads=settings.public_reads,
        error_title=error_title,
        error=error,
        notice=notice,
    )
    response.headers["Cache-Control"] = "no-store"
    if fresh:
        set_cookie(response, request, SIGNIN_COOKIE, nonce, max_age=SIGNIN_COOKIE_SECONDS)
    return response


async def sign_in_required_page(request: Request, exc: Exception) -> Response:
    """A page that needs a signed-in caller, asked for by nobody: the sign-in page (401),
    leading back to it."""
    assert isinstance(exc, SignInRequired)
    await page_account(request)
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # Back to the page that asked; a form post's address is no page to come back to.
    return signin_page(
        request,
        401,
        next_url=safe_next(wanted) if request.method == "GET" else DEFAULT_NEXT,
        notice="Sign in to see this page.",
    )


def _refusal_page(request: Request, refusal: auth.Refusal, *, next_url: str) -> HTMLResponse:
    auth.count(refusal)
    response = signin_page(
        request,
        refusal.status,
        next_url=next_url,
        error_title="Not signed in.",
        error=refusal.detail,
    )
    if "Retry-After" in refusal.headers:
        response.headers["Retry-After"] = refusal.headers["Retry-After"]
    return response


async def _open_session(
    request: Request, principal: Principal, *, method: str, key_prefix: str | None, next_url: str
) -> Response:
    """The browser signed in: a new session (the one it had, if any, ended), recorded."""
    resources = request.app.state.resources
    token, _ = await run_in_threadpool(
        functools.partial(
            resources.sessions.open,
            principal.user_id,
            method=method,
            key_prefix=key_prefix,
            replacing=session_token(request),
        )
    )
    detail: dict[str, str] = {"via": method}
    if key_prefix is not None:
        detail["key"] = key_prefix
    await run_in_threadpool(
        functools.partial(
            resources.accounts.record,
            Actor.of(principal),
            "user.signin",
            principal.email,
            detail=detail,
        )
    )
    log.info("signed in", extra={"via": method, "user_id": str(principal.user_id)})
    response = RedirectResponse(next_url, status_code=303, headers={"Cache-Control": "no-store"})
    set_cookie(
        response,
        request,
        SESSION_COOKIE,
        token,
        max_age=int(resources.sessions.lifetime.total_seconds()),
    )
    return response


# -- an API key ----------------------------------------------------------------------------


@router.get("/signin", response_class=HTMLResponse)
async def signin_form(request: Request) -> HTMLResponse:
    return signin_page(request, next_url=safe_next(request.query_params.get("next")))


@router.post("/signin")
async def signin_with_key(
    request: Request,
    resources: ResourcesDep,
    key: Annotated[str, Form(max_length=200)] = "",
    signin_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=1000)] = DEFAULT_NEXT,
) -> Response:
    next_url = safe_next(next)
    try:
        # Not the session's form (signing in replaces it): bound to the sign-in cookie instead.
        check_origin(request)
        if not signin_token_matches(request, signin_token):
            raise auth.Refusal(
                403,
                "csrf",
                "This sign-in form is out of date, or your browser did not keep its cookie "
                "(sign-in needs cookies). Reload the page and sign in again.",
            )
    except auth.Refusal as refusal:
        return refused_form(request, refusal)
    try:
        await resources.auth.limit_address(request)
    except auth.Refusal as refusal:
        return _refusal_page(request, refusal, next_url=next_url)
    principal = await run_in_threadpool(resources.accounts.authenticate, key.strip())
    if principal is None:
        return _refusal_page(
            request,
            auth.unauthenticated("That API key is not valid: unknown, revoked, or not a key."),
            next_url=next_url,
        )
    return await _open_session(
        request,
        principal,
        method=SessionMethod.KEY,
        key_prefix=principal.key_prefix,
        next_url=next_url,
    )


# -- GitHub --------------------------------------------------------------------------------


@router.get("/signin/github")
async def signin_with_github(request: Request, resources: ResourcesDep) -> Response:
    oauth = resources.github_oauth
    if oauth is None:
        return page(
            request,
            "error.html",
            404,
            heading="Not found",
            message="This IssueSight does not offer signing in with GitHub.",
        )
    state = secrets.token_urlsafe(32)
    next_url = safe_next(request.query_params.get("next"))
    target = oauth.authorize_url(state=state, redirect_uri=str(request.url_for("github_callback")))
    response = RedirectResponse(target, status_code=302, headers={"Cache-Control": "no-store"})
    set_cookie(
        response,
        request,
        GITHUB_COOKIE,
        f"{state}.{_b64(next_url)}",
        max_age=GITHUB_FLOW_SECONDS,
    )
    return response


@router.get("/signin/github/callback", name="github_callback")
async def github_callback(request: Request, resources: ResourcesDep) -> Response:
    response = await _github_callback(request, resources)
    clear_cookie(response, request, GITHUB_COOKIE)  # a flow's state is good once
    return response


async def _github_callback(request: Request, resources: ResourcesDep) -> Response:
    oauth = resources.github_oauth
    params = request.query_params
    flow = _flow(request.cookies.get(cookie_name(request, GITHUB_COOKIE)))
    if (
        oauth is None
        or flow is None
        or not hmac.compare_digest(flow[0].encode(), (params.get("state") or "").encode())
    ):
        # Not started here, from this browser, in the last ten minutes: perhaps someone else's
        # sign-in pushed into this browser. Nothing is read from GitHub.
        auth.count(auth.Refusal(400, "csrf", "state"))
        return signin_page(
            request,
            400,
            error_title="This sign-in was not started here.",
            error="It did not start from this browser, or took longer than ten minutes. "
            "Start again.",
        )
    next_url = flow[1]
    error = params.get("error")
    if error == "access_denied":
        return signin_page(
            request,
            401,
            next_url=next_url,
            error_title="Not signed in.",
            error="You did not let IssueSight read your GitHub account, so nothing changed.",
        )
    code = params.get("code")
    if error or not code:
        log.warning("github sign-in: the callback carried an error", extra={"error": error})
        return signin_page(
            request,
            400,
            next_url=next_url,
            error_title="GitHub did not sign you in.",
            error=f"GitHub answered {error[:100]!r}." if error else "GitHub sent no code back.",
        )
    try:
        await resources.auth.limit_address(request)
    except auth.Refusal as refusal:
        return _refusal_page(request, refusal, next_url=next_url)
    try:
        token = await oauth.exchange(code, redirect_uri=str(request.url_for("github_callback")))
        user = await oauth.user(token)
    except OAuthError as exc:
        if exc.unavailable:
            return signin_page(
                request,
                502,
                next_url=next_url,
                error_title="GitHub did not answer properly.",
                error=f"{exc} Nothing changed; sign in again in a moment.",
            )
        return _refusal_page(
            request, auth.unauthenticated(f"{exc} Start again."), next_url=next_url
        )
    account = ExternalAccount(
        provider="github",
        provider_id=str(user.id),
        login=user.login or None,
        verified_emails=user.verified_emails,
    )
    try:
        principal, created = await run_in_threadpool(
            functools.partial(
                resources.accounts.sign_in_with_identity,
                account,
                create=resources.settings.github_signup == "open",
            )
        )
    except SignInRefused as exc:
        log.info("github sign-in refused", extra={"reason": exc.reason})
        auth.count(auth.Refusal(403, "forbidden", exc.reason))
        return signin_page(
            request, 403, next_url=next_url, error_title="Not signed in.", error=str(exc)
        )
    if created:
        log.info("user signed up with github", extra={"user_id": str(principal.user_id)})
    return await _open_session(
        request, principal, method=SessionMethod.GITHUB, key_prefix=None, next_url=next_url
    )


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _flow(cookie: str | None) -> tuple[str, str] | None:
    """(state, where to go after) from the flow's cookie; None if it is not one."""
    if not cookie or "." not in cookie:
        return None
    state, _, encoded = cookie.partition(".")
    try:
        next_url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    if len(state) < 32:
        return None
    return state, safe_next(next_url)


# -- signing out -------------------------------------------------------------------------------


@router.post("/signout")
async def signout(
    request: Request,
    resources: ResourcesDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        await check_form(request, csrf_token)
    except auth.Refusal as refusal:
        return refused_form(request, refusal)
    account: PageAccount = request.state.page_account
    token = session_token(request)
    if token is not None:
        await run_in_threadpool(resources.sessions.end, token)
    if account.session is not None and account.principal is not None:
        await run_in_threadpool(
            functools.partial(
                resources.accounts.record,
                Actor.of(account.principal),
                "user.signout",
                account.principal.email,
            )
        )
    response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
    clear_cookie(response, request, SESSION_COOKIE)
    return response


# -- the caller's own pages ------------------------------------------------------------------


def _caller(request: Request) -> Principal:
    account: PageAccount = request.state.page_account
    if account.principal is None:
        raise SignInRequired()
    return account.principal


@router.get("/me", response_class=HTMLResponse)
async def my_tutorials(request: Request, resources: ResourcesDep) -> HTMLResponse:
    principal = _caller(request)
    try:
        number = min(max(int(request.query_params.get("page") or "1"), 1), 50_000)
    except ValueError:
        number = 1
    limit = principal.daily_limit(resources.settings.daily_generation_limit)
    quota = await run_in_threadpool(resources.accounts.quota, principal.user_id, limit)
    items, total = await run_in_threadpool(
        functools.partial(
            resources.accounts.unlocks,
            principal.user_id,
            limit=PAGE_SIZE,
            offset=(number - 1) * PAGE_SIZE,
        )
    )
    return page(
        request,
        "me.html",
        nav="me",
        quota=quota,
        items=items,
        total=total,
        limit=PAGE_SIZE,
        offset=(number - 1) * PAGE_SIZE,
    )


@router.get("/me/keys", response_class=HTMLResponse)
async def my_keys(request: Request, resources: ResourcesDep) -> HTMLResponse:
    principal = _caller(request)
    return await _keys_page(request, resources, principal)


async def _keys_page(
    request: Request,
    resources: ResourcesDep,
    principal: Principal,
    status_code: int = 200,
    **context: object,
) -> HTMLResponse:
    keys = await run_in_threadpool(resources.accounts.list_keys, principal.user_id)
    response = page(request, "keys.html", status_code, nav="me", keys=keys, **context)
    response.headers["Cache-Control"] = "no-store"  # a new key must not linger in a cache
    return response


async def _page_writer(request: Request, csrf_token: str) -> Principal | Response:
    """The form checks, then the API's write checks (who, rate limit): a Principal, or the
    page that says why not."""
    try:
        await check_form(request, csrf_token)
    except auth.Refusal as refusal:
        return refused_form(request, refusal)
    try:
        return await auth.authorize_write(request)
    except auth.Refusal as refusal:
        if refusal.status == 401:
            auth.count(refusal)
            raise SignInRequired() from refusal
        auth.count(refusal)
        response = page(
            request, "error.html", refusal.status, heading="Refused", message=refusal.detail
        )
        if "Retry-After" in refusal.headers:
            response.headers["Retry-After"] = refusal.headers["Retry-After"]
        return response


@router.post("/me/keys")
async def make_key(
    request: Request,
    resources: ResourcesDep,
    name: Annotated[str, Form(max_length=100)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    writer = await _page_writer(request, csrf_token)
    if isinstance(writer, Response):
        return writer
    try:
        _, key = await run_in_threadpool(
            functools.partial(
                resources.accounts.create_key, writer.user_id, name, actor=Actor.of(writer)
            )
        )
    except UnknownUser as exc:
        raise SignInRequired() from exc
    return await _keys_page(
        request, resources, writer, 201, new_key=key, new_key_name=name.strip()[:100]
    )


@router.post("/me/keys/{prefix}/revoke")
async def revoke_key(
    prefix: str,
    request: Request,
    resources: ResourcesDep,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    writer = await _page_writer(request, csrf_token)
    if isinstance(writer, Response):
        return writer
    revoked = await run_in_threadpool(
        functools.partial(
            resources.accounts.revoke_key, prefix[:40], actor=Actor.of(writer), owner=writer.user_id
        )
    )
    if revoked is None:
        return await _keys_page(
            request, resources, writer, 404, error=f"You have no key {prefix[:40]}."
        )
    account: PageAccount = request.state.page_account
    if account.session is not None and account.session.key_prefix == revoked.prefix:
        # This browser's session was opened with that key: it ended with it.
        request.state.page_account = dataclasses.replace(
            account,
            principal=await resources.auth.local_user(),
            session=None,
            csrf=None,
        )
        response = signin_page(
            request,
            notice=f"You revoked {revoked.prefix}, the key this browser signed in with, so it "
            "is signed out.",
        )
        clear_cookie(response, request, SESSION_COOKIE)
        return response
    return RedirectResponse("/me/keys", status_code=303, headers=dict(NO_STORE))
