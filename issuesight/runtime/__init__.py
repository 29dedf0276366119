"""Long-running processes: the worker, the dev stack, signals, the Temporal connection."""
