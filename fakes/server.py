"""Run an ASGI app on a real local port, in a background thread, for tests and benchmarks.

The socket is bound before uvicorn starts (port 0, so the kernel picks a free port and no two
servers race for one); the URL is known as soon as `start()` returns, and any process on the
machine, including a worker subprocess, can reach it over plain HTTP.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn
from starlette.types import ASGIApp


class BackgroundServer:
    """`with BackgroundServer(app) as server: httpx.get(server.url + "/...")`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = 10.0,
        shutdown_timeout: float = 5.0,
    ) -> None:
        self.app = app
        self.host = host
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._error: BaseException | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. "http://127.0.0.1:54321"."""
        if self._url is None:
            raise RuntimeError("BackgroundServer is not running; call start() first")
        return self._url

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        if self.running:
            raise RuntimeError("BackgroundServer is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        # Without it Nagle's algorithm delays every small answer by ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            # None: leave the host process's logging alone (pytest capture, benchmark output).
            log_config=None,
            # Bounded so that a request parked in a fake (a "hang" fault) cannot stall stop().
            timeout_graceful_shutdown=max(1, int(self.shutdown_timeout / 2)),
        )
        server = uvicorn.Server(config)
        self._server, self._socket, self._error = server, sock, None
        self._thread = threading.Thread(
            target=self._serve, args=(server, sock), name=f"fake-server-{port}", daemon=True
        )
        self._thread.start()

        deadline = time.monotonic() + self.startup_timeout
        while not server.started:
            if not self._thread.is_alive():
                sock.close()
                raise RuntimeError("server thread exited during startup") from self._error
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"server did not start within {self.startup_timeout}s")
            time.sleep(0.005)
        self._url = f"http://{self.host}:{port}"
        return self

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            # Server.run creates a fresh event loop owned by this thread.
            server.run(sockets=[sock])
        except BaseException as exc:  # includes uvicorn's SystemExit on a failed startup
            self._error = exc
            raise

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(self.shutdown_timeout)
        if thread.is_alive():
            # Connections that never close (a client still waiting) would otherwise block exit.
            server.force_exit = True
            thread.join(self.shutdown_timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        self._url = None
        if thread.is_alive():
            raise RuntimeError("server thread did not stop")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
