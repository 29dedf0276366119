"""Upgrading a database that holds data: rows written at revision 0005 come out of 0006 as
the code expects them (the `watched` flag and the handled version of each issue), so the
reconciler finds the watched issues that were recorded before the upgrade. Both databases."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from issuesight.db.engine import make_engine
from issuesight.db.issues import IssueStore
from issuesight.db.migrate import upgrade
from issuesight.db.types import JSONType, UTCDateTime
from tests.helpers import POSTGRES_ADMIN_URL

UPDATED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

# The two tables as they stood at 0005: the model classes have the columns added since.
_AT_0005 = sa.MetaData()
PROJECTS = sa.Table(
    "projects",
    _AT_0005,
    sa.Column("id", sa.Uuid()),
    sa.Column("owner_handle", sa.String()),
    sa.Column("repo_name", sa.String()),
    sa.Column("full_name", sa.String()),
    sa.Column("tracked", sa.Boolean()),
    sa.Column("watch_labels", JSONType),
    sa.Column("paused", sa.Boolean()),
    sa.Column("created_at", UTCDateTime()),
    sa.Column("updated_at", UTCDateTime()),
)
ISSUES = sa.Table(
    "github_issues",
    _AT_0005,
    sa.Column("id", sa.Uuid()),
    sa.Column("project_id", sa.Uuid()),
    sa.Column("issue_number", sa.Integer()),
    sa.Column("issue_key", sa.String()),
    sa.Column("title", sa.String()),
    sa.Column("state", sa.String()),
    sa.Column("is_pull_request", sa.Boolean()),
    sa.Column("raw_data", JSONType),
    sa.Column("source_updated_at", UTCDateTime()),
    sa.Column("last_synced_at", UTCDateTime()),
    sa.Column("deleted", sa.Boolean()),
    sa.Column("created_at", UTCDateTime()),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables yet: the test migrates it step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'upgrade.db'}"
        return
    request.getfixturevalue("postgres_url")  # skips (or fails in CI) without PostgreSQL
    name = f"issuesight_upgrade_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _issue(
    project_id: uuid.UUID, repo: str, number: int, state: str, labels: list[Any]
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "project_id": project_id,
        "issue_number": number,
        "issue_key": f"octo-org/{repo}#{number}",
        "title": f"Issue {number}",
        "state": state,
        "is_pull_request": False,
        "raw_data": {"number": number, "state": state, "labels": labels},
        "source_updated_at": UPDATED,
        "last_synced_at": UPDATED,
        "deleted": False,
        "created_at": UPDATED,
    }


def test_upgrade_from_0005_backfills_what_the_code_expects(empty_url: str) -> None:
    upgrade(empty_url, "0005")
    engine = make_engine(empty_url)
    own, default = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        for project_id, repo, labels in ((own, "own", ["Easy"]), (default, "default", None)):
            connection.execute(
                sa.insert(PROJECTS).values(
                    id=project_id,
                    owner_handle="octo-org",
                    repo_name=repo,
                    full_name=f"octo-org/{repo}",
                    tracked=True,
                    watch_labels=labels,
                    paused=False,
                    created_at=UPDATED,
                    updated_at=UPDATED,
                )
            )
        connection.execute(
            sa.insert(ISSUES),
            [
                _issue(own, "own", 1, "open", [{"name": "easy"}]),  # the project's label
                _issue(own, "own", 2, "open", [{"name": "good first issue"}]),  # not its label
                _issue(own, "own", 3, "closed", [{"name": "Easy"}]),  # closed
                _issue(default, "default", 1, "open", [{"name": "Good First Issue"}]),
                _issue(default, "default", 2, "open", ["help wanted"]),  # labels as strings
                _issue(default, "default", 3, "open", []),
            ],
        )
    upgrade(empty_url)

    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT issue_key, watched, handled_updated_at FROM github_issues")
        ).all()
    watched = {key for key, flag, _ in rows if flag}
    assert watched == {"octo-org/own#1", "octo-org/default#1", "octo-org/default#2"}
    # Recorded under the old order, where recording started the work: nothing is pending.
    assert all(handled is not None for _, _, handled in rows)
    # The reconciler's query sees the watched open issues that have no tutorial yet.
    pending = IssueStore(engine).pending_watched_issues(limit=10)
    assert {p.issue_key for p in pending} == watched
    engine.dispose()
