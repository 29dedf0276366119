"""/health and /metrics as both the API and the worker answer them: one check per dependency,
each bounded in time, and the Prometheus exposition of this process's metrics.

A check reports what went wrong by its exception's type, never its message (which may hold a
host name or a credential-bearing URL), and a dependency that hangs counts as down after
CHECK_TIMEOUT seconds instead of hanging the probe that asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response
from temporalio.client import Client
from temporalio.exceptions import TemporalError

log = logging.getLogger(__name__)
CHECK_TIMEOUT = 3.0
# What a dependency that is down raises: the SDK's connection and RPC failures, the database
# driver's errors, and our own timeout.
DOWN = (TimeoutError, RuntimeError, TemporalError, sa.exc.SQLAlchemyError)


async def check(name: str, probe: Awaitable[Any], **up: Any) -> dict[str, Any]:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except DOWN as exc:
        log.warning("%s check failed", name, extra={"error": type(exc).__name__})
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "up", **up}


async def check_database(engine: sa.Engine) -> dict[str, Any]:
    def ping() -> None:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    return await check("database", asyncio.to_thread(ping), backend=engine.dialect.name)


async def check_temporal(client: Awaitable[Client], **up: Any) -> dict[str, Any]:
    async def probe() -> None:
        connected = await asyncio.wait_for(client, CHECK_TIMEOUT)
        await connected.service_client.check_health()

    return await check("temporal", probe(), **up)


def health_response(checks: Mapping[str, Mapping[str, Any]]) -> JSONResponse:
    """200 when every dependency is up, 503 (with each one's state) when one is not."""
    healthy = all(c["status"] == "up" for c in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "checks": dict(checks)},
        status_code=200 if healthy else 503,
    )


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
