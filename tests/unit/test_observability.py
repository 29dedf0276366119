"""The API's request middleware: request ids in and out, and request metrics by route template,
including for answers the app never produced itself (404s, crashes)."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from issuesight.api import observability
from issuesight.core import metrics
from issuesight.core.logs import REQUEST_ID

SEEN: list[str | None] = []


def _app() -> FastAPI:
    app = FastAPI()
    observability.install(app)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        SEEN.append(REQUEST_ID.get())
        return {"id": item_id}

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("boom")

    return app


def _count(route: str, status: str) -> float:
    value = metrics.HTTP_REQUESTS.labels("GET", route, status)._value.get()
    return float(value)


async def _get(path: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


async def test_a_safe_caller_id_is_kept_and_seen_by_the_handler() -> None:
    before = _count("/items/{item_id}", "200")
    response = await _get("/items/7", **{"X-Request-ID": "abc-123_x.y"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "abc-123_x.y"
    assert SEEN[-1] == "abc-123_x.y"
    assert REQUEST_ID.get() != "abc-123_x.y", "the id does not leak out of the request"
    assert _count("/items/{item_id}", "200") == before + 1


@pytest.mark.parametrize("offered", ["", "has space", "x" * 65, 'quote"', "new\\nline"])
async def test_an_unsafe_or_missing_id_is_replaced(offered: str) -> None:
    response = await _get("/items/1", **({"X-Request-ID": offered} if offered else {}))
    minted = response.headers["X-Request-ID"]
    assert minted != offered
    assert len(minted) == 32
    assert minted.isalnum()


async def test_unmatched_paths_are_counted_under_one_label() -> None:
    before = _count("unmatched", "404")
    response = await _get("/no/such/path/12345")
    assert response.status_code == 404
    assert "X-Request-ID" in response.headers
    assert _count("unmatched", "404") == before + 1


async def test_a_crash_is_counted_as_a_500(caplog: pytest.LogCaptureFixture) -> None:
    before = _count("/crash", "500")
    with caplog.at_level(logging.ERROR):
        response = await _get("/crash")
    assert response.status_code == 500
    assert _count("/crash", "500") == before + 1
