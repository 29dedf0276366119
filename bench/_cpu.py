"""Where the CPU went (Linux /proc): this process, the fake servers' threads inside it, and its
child processes (the Temporal dev server, worker processes)."""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _cpu(stat: Path) -> tuple[float, int]:
    """(user + system seconds, parent pid) from a /proc stat file."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK, int(fields[1])


def process_cpu(pid: int) -> float:
    """User + system seconds of one process so far."""
    return _cpu(Path(f"/proc/{pid}/stat"))[0]


@dataclass(frozen=True)
class Cpu:
    process: float  # this process, fakes included
    fakes: float  # the threads serving the fake GitHub and LLM
    children: float  # child processes (reaped children are not counted)

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(
            self.process - other.process,
            self.fakes - other.fakes,
            self.children - other.children,
        )


def sample() -> Cpu:
    fakes = 0.0
    for thread in threading.enumerate():
        if thread.name.startswith("fake-server-") and thread.native_id is not None:
            with contextlib.suppress(OSError):
                fakes += _cpu(Path(f"/proc/self/task/{thread.native_id}/stat"))[0]
    children = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            seconds, parent = _cpu(stat)
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid():
            children += seconds
    return Cpu(_cpu(Path("/proc/self/stat"))[0], fakes, children)
