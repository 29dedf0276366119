"""Serving the API: the public app and, when API_INTERNAL_PORT is set, the internal one.

Apart from runtime/processes.py, which the worker imports too: the worker process need not
import the API's app, its routes and its pages.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from issuesight.api.app import create_internal_app
from issuesight.core.settings import Settings
from issuesight.runtime.processes import serve_api


async def serve(
    settings: Settings, app: FastAPI, host: str, port: int, stop: asyncio.Event
) -> None:
    """The public app on host:port and, when API_INTERNAL_PORT is set, the internal one on
    API_INTERNAL_HOST (loopback by default); both stop on `stop`."""
    servers = [
        serve_api(
            app,
            host,
            port,
            stop,
            limit_concurrency=settings.api_limit_concurrency,
            keep_alive_seconds=settings.api_keep_alive_seconds,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
    ]
    if settings.api_internal_port is not None:
        servers.append(
            serve_api(
                create_internal_app(app),
                settings.api_internal_host,
                settings.api_internal_port,
                stop,
                limit_concurrency=64,
            )
        )
    await asyncio.gather(*servers)
