"""The web pages for readers, served by the API's own app: server-rendered Jinja2 templates,
static CSS and JavaScript from this package (no CDN, no Node toolchain at run time), and the
security headers every response carries."""

from __future__ import annotations

from fastapi import FastAPI
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


def install(app: FastAPI) -> None:
    app.add_middleware(security.SecurityHeaders)
    app.mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(routes.router)
