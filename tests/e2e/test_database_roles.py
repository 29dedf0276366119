"""compose's PostgreSQL roles: migrations run as the database's owner, the API and the workers
as a role that reads and writes rows and nothing else. The same init script compose mounts
runs here against a PostgreSQL this test starts itself (never the shared one), and the whole
tutorial path then runs as the app's role."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.db.migrate import upgrade
from tests.helpers import MakeStack, deliver, issue_delivery, wait_finished
from tests.paths import ROOT
from tests.servers import PrivatePostgres, private_postgres

INIT_SCRIPT = ROOT / "deploy" / "postgres" / "10-issuesight-roles.sh"
OWNER_PASSWORD = "owner-password-for-tests-1"
APP_PASSWORD = "app-password-for-tests-1"


@pytest.fixture(scope="module")
def roles_postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield _with_roles(server)


def _with_roles(server: PrivatePostgres) -> PrivatePostgres:
    """compose's init script run against `server`, then the migrations as the owner role."""
    env = {
        **os.environ,
        "PATH": f"{server.bin}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(server.port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "postgres",
        "ISSUESIGHT_OWNER_PASSWORD": OWNER_PASSWORD,
        "ISSUESIGHT_APP_PASSWORD": APP_PASSWORD,
    }
    subprocess.run(["sh", str(INIT_SCRIPT)], env=env, check=True, capture_output=True)
    upgrade(server.url("issuesight", "issuesight_owner", OWNER_PASSWORD))
    return server


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE intruder (id int)",
        "DROP TABLE projects",
        "ALTER TABLE projects ADD COLUMN intruder int",
        "TRUNCATE webhook_deliveries",
        "CREATE INDEX intruder ON projects (full_name)",
    ],
)
def test_the_app_role_cannot_change_the_schema(
    roles_postgres: PrivatePostgres, statement: str
) -> None:
    engine = sa.create_engine(roles_postgres.url("issuesight", "issuesight_app", APP_PASSWORD))
    try:
        with engine.begin() as connection, pytest.raises(sa.exc.ProgrammingError) as refused:
            connection.execute(sa.text(statement))
    finally:
        engine.dispose()
    assert "permission denied" in str(refused.value) or "must be owner" in str(refused.value)


def test_the_app_role_cannot_read_temporal_s_database(roles_postgres: PrivatePostgres) -> None:
    """Temporal keeps its databases under the superuser; the app's role sees none of it."""
    url = roles_postgres.create_database("temporal")
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.execute(sa.text("CREATE TABLE executions (id int)"))
    admin.dispose()
    engine = sa.create_engine(roles_postgres.url("temporal", "issuesight_app", APP_PASSWORD))
    try:
        with engine.connect() as connection, pytest.raises(sa.exc.ProgrammingError) as refused:
            connection.execute(sa.text("SELECT * FROM executions"))
    finally:
        engine.dispose()
    assert "permission denied" in str(refused.value)


async def test_the_whole_path_runs_as_the_app_role(
    roles_postgres: PrivatePostgres,
    make_stack: MakeStack,
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
) -> None:
    seed_hello_world(github, repo_name)
    seed_hello_world(github, repo_name, number=2)
    app_url = roles_postgres.url("issuesight", "issuesight_app", APP_PASSWORD)
    stack = await make_stack(app_url, refresh_cooldown_minutes=0, regenerate_cooldown_minutes=0)
    submitted = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    done = await wait_finished(stack.api, submitted.json()["status_url"])
    assert done["status"] == "COMPLETED", done
    regenerated = await stack.api.post(f"/api/v1/tutorials/{done['id']}/regenerate")
    assert regenerated.status_code == 202
    tracked = await stack.api.post("/api/v1/projects", json={"repo": f"octo-org/{repo_name}"})
    assert tracked.status_code == 201
    payload = issue_delivery(github, repo_name)
    assert (await deliver(stack, payload)).status_code == 202
    assert (await deliver(stack, payload, delivery="same-1")).status_code == 202
    assert (await deliver(stack, payload, delivery="same-1")).json()["status"] == "duplicate"
    assert (await stack.api.get("/health")).status_code == 200
    assert (await stack.api.delete(f"/api/v1/projects/octo-org/{repo_name}")).status_code == 204
