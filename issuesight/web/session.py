"""Who a page is for, and what every form post must pass.

A browser signs in once (an API key exchanged, or GitHub) and then carries an opaque session
cookie: HttpOnly (no script reads it), SameSite=Lax (other sites' posts go without it), Secure
and `__Host-` prefixed when the page is served over https, and as long-lived as the session.
The pages act for that session's user; without one, for open mode's local user, or for nobody
(keys mode: reading only).

A cookie is sent by the browser whatever page made the request, so a write it authorizes must
prove it came from this site's own page. Every form post passes `check_form`: the browser's
`Sec-Fetch-Site`/`Origin` must say same origin, and a form posted with a session carries that
session's synchronizer token (derived from the cookie's secret, compared in constant time).
The session is registered with the API's `Authenticator` as a resolver that authorizes reads
(any GET: the pages, and the status route a progress page polls) and only those writes whose
form passed these checks: a cookie alone never authorizes an `/api/v1` write, which needs
`Authorization: Bearer <key>` (a header no other site can make a browser send).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from issuesight.accounts.principal import Principal
from issuesight.accounts.sessions import SessionView, csrf_token, derived_matches, derived_token
from issuesight.api import auth
from issuesight.web.security import cross_site

SESSION_COOKIE = "issuesight_session"
SIGNIN_COOKIE = "issuesight_signin"  # the sign-in form's nonce (double-submit)
GITHUB_COOKIE = "issuesight_github"  # the GitHub flow's state and where to go after
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGNIN_COOKIE_SECONDS = 12 * 3600
_NONCE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class SignInRequired(Exception):
    """A page that needs a signed-in caller, asked for by nobody: answered with the sign-in
    page (401), which leads back here."""


@dataclass(frozen=True)
class PageAccount:
    principal: Principal | None  # whom the page acts for; None: nobody (keys mode)
    session: SessionView | None  # the browser's session, if it is signed in
    csrf: str | None  # the token this browser's forms carry (signed in only)
    open_mode: bool
    github: bool  # whether GitHub sign-in is offered
    stale_cookie: bool = False  # a session cookie that opens nothing: the response clears it

    @property
    def signed_in(self) -> bool:
        return self.session is not None

    @property
    def name(self) -> str:
        return self.principal.email if self.principal else ""


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def cookie_name(request: Request, base: str) -> str:
    """Over https the `__Host-` prefix: the browser then takes the cookie only from this very
    host, Secure and for every path, so a sibling subdomain cannot plant or shadow it."""
    return f"__Host-{base}" if is_https(request) else base


def set_cookie(
    response: Response, request: Request, base: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        cookie_name(request, base),
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_cookie(response: Response, request: Request, base: str) -> None:
    response.delete_cookie(
        cookie_name(request, base),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def session_token(request: Request) -> str | None:
    return request.cookies.get(cookie_name(request, SESSION_COOKIE))


async def page_account(request: Request) -> PageAccount:
    """Resolved once per request (kept in `request.state`)."""
    kept: PageAccount | None = getattr(request.state, "page_account", None)
    if kept is not None:
        return kept
    resources = request.app.state.resources
    token = session_token(request)
    session: SessionView | None = None
    if token is not None:
        session = await resources.sessions.resolve_async(token)
    principal = session.principal if session else await resources.auth.local_user()
    account = PageAccount(
        principal=principal,
        session=session,
        csrf=csrf_token(token) if session is not None and token is not None else None,
        open_mode=resources.auth.open,
        github=resources.github_oauth is not None,
        stale_cookie=token is not None and session is None,
    )
    request.state.page_account = account
    return account


async def session_principal(request: Request) -> Principal | None:
    """The Authenticator's resolver: a session authorizes reads, and writes whose form passed
    `check_form` in this request; never any other write (see the module's docstring)."""
    if request.method not in SAFE_METHODS and not getattr(request.state, "form_checked", False):
        return None
    if session_token(request) is None:
        return None
    account = await page_account(request)
    return account.session.principal if account.session else None


def csrf_refusal(detail: str) -> auth.Refusal:
    return auth.Refusal(403, "csrf", detail)


def check_origin(request: Request) -> None:
    """A form post from this site's own page, as the browser tells (Sec-Fetch-Site, Origin)."""
    if cross_site(request.headers, request.url.netloc):
        raise csrf_refusal(
            "This form was sent from another site. Open IssueSight and send it from there."
        )


async def check_form(request: Request, presented: str | None) -> None:
    """Every form post: from this site's own page, and, when a session authorizes it, with
    that session's token. Raises Refusal (403, reason `csrf`)."""
    check_origin(request)
    if request.headers.get("authorization") is None:
        account = await page_account(request)
        token = session_token(request)
        if (
            account.session is not None
            and token is not None
            and not derived_matches(token, "csrf", presented)
        ):
            raise csrf_refusal(
                "This form is out of date or did not come from this site's own page. "
                "Reload the page and send it again."
            )
    request.state.form_checked = True


# -- the sign-in form's own token, before there is a session --------------------------------


def signin_nonce(request: Request) -> str | None:
    nonce = request.cookies.get(cookie_name(request, SIGNIN_COOKIE))
    return nonce if nonce is not None and _NONCE.match(nonce) else None


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def signin_token(nonce: str) -> str:
    """Double-submit, bound: the form carries a token derived from the cookie's nonce, so a
    site that cannot read this site's cookies cannot sign a browser in as someone else."""
    return derived_token(nonce, "signin")


def signin_token_matches(request: Request, presented: str | None) -> bool:
    nonce = signin_nonce(request)
    return nonce is not None and derived_matches(nonce, "signin", presented)
