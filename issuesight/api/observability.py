"""Request IDs and request metrics for the API, and its /metrics endpoint."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from issuesight import metrics
from issuesight.logs import REQUEST_ID

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
router = APIRouter(tags=["operations"])


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        # A caller's id is kept only if it is harmless to log; otherwise we mint one.
        request_id = offered if _SAFE_ID.match(offered) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            REQUEST_ID.reset(token)
        route = _route_template(request)
        metrics.HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    app.include_router(router)


def _route_template(request: Request) -> str:
    """The route's path template, not the raw path: ids would explode label cardinality."""
    route = request.scope.get("route")  # set by the router once it matched
    return str(getattr(route, "path", "unmatched"))


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
