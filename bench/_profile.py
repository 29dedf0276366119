"""Where a worker's CPU goes, by component: a yappi CPU-clock profile of this process's Python
threads (the fake servers' threads left out), each function's own time summed by the package
its code lives in.

Profiling slows the code it watches, so a profile round is never a timed round: figures time
their rounds unprofiled and profile a separate one to name the costs. Native threads (Temporal's
Rust core, SQLite's C) are invisible to a Python profiler; `unseen` is what the process spent
beyond what the profile saw.
"""

from __future__ import annotations

import sysconfig
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yappi

_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
_FAKE_THREAD = "fake-server-"


@dataclass
class Profile:
    """Own CPU seconds by component and by function, over what the profile saw."""

    components: Counter[str] = field(default_factory=Counter)
    functions: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> float:
        return sum(self.components.values())


def component(module_path: str) -> str:
    """The package a code file belongs to: `issuesight.db`, `sqlalchemy`, `stdlib asyncio`…"""
    path = Path(module_path)
    parts = path.parts
    if "issuesight" in parts:
        rest = parts[parts.index("issuesight") + 1 :]
        return "issuesight." + (rest[0].removesuffix(".py") if len(rest) > 1 else "(root)")
    if "site-packages" in parts:
        rest = parts[parts.index("site-packages") + 1 :]
        return rest[0].removesuffix(".py") if rest else "site-packages"
    try:
        rest = path.resolve().relative_to(_STDLIB).parts
    except ValueError:
        return "builtins and C" if not module_path.endswith(".py") else "other"
    return "stdlib " + (rest[0].removesuffix(".py") if rest else "?")


@contextmanager
def profiled() -> Iterator[Profile]:
    """Profiles the block; the Profile is filled in when it ends."""
    profile = Profile()
    yappi.clear_stats()
    yappi.set_clock_type("cpu")
    yappi.start(builtins=False, profile_threads=True)
    try:
        yield profile
    finally:
        yappi.stop()
        fakes = {t.ident for t in threading.enumerate() if t.name.startswith(_FAKE_THREAD)}
        skip = {s.id for s in yappi.get_thread_stats() if s.tid in fakes}
        for stat in yappi.get_func_stats():
            if stat.ctx_id in skip:
                continue
            profile.components[component(stat.module)] += stat.tsub
            profile.functions[f"{stat.name} ({component(stat.module)})"] += stat.tsub
        yappi.clear_stats()
