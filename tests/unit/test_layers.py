"""The package's layers, read from its imports (an AST walk, nothing imported): a package
imports only packages of a lower layer, the database layer imports no web framework, and the
workflow modules no ORM or client library (the sandbox re-imports what they import)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.paths import ROOT

PACKAGE = ROOT / "issuesight"

# Lower number, lower layer. Packages of one layer do not import each other.
LAYERS = {
    "domain": 0,
    "core": 1,
    "workflows": 2,
    "webhooks": 2,
    "github": 2,
    "db": 2,
    "accounts": 3,
    "context": 3,
    "tutorial": 4,
    "llm": 5,
    "orchestration": 6,
    "activities": 7,
    "api": 8,
    "web": 9,
    "runtime": 10,
    "cli": 11,
}
# Known imports against the order, each a module to move down (not new ones: this list only
# shrinks). The API's app mounts the pages, which use the API's dependencies.
KNOWN_UPWARD = {
    ("api", "issuesight.web"),
}
WEB_FRAMEWORKS = {"fastapi", "starlette", "uvicorn", "jinja2"}
ORM_AND_CLIENTS = {"sqlalchemy", "sqlmodel", "psycopg", "httpx", "openai", "alembic"}


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "issuesight":  # from issuesight import web
                for alias in node.names:
                    yield node.lineno, f"issuesight.{alias.name}"
            else:
                yield node.lineno, node.module


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) > 1:
            yield parts[0], path


def test_every_package_has_a_layer() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(LAYERS)


def test_nothing_imports_upward() -> None:
    offenders = []
    for package, path in _modules():
        for line, name in _imports(path):
            parts = name.split(".")
            if parts[0] != "issuesight" or len(parts) < 2 or parts[1] not in LAYERS:
                continue
            target = parts[1]
            if target == package or LAYERS[target] < LAYERS[package]:
                continue
            if (package, ".".join(parts[:3])) in KNOWN_UPWARD:
                continue
            offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert offenders == []


def test_the_database_layer_imports_no_web_framework() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for package, path in _modules()
        if package in {"db", "domain"}
        for line, name in _imports(path)
        if name.split(".")[0] in WEB_FRAMEWORKS
    ]
    assert offenders == []


def test_workflows_import_no_orm_or_client() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for package, path in _modules()
        if package in {"workflows", "domain"}
        for line, name in _imports(path)
        if name.split(".")[0] in ORM_AND_CLIENTS
    ]
    assert offenders == []
