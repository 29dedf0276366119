"""Whether a host is this machine: one definition (core/net.py) for the three questions that
depend on it (plain http to an upstream, open mode's bind address, the dev stack's Temporal)."""

from __future__ import annotations

import ast

import pytest

from issuesight.core.net import is_loopback
from tests.paths import ROOT


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST", "localhost.", "127.0.0.1", "127.1.2.3", "::1", "[::1]"]
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["", "0.0.0.0", "::", "10.0.0.1", "example.com", "localhost.example.com", "[::2]"]
)
def test_other_hosts(host: str) -> None:
    assert not is_loopback(host)


def test_loopback_is_decided_in_one_place() -> None:
    """No other module asks ipaddress itself or compares with "localhost"."""
    home = ROOT / "issuesight" / "core" / "net.py"
    offenders = []
    for path in sorted((ROOT / "issuesight").rglob("*.py")):
        if path == home:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr == "is_loopback") or (
                isinstance(node, ast.Constant) and node.value == "localhost"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
