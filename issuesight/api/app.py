"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import Depends, FastAPI
from temporalio.client import Client

from issuesight import __version__, web
from issuesight.api import auth, errors, observability
from issuesight.api.deps import Resources
from issuesight.api.routes import accounts, concepts, health, projects, tutorials, webhooks
from issuesight.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, temporal: Client | None = None) -> FastAPI:
    resources = Resources(settings or get_settings(), temporal)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in anyio's threadpool (40 threads by default). Under load, dozens of
        # threads fighting over the GIL cost more CPU than they overlap database waits.
        to_thread.current_default_thread_limiter().total_tokens = resources.settings.api_threads
        settings = resources.settings
        log.info(
            "accounts",
            extra={
                "auth_mode": settings.effective_auth_mode,
                "public_reads": settings.public_reads,
                "daily_generations": settings.daily_generation_limit,
                "llm_daily_token_budget": settings.llm_daily_token_budget,
                "writes_per_minute": settings.write_rate_limit,
            },
        )
        yield
        await resources.close()

    app = FastAPI(
        title="IssueSight",
        version=__version__,
        description="Context bridges from GitHub issues for first-time contributors.",
        lifespan=lifespan,
    )
    app.state.resources = resources
    auth.install(app)
    observability.install(app)
    errors.install(app)
    # PUBLIC_READS=false: reading tutorials, projects and concepts needs a key too. Added only
    # then, so the status route (polled by every submitter) pays nothing for it by default.
    reads = [] if resources.settings.public_reads else [Depends(auth.require_user)]
    app.include_router(tutorials.router, dependencies=reads)
    app.include_router(projects.router, dependencies=reads)
    app.include_router(concepts.router, dependencies=reads)
    app.include_router(accounts.router)
    app.include_router(webhooks.router)
    app.include_router(health.router)
    web.install(app, public_reads=resources.settings.public_reads)
    return app
