"""The versioned REST API: one router adds the `/api/v1` prefix to every resource's routes."""

from __future__ import annotations

from fastapi import APIRouter, params

from issuesight.api import responses
from issuesight.api.routes import accounts, concepts, projects, tutorials, webhooks

API_PREFIX = "/api/v1"


def api_router(*, reads: list[params.Depends], webhook_max_body_bytes: int) -> APIRouter:
    """`reads`: what reading tutorials, projects and concepts depends on (a key, when
    PUBLIC_READS=false); the webhook route takes larger bodies than the rest."""
    router = APIRouter(prefix=API_PREFIX, responses=responses.EVERY_ROUTE)
    # Reads that need a key answer 401 without one (the document says so only then).
    read_refusals = responses.UNAUTHENTICATED if reads else {}
    router.include_router(tutorials.router, dependencies=reads, responses=read_refusals)
    router.include_router(projects.router, dependencies=reads, responses=read_refusals)
    router.include_router(concepts.router, dependencies=reads, responses=read_refusals)
    router.include_router(accounts.router)
    router.include_router(webhooks.router, max_body_size=webhook_max_body_bytes)
    return router
