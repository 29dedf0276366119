"""Failures of what the API depends on, answered as what they are instead of a bare 500."""

from __future__ import annotations

import logging

import psycopg
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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


def install(app: FastAPI) -> None:
    # Both drivers' "cannot reach or use the database" errors, raw and as SQLAlchemy wraps them.
    for error in (sa.exc.OperationalError, psycopg.OperationalError):
        app.add_exception_handler(error, database_unavailable)
