"""`issuesight sync` and `issuesight projects`: tracked repositories through the REST API."""

from __future__ import annotations

import sys
from typing import Any, TextIO

import httpx

from issuesight.cli.submit import api_client, refusal_message


async def sync_repo(
    repo: str,
    api_url: str,
    track: bool,
    labels: list[str] | None,
    out: TextIO = sys.stdout,
    *,
    api_key: str | None = None,
) -> int:
    owner, _, name = repo.strip().partition("/")
    async with api_client(api_url, api_key) as http:
        try:
            if track:
                body: dict[str, Any] = {"repo": repo}
                if labels:
                    body["labels"] = labels
                tracked = await http.post("/api/v1/projects", json=body)
                if tracked.status_code not in (200, 201):
                    out.write(f"error: {_detail(tracked)}\n")
                    return 2
            response = await http.post(f"/api/v1/projects/{owner}/{name}/sync")
        except httpx.TransportError as exc:
            out.write(f"error: cannot reach the IssueSight API at {api_url} ({exc})\n")
            return 2
    if response.status_code == 404:
        out.write(f"error: {repo} is not tracked; run again with --track to track it\n")
        return 2
    if response.status_code != 202:
        out.write(f"error: {_detail(response)}\n")
        return 1
    out.write(f"sync of {response.json()['repo']} started; follow it in the Temporal Web UI\n")
    return 0


async def list_projects(
    api_url: str, out: TextIO = sys.stdout, *, api_key: str | None = None
) -> int:
    async with api_client(api_url, api_key) as http:
        try:
            response = await http.get("/api/v1/projects")
        except httpx.TransportError as exc:
            out.write(f"error: cannot reach the IssueSight API at {api_url} ({exc})\n")
            return 2
    if response.status_code != 200:
        out.write(f"error: {_detail(response)}\n")
        return 1
    projects = response.json()
    if not projects:
        out.write("no tracked repositories\n")
        return 0
    out.write(
        f"{'repository':40} {'every':>7} {'state':8} {'issues':>6} {'tutorials':>9}  last sync\n"
    )
    for p in projects:
        state = "paused" if p["paused"] else "active"
        every = f"{p['interval_minutes']}m" if p["interval_minutes"] else "-"
        out.write(
            f"{p['repo']:40} {every:>7} {state:8} {p['issues']:>6} {p['tutorials']:>9}  "
            f"{p['last_synced_at'] or 'never'}\n"
        )
    return 0


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    if response.status_code in (401, 403, 429):
        return refusal_message(response, body)
    return str(body.get("detail", response.text))
