"""The FastAPI application factory, and the internal app (metrics, OpenAPI) beside it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import Depends, FastAPI
from starlette.middleware.trustedhost import TrustedHostMiddleware
from temporalio.client import Client

from issuesight import __version__, web
from issuesight.api import auth, errors, observability, responses
from issuesight.api.deps import Resources
from issuesight.api.routes import api_router, health
from issuesight.core.settings import Settings, get_settings

log = logging.getLogger(__name__)
TITLE = "IssueSight"


def create_app(settings: Settings | None = None, *, temporal: Client | None = None) -> FastAPI:
    """The public API. With API_INTERNAL_PORT set it serves neither /metrics nor the OpenAPI
    document and its pages: `create_internal_app` does, on that port only."""
    resources = Resources(settings or get_settings(), temporal)
    limits = resources.settings
    internal_elsewhere = limits.api_internal_port is not None

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

    docs = {"docs_url": None, "redoc_url": None, "openapi_url": None} if internal_elsewhere else {}
    app = FastAPI(
        title=TITLE,
        version=__version__,
        description="Context bridges from GitHub issues for first-time contributors.",
        lifespan=lifespan,
        # Enforced while the body is read (Starlette's RequestBodyLimitMiddleware): a declared
        # Content-Length over the cap is refused before anything is read, a chunked or
        # mislabelled body as soon as the bytes received pass it. 413 either way.
        max_body_size=limits.max_request_body_bytes,
        **docs,  # type: ignore[arg-type]
    )
    app.state.resources = resources
    auth.install(app)
    observability.install(app, serve_metrics=not internal_elsewhere)
    errors.install(app)
    # PUBLIC_READS=false: reading tutorials, projects and concepts needs a key too. Added only
    # then, so the status route (polled by every submitter) pays nothing for it by default.
    reads = [] if resources.settings.public_reads else [Depends(auth.require_user)]
    app.include_router(
        api_router(reads=reads, webhook_max_body_bytes=limits.webhook_max_body_bytes)
    )
    app.include_router(health.router)
    web.install(app, public_reads=resources.settings.public_reads)
    responses.describe_auth(app, open_mode=resources.settings.effective_auth_mode == "open")
    # Outermost: a request for a host not ours (DNS rebinding, in open mode) meets nothing else.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(limits.trusted_hosts))
    return app


def create_internal_app(public: FastAPI) -> FastAPI:
    """/metrics, /docs and /openapi.json for operators, describing and measuring `public`."""
    internal = FastAPI(
        title=f"{TITLE} (internal)",
        version=__version__,
        max_body_size=0,  # it answers GETs only
    )
    internal.state.resources = public.state.resources
    # The document describes the public routes, not this app's own.
    internal.openapi = public.openapi  # type: ignore[method-assign]
    internal.include_router(observability.router)
    return internal
