"""Defaults that the settings and the workflow contracts share, so they cannot drift apart.

A workflow request carries the attempt count and timeout that were configured when it started
(a run must replay with the values it was started with); the settings default to the same."""

from __future__ import annotations

# Each LLM attempt may cost money: the generation activity gives up after this many.
LLM_MAX_ATTEMPTS = 5
# Seconds one LLM call may take before it counts as failed.
LLM_TIMEOUT_SECONDS = 120.0
# A database that does not answer (a black-holed host, a stuck server) must not hold a request
# or an activity forever: connecting gives up after this many seconds, and on PostgreSQL a
# statement after the other (0: no statement bound).
DATABASE_CONNECT_TIMEOUT_SECONDS = 5.0
DATABASE_STATEMENT_TIMEOUT_SECONDS = 30.0
