"""`issuesight users …` and `issuesight keys …`: accounts, straight against the configured
database (DATABASE_URL), so the first admin can be made before anyone holds a key.

`keys create` prints the new key alone on the last line of standard output, once: scripts take
it with `tail -n 1`. Logs go to standard error and never carry a key.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

import sqlalchemy as sa

from issuesight.accounts.store import CLI, AccountError, AccountStore
from issuesight.db.engine import make_engine
from issuesight.db.models import Role


def _run(database_url: str, action: Callable[[AccountStore], int], err: TextIO) -> int:
    """Runs one command against the database: its own errors and a database that is missing
    the accounts tables or unreachable are one line on standard error and an exit code."""
    store = AccountStore(make_engine(database_url))
    try:
        return action(store)
    except AccountError as exc:
        err.write(f"error: {exc}\n")
        return 1
    except (sa.exc.OperationalError, sa.exc.ProgrammingError) as exc:
        missing = "no such table" in str(exc) or "does not exist" in str(exc)
        err.write(
            "error: the database has no accounts tables yet: run `issuesight migrate` first\n"
            if missing
            else f"error: the database is unavailable ({type(exc.orig).__name__})\n"
        )
        return 2
    finally:
        store.engine.dispose()


def create_user(
    database_url: str, email: str, admin: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    def action(store: AccountStore) -> int:
        user = store.create_user(email, Role.ADMIN if admin else Role.MEMBER, actor=CLI)
        out.write(f"created {user.role.value} {user.email} (id {user.id})\n")
        if admin:
            out.write(f"next: issuesight keys create {user.email} --name <where it is used>\n")
        return 0

    return _run(database_url, action, err)


def list_users(database_url: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    def action(store: AccountStore) -> int:
        users = store.list_users()
        if not users:
            out.write("no users; create the first admin: issuesight users create EMAIL --admin\n")
        for user in users:
            out.write(f"{user.email:40} {user.role.value:7} {user.id}\n")
        return 0

    return _run(database_url, action, err)


def delete_user(
    database_url: str, email: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    def action(store: AccountStore) -> int:
        user = store.find_user(email)
        if user is None:
            raise AccountError(f"no user {email}")
        store.delete_user(user.id, actor=CLI)
        out.write(f"deleted {email}: keys revoked; the tutorials they asked for stay public\n")
        return 0

    return _run(database_url, action, err)


def create_key(
    database_url: str,
    email: str,
    name: str,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    def action(store: AccountStore) -> int:
        user = store.find_user(email)
        if user is None:
            raise AccountError(f"no user {email}; create it first: issuesight users create {email}")
        view, key = store.create_key(user.id, name, actor=CLI)
        out.write(
            f"new key {view.prefix} for {user.email} ({user.role.value})"
            f"{f', named {view.name!r}' if view.name else ''}; it is shown once, store it now.\n"
            "Send it as `Authorization: Bearer <key>`; the commands read ISSUESIGHT_API_KEY.\n"
        )
        out.write(key + "\n")  # alone, on the last line
        return 0

    return _run(database_url, action, err)


def revoke_key(
    database_url: str, prefix: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    def action(store: AccountStore) -> int:
        # A whole key pasted by mistake still names its prefix; never echo the rest.
        wanted = prefix.strip()[:16]
        revoked = store.revoke_key(wanted, actor=CLI)
        if revoked is None:
            raise AccountError(f"no key {wanted}")
        out.write(f"revoked {revoked.prefix}\n")
        return 0

    return _run(database_url, action, err)


def list_keys(
    database_url: str, email: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    def action(store: AccountStore) -> int:
        user = store.find_user(email)
        if user is None:
            raise AccountError(f"no user {email}")
        for key in store.list_keys(user.id):
            state = "revoked" if key.revoked_at else "active"
            used = key.last_used_at.isoformat() if key.last_used_at else "never used"
            out.write(f"{key.prefix}  {state:7}  {key.name or '-':20}  {used}\n")
        return 0

    return _run(database_url, action, err)
