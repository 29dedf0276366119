"""Tests against the real parts: a Temporal dev server, SQLite and PostgreSQL, the fakes at
the network edge, worker and API processes, and a real browser."""
