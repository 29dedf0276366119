"""The web pages for readers, served by the API's own app: server-rendered Jinja2 templates,
static CSS and JavaScript from this package (no CDN, no Node toolchain at run time), and the
security headers every response carries."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from issuesight.web import routes, security
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
    """A page for an address no route serves; every other HTTP error as FastAPI answers it."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and not request.url.path.startswith(_NOT_PAGES):
        return routes.not_found("There is no page at this address.")
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_middleware(security.SecurityHeaders)
    app.add_exception_handler(HTTPException, _not_found_page)
    app.mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(routes.router)
