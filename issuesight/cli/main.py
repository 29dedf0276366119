"""The `issuesight` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from issuesight.core.net import is_loopback
from issuesight.core.settings import ConfigurationError, Settings, get_settings

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ConfigurationError as exc:
        print(f"issuesight: {exc}", file=sys.stderr)
        return 2
    from issuesight.core.logs import configure_logging

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

    users = commands.add_parser("users", help="manage users (in the configured database)")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    create_user = users_commands.add_parser("create", help="create a user (a member by default)")
    create_user.add_argument("email")
    create_user.add_argument("--admin", action="store_true", help="with the admin role")
    create_user.set_defaults(handler=_users_create)
    users_commands.add_parser("list", help="list users").set_defaults(handler=_users_list)
    delete_user = users_commands.add_parser("delete", help="delete a user (revokes their keys)")
    delete_user.add_argument("email")
    delete_user.set_defaults(handler=_users_delete)

    keys = commands.add_parser("keys", help="manage API keys (in the configured database)")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    create_key = keys_commands.add_parser(
        "create", help="create a key; printed alone on the last line, once"
    )
    create_key.add_argument("email")
    create_key.add_argument("--name", default="", help="what the key is for, e.g. laptop")
    create_key.set_defaults(handler=_keys_create)
    revoke_key = keys_commands.add_parser("revoke", help="revoke a key by its prefix")
    revoke_key.add_argument("prefix", help="isk_… (the part before the second underscore)")
    revoke_key.set_defaults(handler=_keys_revoke)
    list_keys = keys_commands.add_parser("list", help="a user's keys (prefixes, never the keys)")
    list_keys.add_argument("email")
    list_keys.set_defaults(handler=_keys_list)
    return parser


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.runtime.dev import run_dev
    from issuesight.runtime.processes import freeze_startup_heap

    if settings.auth_mode is None:  # zero-config: open, and only on this machine
        settings = settings.model_copy(update={"auth_mode": "open"})
    if settings.effective_auth_mode == "open" and not is_loopback(args.host):
        print(
            f"error: open mode lets anyone who reaches {args.host} act as the local admin; "
            "bind to 127.0.0.1, or set AUTH_MODE=keys",
            file=sys.stderr,
        )
        return 2
    freeze_startup_heap()
    asyncio.run(run_dev(settings, host=args.host, port=args.port, ui_port=args.ui_port))
    return 0


def _api(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.api.app import create_app
    from issuesight.runtime.api_server import serve
    from issuesight.runtime.processes import freeze_startup_heap, stop_on_signals

    if settings.auth_mode is None:
        settings = settings.model_copy(update={"auth_mode": "keys"})
    if settings.effective_auth_mode == "open" and not is_loopback(args.host):
        log.warning(
            "AUTH_MODE=open on a non-loopback address: anyone who reaches it acts as the "
            "local admin",
            extra={"host": args.host},
        )

    async def run() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        app = create_app(settings)
        freeze_startup_heap()
        await serve(settings, app, args.host, args.port, stop)

    asyncio.run(run())
    return 0


def _worker(_args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.runtime.processes import freeze_startup_heap, stop_on_signals
    from issuesight.runtime.worker import run_worker

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


def _submit(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.cli.submit import submit_and_follow

    return asyncio.run(
        submit_and_follow(
            args.issue, args.api_url, args.wait, args.timeout, api_key=_api_key(settings)
        )
    )


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.cli.projects import sync_repo

    return asyncio.run(
        sync_repo(args.repo, args.api_url, args.track, args.label, api_key=_api_key(settings))
    )


def _projects(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.cli.projects import list_projects

    return asyncio.run(list_projects(args.api_url, api_key=_api_key(settings)))


def _users_create(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.cli.accounts import create_user

    return create_user(settings.database_url, args.email, args.admin)


def _users_list(_args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.cli.accounts import list_users

    return list_users(settings.database_url)


def _users_delete(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.cli.accounts import delete_user

    return delete_user(settings.database_url, args.email)


def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.cli.accounts import create_key

    return create_key(settings.database_url, args.email, args.name)


def _keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.cli.accounts import revoke_key

    return revoke_key(settings.database_url, args.prefix)


def _keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from issuesight.cli.accounts import list_keys

    return list_keys(settings.database_url, args.email)


def _api_key(settings: Settings) -> str | None:
    """The client commands' key: ISSUESIGHT_API_KEY (never a command-line argument, which
    other users of the machine could read in the process list)."""
    key = settings.issuesight_api_key
    return key.get_secret_value() if key is not None else None


if __name__ == "__main__":
    sys.exit(main())
