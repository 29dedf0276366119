"""The failure kinds: one home, their permanence, and the errors built on them."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from issuesight.domain.failures import (
    PERMANENT,
    PERMANENT_TYPES,
    SYNC_RETRY_LIMIT,
    FailureKind,
    is_permanent,
    sync_may_retry,
)
from issuesight.github.errors import GitHubError
from issuesight.llm.errors import LLMError
from tests.paths import ROOT


def test_permanent_kinds_fail_at_once_and_the_rest_retry() -> None:
    assert GitHubError("gone", kind=FailureKind.REPOSITORY_NOT_FOUND).retryable is False
    assert GitHubError("busy", kind=FailureKind.GITHUB_UNAVAILABLE).retryable is True
    assert LLMError("cut", kind=FailureKind.LLM_OUTPUT_TRUNCATED).retryable is False
    assert LLMError("slow", kind=FailureKind.LLM_TIMEOUT, retry_after=3).retry_after == 3
    assert set(PERMANENT_TYPES) == {str(kind) for kind in PERMANENT}
    assert all(is_permanent(kind) for kind in PERMANENT_TYPES)
    assert not is_permanent("SomethingNew")


@pytest.mark.parametrize("module", ["domain/failures.py", "workflows/failures.py"])
def test_the_workflow_side_of_failures_imports_no_client_library(module: str) -> None:
    """The workflow sandbox re-imports these: httpx or openai there would slow every task."""
    tree = ast.parse((ROOT / "issuesight" / module).read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }
    assert imported.isdisjoint({"httpx", "openai", "sqlalchemy", "sqlmodel"})


def test_no_failure_kind_is_spelled_out_elsewhere_in_the_package() -> None:
    """Each kind's name appears as a string literal only in its one home."""
    home = ROOT / "issuesight" / "domain" / "failures.py"
    names = {str(kind) for kind in FailureKind}
    offenders = []
    for path in sorted((ROOT / "issuesight").rglob("*.py")):
        if path == home:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names:
                offenders.append(f"{Path(path).relative_to(ROOT)}:{node.lineno} {node.value}")
    assert offenders == []


def test_syncs_retry_a_transient_failure_with_a_bounded_backoff_and_never_a_final_one() -> None:
    """A sync that sees an unchanged issue whose tutorial failed: a final failure (permanent,
    malformed output after every attempt, terminated) is never started again; an outage is,
    after one hour, then two, then not at all (each run is paid for)."""
    failed_at = datetime(2026, 1, 1, tzinfo=UTC)
    later = failed_at + timedelta(days=365)
    for kind in (FailureKind.LLM_INVALID_OUTPUT, FailureKind.TERMINATED, *PERMANENT):
        assert not sync_may_retry(kind, 1, failed_at, later), kind
    outage = FailureKind.LLM_UNAVAILABLE
    assert not sync_may_retry(outage, 1, failed_at, failed_at + timedelta(minutes=59))
    assert sync_may_retry(outage, 1, failed_at, failed_at + timedelta(hours=1))
    assert not sync_may_retry(outage, 2, failed_at, failed_at + timedelta(minutes=119))
    assert sync_may_retry(outage, 2, failed_at, failed_at + timedelta(hours=2))
    assert not sync_may_retry(outage, SYNC_RETRY_LIMIT, failed_at, later)
