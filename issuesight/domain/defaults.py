"""Defaults that the settings and the workflow contracts share, so they cannot drift apart.

A workflow request carries the attempt count and timeout that were configured when it started
(a run must replay with the values it was started with); the settings default to the same."""

from __future__ import annotations

# Each LLM attempt may cost money: the generation activity gives up after this many.
LLM_MAX_ATTEMPTS = 5
# Seconds one LLM call may take before it counts as failed.
LLM_TIMEOUT_SECONDS = 120.0
