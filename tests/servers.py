"""Servers a test starts, stops and restarts itself: a Temporal dev server (to make Temporal
unreachable in the middle of a test without touching the session's), and a PostgreSQL
instance with its own data directory and port (never the machine's shared one)."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from temporalio.client import Client

from issuesight.runtime.dev import temporal_binary
from issuesight.workflows.search_attributes import dev_server_flags
from tests.helpers import REQUIRE_POSTGRES


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class TemporalDevServer:
    """`temporal server start-dev` on a port of its own. With `persist`, a state file keeps its
    workflows across stop() and start() (as a real cluster would); without, stopping it loses
    them, the harshest form of an unreachable Temporal."""

    def __init__(self, state_dir: Path, *, persist: bool = True) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.state_file = state_dir / "temporal.db" if persist else None
        self.log = state_dir / "temporal-dev-server.log"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> Client:
        command = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--headless",
            "--log-level",
            "error",
            *dev_server_flags(),
        ]
        if self.state_file is not None:
            command += ["--db-filename", str(self.state_file)]
        with self.log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *command, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            try:
                return await Client.connect(self.address)
            except RuntimeError:
                if asyncio.get_running_loop().time() > deadline or self._process.returncode:
                    raise
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """Temporal becomes unreachable: connections are refused from now on."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()


# -- PostgreSQL ---------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries from the OS packages (Debian's layout)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A PostgreSQL instance of this test's own: initdb into a fresh directory, a free port, a
    socket directory beside it. PostgreSQL refuses to run as root, so it runs as the `postgres`
    OS user when the tests run as root."""

    def __init__(self) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise FileNotFoundError("no initdb under /usr/lib/postgresql/*/bin")
        self.bin = binaries
        # Not under pytest's tmp_path: its parents are private to root, and the server runs as
        # the postgres user.
        self.base = Path(tempfile.mkdtemp(prefix="issuesight-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._user = "postgres" if os.geteuid() == 0 else None

    def url(self, database: str, user: str = "postgres", password: str | None = None) -> str:
        credentials = f"{user}:{password}" if password else user
        return f"postgresql+psycopg://{credentials}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            preexec_fn=self._demote(),
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def _demote(self) -> Callable[[], None] | None:
        if self._user is None:
            return None
        entry = pwd.getpwnam(self._user)

        def demote() -> None:
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)

        return demote

    def init(self) -> None:
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.base / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self, name: str) -> str:
        admin = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PrivatePostgres initialised and started, destroyed on the way out (also when the
    caller's set-up fails). Without PostgreSQL's server binaries the test is skipped, or fails
    under ISSUESIGHT_REQUIRE_POSTGRES=1 (CI), as the shared PostgreSQL's variants are."""
    if postgres_bin() is None:
        message = "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " and ISSUESIGHT_REQUIRE_POSTGRES=1 (CI) requires them")
        pytest.skip(message)
    server = PrivatePostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()
