"""Where the suite's data lives: inside the checkout, never beside it (tests/fixtures/README.md)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
BLNS = FIXTURES / "adversarial" / "naughty-strings" / "blns.json"
DEVSET = ROOT / "bench" / "data" / "swe-bench-lite.dev.jsonl"
# Recorded workflow histories that must keep replaying (tests/e2e/test_replay.py).
HISTORIES = ROOT / "tests" / "histories"
