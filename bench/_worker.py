"""`python -m bench._worker`: `issuesight worker` with Temporal's worker-wide activity slots
limited, the alternative to the shipped LLM_MAX_CONCURRENCY that bench.scaleout compares:

- BENCH_MAX_CONCURRENT_ACTIVITIES=N: Worker(max_concurrent_activities=N); a worker polls no more
  activity tasks than it has slots, so the GitHub fetch and the LLM call share the N slots (the
  database steps are local activities and do not take one).
"""

from __future__ import annotations

import functools
import os
import sys

import temporalio.worker

import issuesight.runtime.worker
from issuesight.cli.main import main

slots = os.environ.get("BENCH_MAX_CONCURRENT_ACTIVITIES")
if slots:
    issuesight.runtime.worker.Worker = functools.partial(  # type: ignore[attr-defined,assignment]
        temporalio.worker.Worker, max_concurrent_activities=int(slots)
    )

sys.exit(main(["worker"]))
