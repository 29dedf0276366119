"""The worker's own small HTTP endpoint: /health for orchestrators, /metrics for Prometheus."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from temporalio.client import Client

CHECK_TIMEOUT = 3.0


def worker_app(client: Client, engine: sa.Engine, running: asyncio.Event) -> FastAPI:
    app = FastAPI(title="IssueSight worker", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    async def health() -> JSONResponse:
        checks: dict[str, Any] = {
            "worker": {"status": "up" if running.is_set() else "down"},
            "temporal": await _check(client.service_client.check_health()),
            "database": await _check(asyncio.to_thread(_ping, engine)),
        }
        healthy = all(c["status"] == "up" for c in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", "checks": checks},
            status_code=200 if healthy else 503,
        )

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _ping(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))


async def _check(probe: Any) -> dict[str, Any]:
    try:
        await asyncio.wait_for(probe, CHECK_TIMEOUT)
    except (TimeoutError, RuntimeError, sa.exc.SQLAlchemyError) as exc:
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "up"}
