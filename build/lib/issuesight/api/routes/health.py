"""Liveness and the state of each dependency."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from issuesight.api.deps import ResourcesDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])
CHECK_TIMEOUT = 3.0


@router.get("/health")
async def health(resources: ResourcesDep) -> JSONResponse:
    database, temporal = await asyncio.gather(
        _check_database(resources.engine), _check_temporal(resources)
    )
    checks = {"api": {"status": "up"}, "database": database, "temporal": temporal}
    healthy = all(check["status"] == "up" for check in checks.values())
    return JSONResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks},
        status_code=200 if healthy else 503,
    )


async def _check_database(engine: sa.Engine) -> dict[str, Any]:
    def ping() -> None:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    try:
        await asyncio.wait_for(asyncio.to_thread(ping), CHECK_TIMEOUT)
    except (TimeoutError, sa.exc.SQLAlchemyError) as exc:
        log.warning("database check failed", extra={"error": type(exc).__name__})
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "up", "backend": engine.dialect.name}


async def _check_temporal(resources: ResourcesDep) -> dict[str, Any]:
    try:
        client = await asyncio.wait_for(resources.temporal(), CHECK_TIMEOUT)
        await asyncio.wait_for(client.service_client.check_health(), CHECK_TIMEOUT)
    except (TimeoutError, RuntimeError) as exc:
        log.warning("temporal check failed", extra={"error": type(exc).__name__})
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "up", "namespace": resources.settings.temporal_namespace}
