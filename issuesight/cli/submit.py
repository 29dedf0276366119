"""`issuesight submit`: a submitter's view through the REST API, with live progress."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, TextIO

import httpx

from issuesight.domain.status import FINISHED_STAGES, PROGRESS_STAGES, TutorialStatus

STAGES = [str(stage) for stage in PROGRESS_STAGES]
POLL_EVERY = 1.0


async def submit_and_follow(
    issue: str,
    api_url: str,
    wait: bool,
    max_wait: float,
    out: TextIO = sys.stdout,
    *,
    api_key: str | None = None,
) -> int:
    async with api_client(api_url, api_key) as http:
        try:
            response = await http.post("/api/v1/tutorials", json={"issue": issue})
        except httpx.TransportError as exc:
            out.write(f"error: cannot reach the IssueSight API at {api_url} ({exc})\n")
            return 2
        body = _json(response)
        if response.status_code == 422:
            out.write(f"error: {body.get('detail', body)}\n")
            return 2
        if response.status_code in (401, 403, 429):
            out.write(f"error: {refusal_message(response, body)}\n")
            return 1
        if response.status_code not in (200, 202):
            out.write(f"error: the API answered {response.status_code}: {body}\n")
            return 1
        if response.status_code == 200:
            return _finish(body, out)
        out.write(f"accepted {body['issue']} → {body['status_url']}\n")
        if not wait:
            return 0
        return await _follow(http, str(body["status_url"]), max_wait, out)


async def _follow(http: httpx.AsyncClient, url: str, max_wait: float, out: TextIO) -> int:
    deadline = time.monotonic() + max_wait
    shown = ""
    started = time.monotonic()
    while time.monotonic() < deadline:
        response = await http.get(url)
        body = _json(response)
        stage = str(body.get("stage", "?"))
        if stage != shown:
            step = STAGES.index(stage) + 1 if stage in STAGES else 0
            out.write(f"[{time.monotonic() - started:6.1f}s] {step}/{len(STAGES)} {stage}\n")
            out.flush()
            shown = stage
        if body.get("status") == TutorialStatus.FAILED or body.get("stage") in FINISHED_STAGES:
            return _finish(body, out)
        await asyncio.sleep(POLL_EVERY)
    out.write(f"still running after {max_wait:.0f}s; follow it at {url}\n")
    return 3


def _finish(body: dict[str, Any], out: TextIO) -> int:
    if body.get("status") == TutorialStatus.FAILED:
        out.write(f"failed: {body.get('failure_reason')}\n")
        return 1
    out.write(body.get("markdown") or "")
    out.write("\n")
    return 0


def api_client(api_url: str, api_key: str | None) -> httpx.AsyncClient:
    """The API, with the key (if any) in the only place it goes: the Authorization header."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=30, headers=headers)


def refusal_message(response: httpx.Response, body: dict[str, Any]) -> str:
    detail = str(body.get("detail", f"HTTP {response.status_code}"))
    if response.status_code == 401:
        return (
            f"{detail} Set ISSUESIGHT_API_KEY (an admin makes one: issuesight keys create EMAIL)."
        )
    return detail


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"detail": response.text[:500]}
    return data if isinstance(data, dict) else {"detail": data}
