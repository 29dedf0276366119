"""`python -m bench._worker`: `issuesight worker` with an LLM concurrency limit, which the package
does not have yet, applied from outside in one of two ways:

- BENCH_MAX_CONCURRENT_ACTIVITIES=N: Temporal's Worker(max_concurrent_activities=N), the knob
  that exists; a worker polls no more activity tasks than it has slots. It bounds every activity,
  so fetching, saving and the LLM call share the N slots.
- BENCH_LLM_CONCURRENCY=N: at most N LLM calls at once in this process (a semaphore around the
  call, inside the activity's heartbeating, so waiting for it does not time the activity out);
  the other activities keep Temporal's default slots.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from typing import Any

import issuesight.activities.llm
import issuesight.worker
from issuesight.cli import main

slots = os.environ.get("BENCH_MAX_CONCURRENT_ACTIVITIES")
if slots:
    issuesight.worker.Worker = functools.partial(  # type: ignore[misc]
        issuesight.worker.Worker, max_concurrent_activities=int(slots)
    )

calls = os.environ.get("BENCH_LLM_CONCURRENCY")
if calls:
    in_flight = asyncio.Semaphore(int(calls))
    generate = issuesight.activities.llm.generate_draft

    async def limited(*args: Any, **kwargs: Any) -> Any:
        async with in_flight:
            return await generate(*args, **kwargs)

    issuesight.activities.llm.generate_draft = limited  # type: ignore[assignment]

sys.exit(main(["worker"]))
