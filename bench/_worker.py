"""`python -m bench._worker`: `issuesight worker`, with the activity slots per worker taken from
BENCH_MAX_CONCURRENT_ACTIVITIES.

The worker has no LLM concurrency setting; Temporal's Worker(max_concurrent_activities=...) is
the knob that exists (a worker polls no more activity tasks than it has slots), so the scaleout
figure passes it in here, without touching the package."""

from __future__ import annotations

import functools
import os
import sys

import issuesight.worker
from issuesight.cli import main

slots = os.environ.get("BENCH_MAX_CONCURRENT_ACTIVITIES")
if slots:
    issuesight.worker.Worker = functools.partial(  # type: ignore[misc]
        issuesight.worker.Worker, max_concurrent_activities=int(slots)
    )

sys.exit(main(["worker"]))
