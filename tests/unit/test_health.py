"""core.health's checks: what counts as down, and that a hung dependency is down in bounded time
instead of hanging the probe (API /health and the worker's share them)."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa
from temporalio.service import RPCError, RPCStatusCode

from issuesight.core import health


async def _raises(exc: BaseException) -> None:
    raise exc


@pytest.mark.parametrize(
    "exc",
    [
        # A client that was connected and then lost the server raises RPCError, not
        # RuntimeError: /health answered 500 for it before this was caught.
        RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b""),
        RuntimeError("Failed client connect"),
        sa.exc.OperationalError("SELECT 1", {}, Exception("gone")),
        TimeoutError(),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_a_failing_dependency_is_down_with_its_error_type(exc: BaseException) -> None:
    result = await health.check("thing", _raises(exc))
    assert result == {"status": "down", "error": type(exc).__name__}


async def test_a_hung_dependency_is_down_within_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(health, "CHECK_TIMEOUT", 0.05)
    result = await health.check("thing", asyncio.sleep(30))
    assert result == {"status": "down", "error": "TimeoutError"}


async def test_an_unexpected_error_is_not_swallowed() -> None:
    with pytest.raises(ZeroDivisionError):
        await health.check("thing", _raises(ZeroDivisionError()))


def test_the_answer_is_503_when_anything_is_down() -> None:
    up = health.health_response({"a": {"status": "up"}, "b": {"status": "up", "x": 1}})
    assert up.status_code == 200
    down = health.health_response({"a": {"status": "up"}, "b": {"status": "down"}})
    assert down.status_code == 503
    assert json.loads(bytes(down.body))["status"] == "degraded"
