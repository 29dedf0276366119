"""Request IDs and request metrics for the API, and its /metrics endpoint."""

from __future__ import annotations

import re
import time
import uuid
import weakref

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from issuesight.core import metrics
from issuesight.core.health import metrics_response
from issuesight.core.logs import REQUEST_ID

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
router = APIRouter(tags=["operations"])


def install(app: FastAPI, *, serve_metrics: bool = True) -> None:
    app.add_middleware(RequestObservation)
    if serve_metrics:
        app.include_router(router)


class RequestObservation:
    """Request id in and out, request count and latency per route template.

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware runs every request through an extra
    task and stream, which the status route (polled by every submitter) pays for on each call.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        # A caller's id is kept only if it is harmless to log; otherwise we mint one.
        request_id = offered if _SAFE_ID.match(offered) else uuid.uuid4().hex
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
            route = _route_template(scope)
            metrics.HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(scope["method"], route).observe(
                time.perf_counter() - started
            )


def _route_template(scope: Scope) -> str:
    """The route's path template, not the raw path: ids would explode label cardinality.

    FastAPI applies an included router's prefix (`/api/v1`) when it matches, so the matched
    route's own `.path` lacks it; the app's effective routes know the whole template."""
    route = scope.get("route")  # set by the router once it matched
    if route is None:
        return "unmatched"
    templates = _templates(scope.get("app"))
    return templates.get(id(route)) or str(getattr(route, "path", "unmatched"))


_TEMPLATES: weakref.WeakKeyDictionary[object, dict[int, str]] = weakref.WeakKeyDictionary()


def _templates(app: object) -> dict[int, str]:
    """Full path template of every route of `app`, by route identity; built once per app."""
    if app is None:
        return {}
    known = _TEMPLATES.get(app)
    if known is None:
        known = {}
        for route in getattr(app, "routes", ()):
            effective = getattr(route, "effective_route_contexts", None)
            if effective is None:
                continue
            for context in effective():
                template = getattr(context, "path_format", "")
                if template:
                    known[id(context.original_route)] = template
        _TEMPLATES[app] = known
    return known


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(request: Request) -> Response:
    for stat, value in request.app.state.resources.tutorials.pool_stats().items():
        metrics.STATUS_READ_POOL.labels(stat).set(value)
    return metrics_response()
