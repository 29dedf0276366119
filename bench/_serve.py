"""`python -m bench._serve [PORT]`: the real API (create_app, settings from the environment) with
one bare route added, served by uvicorn as `issuesight api` serves it, on a loopback port chosen
by the kernel (or PORT) and printed as the first line of output.

The socket is bound with SO_REUSEPORT, so a second server started with the first one's port
shares it: the kernel spreads new connections over the processes (the two-process figure).

The bare route is `async def` (FastAPI runs it on the event loop), as GET /api/v1/tutorials/{id}
is; the sync one is a plain `def`, which FastAPI runs in its threadpool."""

from __future__ import annotations

import socket
import sys

import uvicorn
from fastapi import FastAPI

from issuesight.api.app import create_app
from issuesight.core.settings import Settings
from issuesight.runtime.processes import freeze_startup_heap

BARE_PATH = "/bench/constant"
# A plain `def`, run in the threadpool, as the status routes read on SQLite (not on PostgreSQL).
BARE_SYNC_PATH = "/bench/constant-sync"


def build_app() -> FastAPI:
    app = create_app(Settings(_env_file=None))

    @app.get(BARE_PATH)
    async def constant() -> dict[str, str]:
        return {"status": "COMPLETED"}

    @app.get(BARE_SYNC_PATH)
    def constant_sync() -> dict[str, str]:
        return {"status": "COMPLETED"}

    return app


def main() -> None:
    app = build_app()
    # IPPROTO_TCP named, as when uvicorn binds the port itself: asyncio then sets TCP_NODELAY on
    # accepted connections (with proto 0 it does not, and every answer waits ~40 ms for an ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0))
    print(sock.getsockname()[1], flush=True)
    # The same configuration as `issuesight api`: its heap frozen once built, served as
    # issuesight.runtime.processes.serve_api serves it.
    freeze_startup_heap()
    config = uvicorn.Config(app, log_config=None, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
