"""freeze_startup_heap, in a process of its own: freezing pytest's heap would pin every later
test's leftovers."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc, weakref
from issuesight.runtime.processes import freeze_startup_heap

class Node:
    pass

a, b = Node(), Node()
a.peer, b.peer = b, a
garbage = weakref.ref(a)
del a, b
kept = Node()
freeze_startup_heap()
assert garbage() is None, "a reference cycle that was already garbage got frozen"
assert gc.get_freeze_count() > 10_000, gc.get_freeze_count()
assert kept not in gc.get_objects(), "a live startup object is still walked by collections"
later = [Node()]
assert any(o is later for o in gc.get_objects()), "objects made later must still be collected"
"""


def test_startup_heap_is_collected_then_frozen() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_the_worker_process_does_not_import_the_api() -> None:
    """Its heap is frozen at start-up, so whatever it imports it keeps: the API's app, its
    routes and its pages are the API process's (runtime/api_server.py), not the worker's."""
    probe = (
        "import sys, issuesight.runtime.worker\n"
        "print(sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['issuesight', 'api'], ['issuesight', 'web'])))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
