"""Tracked projects are listed with their counts (issues seen, open issues, completed
tutorials) from one statement, counted right whatever else the project holds, on both
databases."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event

from issuesight.db.engine import make_engine
from issuesight.db.projects import ProjectStore
from issuesight.db.tutorials import TutorialStore
from tests.helpers import store_tutorial


def _seed(store: TutorialStore, repo: str, *, open_: int, closed: int, pending: int) -> None:
    """`open_` and `closed` issues with completed tutorials, and `pending` open issues whose
    tutorial is not written yet."""
    number = 0
    for state, count, complete in (
        ("open", open_, True),
        ("closed", closed, True),
        ("open", pending, False),
    ):
        for _ in range(count):
            number += 1
            store_tutorial(store, repo, number, issue_state=state, complete=complete)


def test_project_counts_from_one_statement(database_url: str) -> None:
    engine = make_engine(database_url)
    store, projects = TutorialStore(engine), ProjectStore(engine)
    suffix = uuid.uuid4().hex[:8]
    shapes = {
        f"busy-{suffix}": (3, 2, 2),
        f"quiet-{suffix}": (1, 0, 0),
        f"new-{suffix}": (0, 0, 0),
        f"waiting-{suffix}": (0, 0, 3),
    }
    for repo, (open_, closed, pending) in shapes.items():
        projects.track("octo-org", repo, ["good first issue"], 60)
        _seed(store, repo, open_=open_, closed=closed, pending=pending)
    # Not tracked: it has tutorials, but it is not listed.
    _seed(store, f"other-{suffix}", open_=2, closed=0, pending=0)

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        listed = projects.list_projects()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, selects

    counts = {
        view.project.repo_name: (view.issues, view.open_issues, view.tutorials) for view in listed
    }
    assert counts == {
        repo: (open_ + closed + pending, open_ + pending, open_ + closed)
        for repo, (open_, closed, pending) in shapes.items()
    }
    busy = projects.get_project(f"octo-org/busy-{suffix}")
    assert busy is not None
    assert (busy.issues, busy.open_issues, busy.tutorials) == (7, 5, 5)
    assert projects.get_project(f"octo-org/other-{suffix}") is None
    assert projects.get_project(f"octo-org/missing-{suffix}") is None
    engine.dispose()
