"""The failure kinds: one home, their permanence, and the errors built on them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from issuesight.domain.failures import PERMANENT, PERMANENT_TYPES, FailureKind, is_permanent
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
