"""Every error the API answers, in one shape (`schemas.ErrorBody`: `detail` in words, and the
fields some answers add), and failures of what the API depends on answered as what they are
instead of a bare 500."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Scope

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "database unavailable", extra={"error": type(exc).__name__, "path": request.url.path}
    )
    return JSONResponse(
        {"detail": "The database is unavailable; retry in a moment."},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def request_not_valid(request: Request, exc: Exception) -> JSONResponse:
    """422 in the shape of every other error: a sentence, then each reason with where it is.
    The offending input is not echoed back (it may be large, or a secret sent by mistake)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e["type"])}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "not valid"}
    where = ".".join(str(part) for part in first["loc"]) or "the request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return JSONResponse(
        {"detail": f"The request is not valid: {where}: {first['msg']}{more}.", "errors": errors},
        status_code=422,
    )


async def http_error(request: Request, exc: Exception) -> Response:
    """An HTTPException as `{"detail": ...}` with its headers. A 405 names every method of the
    resource in `Allow` (RFC 9110 §15.5.6), not only those of the first route that matched
    its path: a path such as /projects/{owner}/{repo} is served by three routes."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
    if exc.status_code in (204, 304) or exc.status_code < 200:
        return Response(status_code=exc.status_code, headers=headers)  # no body allowed
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)


def allowed_methods(app: Any, scope: Scope) -> list[str]:
    """The methods some route of `app` answers at the scope's path, sorted."""
    methods: set[str] = set()
    for route in app.routes:
        # FastAPI keeps an included router's routes behind it; its effective routes carry the
        # whole path (with /api/v1) and can be matched on their own.
        contexts = getattr(route, "effective_route_contexts", None)
        for candidate in contexts() if contexts is not None else (route,):
            match, _ = candidate.matches(scope)
            if match is not Match.NONE:
                methods.update(getattr(candidate, "methods", None) or ())
    return sorted(methods)


def install(app: FastAPI) -> None:
    # Both drivers' "cannot reach or use the database" errors, raw and as SQLAlchemy wraps them.
    for error in (sa.exc.OperationalError, psycopg.OperationalError):
        app.add_exception_handler(error, database_unavailable)
    app.add_exception_handler(RequestValidationError, request_not_valid)
    # web.install replaces it with its not-found page, which answers everything else with it.
    app.add_exception_handler(HTTPException, http_error)
