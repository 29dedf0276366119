"""What the OpenAPI document says about answers that are not a route's own success: the error
answers (all `schemas.ErrorBody`) with the headers they carry, shared by every route that can
give them, and who may call what (the bearer scheme, optional in open mode).

tests/e2e/test_openapi_conformance.py holds the API to the document: a status, header or body it
does not describe fails it, so a route that learns a new refusal says so here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from issuesight.api.schemas import ErrorBody

Responses = dict[int | str, dict[str, Any]]

_SECONDS = {"type": "string", "pattern": "^[0-9]+$"}
RETRY_AFTER = {"description": "seconds to wait before retrying", "schema": _SECONDS}
WWW_AUTHENTICATE = {
    "description": 'the Bearer challenge: realm="issuesight", with the error when there is one',
    "schema": {"type": "string"},
}
ETAG = {
    "description": "the version of this body; send it as If-None-Match to get 304 until it changes",
    "schema": {"type": "string"},
}
CACHE_CONTROL = {"description": "caching rules", "schema": {"type": "string"}}


def error(code: int, description: str, **headers: dict[str, Any]) -> Responses:
    """One documented error answer; header names are given with `_` for `-`."""
    answer: dict[str, Any] = {"model": ErrorBody, "description": description}
    if headers:
        answer["headers"] = {name.replace("_", "-"): spec for name, spec in headers.items()}
    return {code: answer}


# Every /api/v1 route can give these: a key in the query string (api.auth.RefuseKeysInQuery),
# a request that is not valid, an unreachable database (api.errors.database_unavailable).
EVERY_ROUTE: Responses = {
    **error(
        400,
        "An API key was sent in the URL: refused, whatever the route (revoke that key)",
        WWW_Authenticate=WWW_AUTHENTICATE,
    ),
    **error(422, "The request is not valid: `errors` says where and why"),
    **error(
        503, "A service it needs (the database, Temporal) is unreachable", Retry_After=RETRY_AFTER
    ),
}
UNAUTHENTICATED = error(
    401,
    "No API key where one is needed, or one that does not hold (unknown, revoked, another scheme)",
    WWW_Authenticate=WWW_AUTHENTICATE,
)
FORBIDDEN = error(403, "This needs the admin role", WWW_Authenticate=WWW_AUTHENTICATE)
RATE_LIMITED = error(
    429, "Too many writes from this key or address (WRITE_RATE_PER_MINUTE)", Retry_After=RETRY_AFTER
)

# The body limit (Starlette's, FastAPI's max_body_size) answers a declared Content-Length over
# the cap before any route runs, as plain text; a body that grows past it while read is an
# error like the others. Both are documented, since both are sent.
_PLAIN_TEXT = {"content": {"text/plain": {"schema": {"type": "string"}}}}


def too_large(description: str) -> Responses:
    answer = error(413, description)
    answer[413].update(_PLAIN_TEXT)
    return answer


TOO_LARGE = too_large("The body is larger than MAX_REQUEST_BODY_BYTES")
NOT_FOUND = error(404, "There is no such resource")


def not_found(description: str) -> Responses:
    return error(404, description)


def conflict(description: str) -> Responses:
    return error(409, description)


def too_many(description: str) -> Responses:
    return error(429, description, Retry_After=RETRY_AFTER)


# By who may call: a signed-in user; a writer (rate limited); an admin writer; an admin reading.
USER: Responses = {**UNAUTHENTICATED}
WRITER: Responses = {**UNAUTHENTICATED, **RATE_LIMITED, **TOO_LARGE}
ADMIN: Responses = {**WRITER, **FORBIDDEN}
ADMIN_READER: Responses = {**UNAUTHENTICATED, **FORBIDDEN}


def describe_auth(app: FastAPI, *, open_mode: bool) -> None:
    """The document's security requirements say what the running mode enforces: in keys mode
    the bearer key is required where the routes require it; in open mode an anonymous caller
    is the local user, so every requirement also admits no credentials (`{}`)."""
    if not open_mode:
        return
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    if isinstance(operation, dict) and operation.get("security"):
                        operation["security"] = [{}, *operation["security"]]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
