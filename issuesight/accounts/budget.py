"""The global LLM token budget (LLM_DAILY_TOKEN_BUDGET): tokens every successful LLM call spent
in the last 24 hours, from the `llm_usage` ledger the generation writes with its draft."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from issuesight.accounts.windows import WINDOW, WindowStatus, window_status
from issuesight.db.models import LLMUsage


def status(session: Session, limit: int, now: datetime) -> WindowStatus:
    """`limit` 0 is unlimited. The ledger is only walked when the budget is spent (to say when
    it frees up); otherwise one indexed SUM answers."""
    since = now - WINDOW
    used = session.exec(
        select(sa.func.coalesce(sa.func.sum(LLMUsage.tokens), 0)).where(col(LLMUsage.at) > since)
    ).one()
    if limit <= 0:
        return WindowStatus(None, int(used), None, None, None)
    if used < limit:
        return WindowStatus(limit, int(used), limit - int(used), None, None)
    entries = session.exec(
        select(LLMUsage.at, LLMUsage.tokens)
        .where(col(LLMUsage.at) > since)
        .order_by(col(LLMUsage.at))
    ).all()
    return window_status([(at, tokens) for at, tokens in entries], limit)
