"""The web pages for readers, served by the API's own app: server-rendered Jinja2 templates,
static CSS and JavaScript from this package (no CDN, no Node toolchain at run time), the
security headers every response carries, and signing in (web.session, web.account_routes)."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from issuesight.api import auth, errors
from issuesight.web import account_routes, routes, security
from issuesight.web.session import SignInRequired, page_account, session_principal
from issuesight.web.templating import STATIC_DIR


class VersionedStaticFiles(StaticFiles):
    """Static files; those asked for with their content version (`?v=`, templating.asset)
    may be kept by the browser for a year: a new version is a new URL."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200 and b"v=" in scope.get("query_string", b""):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


# Paths whose errors stay as they are (JSON for the API, the operators' endpoints, files).
_NOT_PAGES = ("/api/", "/health", "/metrics", "/docs", "/redoc", "/openapi.json", "/static/")


async def _not_found_page(request: Request, exc: Exception) -> Response:
    """A page for an address no route serves; every other HTTP error as the API answers it."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and not request.url.path.startswith(_NOT_PAGES):
        await page_account(request)
        return routes.not_found(request, "There is no page at this address.")
    return await errors.http_error(request, exc)


async def require_page_reader(request: Request) -> None:
    """PUBLIC_READS=false: a page needs a caller (a signed-in browser, or a key sent as
    `Authorization: Bearer`); nobody gets the sign-in page. A session admits the request to
    its handler whatever the method: a form post is then checked by the handler itself."""
    account = await page_account(request)
    if account.principal is not None:
        return
    if await auth.current_principal(request) is None:
        raise SignInRequired()


def install(app: FastAPI, *, public_reads: bool = True) -> None:
    app.add_middleware(security.SecurityHeaders)
    app.add_exception_handler(HTTPException, _not_found_page)
    app.add_exception_handler(SignInRequired, account_routes.sign_in_required_page)
    app.mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static")
    # A signed-in browser is a caller of the API's reads too (the status route a progress page
    # polls), and of the writes its forms make once they passed web.session.check_form.
    app.state.resources.auth.add_resolver(session_principal)
    reads = [] if public_reads else [Depends(require_page_reader)]
    app.include_router(routes.router, dependencies=reads)
    app.include_router(account_routes.router)
