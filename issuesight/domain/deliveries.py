"""Bounds of a GitHub webhook delivery's identifiers: the longest values the parser
(webhooks/github.py) accepts and the lengths of the webhook_deliveries columns, declared from
the same numbers so that anything that parses also fits (PostgreSQL would refuse a longer value
with an error, a 500). Here, below both, so the table does not import the parser."""

from __future__ import annotations

from typing import Final

MAX_EVENT_CHARS: Final = 64
MAX_ACTION_CHARS: Final = 64
MAX_DELIVERY_ID_CHARS: Final = 128
