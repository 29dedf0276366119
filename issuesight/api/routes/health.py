"""Liveness and the state of each dependency (the checks are core.health's, shared with the
worker's own endpoint)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from issuesight.api import responses
from issuesight.api.deps import ResourcesDep
from issuesight.api.schemas import Health
from issuesight.core.health import check_database, check_temporal, health_response

router = APIRouter(tags=["operations"])


@router.get(
    "/health",
    response_model=Health,
    responses={
        503: {"model": Health, "description": "A dependency is down: each one's state"},
        **responses.error(400, "An API key was sent in the URL"),
    },
)
async def health(resources: ResourcesDep) -> JSONResponse:
    database, temporal = await asyncio.gather(
        check_database(resources.engine),
        check_temporal(resources.temporal(), namespace=resources.settings.temporal_namespace),
    )
    return health_response({"api": {"status": "up"}, "database": database, "temporal": temporal})
