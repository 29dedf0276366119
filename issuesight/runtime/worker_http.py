"""The worker's own small HTTP endpoint: /health for orchestrators, /metrics for Prometheus
(the checks and the exposition are core.health's, shared with the API)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from temporalio.client import Client

from issuesight.core.health import check_database, check_temporal, health_response, metrics_response


def worker_app(client: Client, engine: sa.Engine, running: asyncio.Event) -> FastAPI:
    app = FastAPI(title="IssueSight worker", docs_url=None, redoc_url=None, openapi_url=None)

    async def connected() -> Client:
        return client

    @app.get("/health")
    async def health() -> JSONResponse:
        database, temporal = await asyncio.gather(
            check_database(engine), check_temporal(connected())
        )
        worker = {"status": "up" if running.is_set() else "down"}
        return health_response({"worker": worker, "temporal": temporal, "database": database})

    @app.get("/metrics")
    def metrics() -> Response:
        return metrics_response()

    return app
