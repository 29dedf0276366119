"""The `issuesight` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from issuesight.settings import Settings, get_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = get_settings()
    from issuesight.logs import configure_logging

    configure_logging(
        settings.log_level, args.log_format or settings.log_format, settings.secret_values()
    )
    handler = args.handler
    result: int = handler(args, settings)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="issuesight", description="Context bridges from GitHub issues."
    )
    parser.add_argument("--log-format", choices=["json", "text"], default=None)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run the whole stack locally (Temporal, worker, API)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--ui-port", type=int, default=8233, help="Temporal Web UI port")
    dev.set_defaults(handler=_dev)

    api = commands.add_parser("api", help="run the REST API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8000)
    api.set_defaults(handler=_api)

    worker = commands.add_parser("worker", help="run a Temporal worker")
    worker.set_defaults(handler=_worker)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=_migrate)

    submit = commands.add_parser("submit", help="request a tutorial for an issue")
    submit.add_argument("issue", help="owner/repo#123 or https://github.com/owner/repo/issues/123")
    submit.add_argument("--wait", action="store_true", help="follow progress until it finishes")
    submit.add_argument("--api-url", default="http://127.0.0.1:8000")
    submit.add_argument("--timeout", type=float, default=600.0, help="seconds to wait at most")
    submit.set_defaults(handler=_submit)

    sync = commands.add_parser("sync", help="sync a tracked repository now")
    sync.add_argument("repo", help="owner/repo")
    sync.add_argument("--track", action="store_true", help="track it first if it is not")
    sync.add_argument("--label", action="append", help="label to watch (repeatable)")
    sync.add_argument("--api-url", default="http://127.0.0.1:8000")
    sync.set_defaults(handler=_sync)

    projects = commands.add_parser("projects", help="list tracked repositories")
    projects.add_argument("--api-url", default="http://127.0.0.1:8000")
    projects.set_defaults(handler=_projects)
    return parser


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.dev import run_dev
    from issuesight.processes import freeze_startup_heap

    freeze_startup_heap()
    asyncio.run(run_dev(settings, host=args.host, port=args.port, ui_port=args.ui_port))
    return 0


def _api(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.api.app import create_app, serve
    from issuesight.processes import freeze_startup_heap, stop_on_signals

    async def run() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        app = create_app(settings)
        freeze_startup_heap()
        await serve(settings, app, args.host, args.port, stop)

    asyncio.run(run())
    return 0


def _worker(_args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.processes import freeze_startup_heap, stop_on_signals
    from issuesight.worker import run_worker

    freeze_startup_heap()

    async def run() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await run_worker(settings, stop, ensure_schedules=True)

    asyncio.run(run())
    return 0


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.db.migrate import upgrade

    upgrade(settings.database_url)
    print("database is at the latest migration")
    return 0


def _submit(args: argparse.Namespace, _settings: Settings) -> int:
    from issuesight.submit_cli import submit_and_follow

    return asyncio.run(submit_and_follow(args.issue, args.api_url, args.wait, args.timeout))


def _sync(args: argparse.Namespace, _settings: Settings) -> int:
    from issuesight.projects_cli import sync_repo

    return asyncio.run(sync_repo(args.repo, args.api_url, args.track, args.label))


def _projects(args: argparse.Namespace, _settings: Settings) -> int:
    from issuesight.projects_cli import list_projects

    return asyncio.run(list_projects(args.api_url))


if __name__ == "__main__":
    sys.exit(main())
