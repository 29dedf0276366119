"""`issuesight users …` and `issuesight keys …` against a real database, as an operator runs
them (the key alone on the last line of standard output), and the client commands with a key."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from fakes import BackgroundServer, FakeGitHub
from fakes.scenarios import seed_hello_world
from issuesight.accounts import keys
from issuesight.accounts.store import CLI, AccountStore
from issuesight.api.app import create_app
from issuesight.cli.accounts import create_key, create_user, delete_user, list_keys, revoke_key
from issuesight.cli.projects import list_projects
from issuesight.cli.submit import submit_and_follow
from issuesight.db.engine import make_engine
from tests.helpers import MakeStack


def _authenticates(database_url: str, key: str) -> str | None:
    engine = make_engine(database_url)
    try:
        principal = AccountStore(engine).authenticate(key)
        return principal.email if principal else None
    finally:
        engine.dispose()


def test_users_and_keys_commands(database_url: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert create_user(database_url, "Ops@Example.com", True, out, err) == 0
    assert "created admin ops@example.com" in out.getvalue()
    assert create_user(database_url, "ops@example.com", False, out, err) == 1
    assert "already exists" in err.getvalue()

    out = io.StringIO()
    assert create_key(database_url, "ops@example.com", "laptop", out, err) == 0
    lines = out.getvalue().splitlines()
    key = lines[-1]
    assert keys.prefix_of(key) is not None  # alone on the last line
    assert all(key not in line for line in lines[:-1])
    assert _authenticates(database_url, key) == "ops@example.com"

    listed = io.StringIO()
    assert list_keys(database_url, "ops@example.com", listed, err) == 0
    assert key[:16] in listed.getvalue()
    assert key not in listed.getvalue()

    err = io.StringIO()
    assert create_key(database_url, "nobody@example.com", "", io.StringIO(), err) == 1
    assert "users create nobody@example.com" in err.getvalue()

    out = io.StringIO()
    assert revoke_key(database_url, key, out, err) == 0  # a pasted whole key names its prefix
    assert out.getvalue() == f"revoked {key[:16]}\n"
    assert _authenticates(database_url, key) is None
    err = io.StringIO()
    assert revoke_key(database_url, "isk_000000000000", io.StringIO(), err) == 1
    assert "no key" in err.getvalue()

    assert create_user(database_url, "temp@example.com", False, io.StringIO(), err) == 0
    out = io.StringIO()
    assert delete_user(database_url, "temp@example.com", out, err) == 0
    assert "stay public" in out.getvalue()


def test_commands_on_an_unmigrated_database_say_what_to_do(tmp_path: Path) -> None:
    err = io.StringIO()
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert create_user(url, "a@example.com", True, io.StringIO(), err) == 2
    assert "issuesight migrate" in err.getvalue()


def test_the_first_admin_from_a_shell(sqlite_url: str, tmp_path: Path) -> None:
    """As the README has it: create the admin, take the key with `tail -n 1`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "GITHUB"))}
    env.update({"DATABASE_URL": sqlite_url, "LOG_FORMAT": "json"})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "issuesight", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    made = run("users", "create", "root@example.com", "--admin")
    assert made.returncode == 0, made.stderr
    issued = run("keys", "create", "root@example.com", "--name", "first")
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.splitlines()[-1]
    assert keys.prefix_of(key) is not None
    assert key not in issued.stderr
    assert _authenticates(sqlite_url, key) == "root@example.com"
    listed = run("users", "list")
    assert "root@example.com" in listed.stdout
    assert "admin" in listed.stdout
    revoked = run("keys", "revoke", key[:16])
    assert revoked.returncode == 0
    assert key not in revoked.stdout + revoked.stderr


def test_dev_refuses_open_mode_beyond_loopback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AUTH_MODE"}
    refused = subprocess.run(
        [sys.executable, "-m", "issuesight", "dev", "--host", "0.0.0.0"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert "AUTH_MODE=keys" in refused.stderr


async def test_client_commands_send_the_key(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url, worker=False, auth_mode="keys", write_rate_per_minute=0)
    accounts = stack.resources.accounts
    user = accounts.create_user("cli@example.com", actor=CLI)
    _, key = accounts.create_key(user.id, "cli", actor=CLI)
    with BackgroundServer(create_app(stack.settings, temporal=stack.client)) as api:
        out = io.StringIO()
        assert await submit_and_follow(f"octo-org/{repo_name}#1", api.url, False, 5, out) == 1
        assert "ISSUESIGHT_API_KEY" in out.getvalue()
        out = io.StringIO()
        code = await submit_and_follow(
            f"octo-org/{repo_name}#1", api.url, False, 5, out, api_key=key
        )
        assert code == 0, out.getvalue()
        assert out.getvalue().startswith("accepted")
        table = io.StringIO()
        assert await list_projects(api.url, table, api_key=key) == 0  # reads are public anyway
    handle = stack.client.get_workflow_handle(f"tutorial:octo-org/{repo_name.lower()}#1")
    await handle.terminate()
