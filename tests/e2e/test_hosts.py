"""The Host allow-list (ALLOWED_HOSTS): in open mode the API answers loopback names only, so a
page of another site that rebinds a name of its own to 127.0.0.1 (DNS rebinding) cannot drive
the local admin; in keys mode any host unless configured."""

from __future__ import annotations

import pytest

from tests.helpers import MakeStack, Stack


async def _status(stack: Stack, method: str, host: str) -> int:
    if method == "POST":
        response = await stack.api.post(
            "/api/v1/tutorials", json={"issue": "not a reference"}, headers={"Host": host}
        )
    else:
        response = await stack.api.get("/api/v1/tutorials", headers={"Host": host})
    return response.status_code


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_open_mode_answers_loopback_names_only(
    make_stack: MakeStack, sqlite_url: str, method: str
) -> None:
    stack = await make_stack(sqlite_url, worker=False, auth_mode="open", allowed_hosts=None)

    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "10.0.0.5"):
        assert await _status(stack, method, host) == 400, host
    # A malformed reference is 422: the request reached the route.
    reached = 422 if method == "POST" else 200
    for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
        assert await _status(stack, method, host) == reached, host


async def test_a_refused_host_reaches_no_page(make_stack: MakeStack, sqlite_url: str) -> None:
    stack = await make_stack(sqlite_url, worker=False, auth_mode="open", allowed_hosts=None)
    page = await stack.api.get("/me", headers={"Host": "evil.example"})
    assert page.status_code == 400
    assert "local" not in page.text.lower()  # nothing of the local user's page


async def test_keys_mode_answers_any_host_unless_configured(
    make_stack: MakeStack, sqlite_url: str
) -> None:
    anywhere = await make_stack(sqlite_url, worker=False, auth_mode="keys", allowed_hosts=None)
    assert await _status(anywhere, "GET", "issuesight.example") == 200
    assert await _status(anywhere, "GET", "evil.example") == 200

    configured = await make_stack(
        sqlite_url,
        worker=False,
        auth_mode="keys",
        allowed_hosts="issuesight.example, *.corp.example",
    )
    assert await _status(configured, "GET", "issuesight.example:443") == 200
    assert await _status(configured, "GET", "api.corp.example") == 200
    assert await _status(configured, "GET", "evil.example") == 400
