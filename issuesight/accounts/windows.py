"""Rolling 24-hour windows: a user's generation quota and the global LLM token budget.

Both are ledgers of (time, amount) entries. What is spent is the sum over the last 24 hours;
room comes back as entries age out, oldest first. Pure functions, so the arithmetic is tested
without a database or a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class WindowStatus:
    limit: int | None  # None: unlimited
    used: int
    remaining: int | None
    next_free_at: datetime | None  # when one more unit is available, if none is now
    resets_at: datetime | None  # when everything now counted has aged out

    @property
    def spent(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until one more unit is available (at least 1; a whole window when no
        unit ever frees up, as with a quota of 0)."""
        if self.next_free_at is None:
            return int(WINDOW.total_seconds()) if self.spent else 1
        return max(1, int((self.next_free_at - now).total_seconds() + 0.999))


def window_status(
    entries: Sequence[tuple[datetime, int]], limit: int | None, *, need: int = 1
) -> WindowStatus:
    """`entries` are the window's (time, amount), oldest first; `need` is how many units the
    next request takes (1 generation; for the token budget, 1 token: any room at all)."""
    used = sum(amount for _, amount in entries)
    resets_at = entries[-1][0] + WINDOW if entries else None
    if limit is None:
        return WindowStatus(None, used, None, None, resets_at)
    remaining = max(0, limit - used)
    next_free_at = None
    if remaining < need:
        must_expire = used + need - limit
        expired = 0
        for at, amount in entries:
            expired += amount
            if expired >= must_expire:
                next_free_at = at + WINDOW
                break
        else:  # the limit is below `need` itself: never, within this window
            next_free_at = resets_at
    return WindowStatus(limit, used, remaining, next_free_at, resets_at)


def iso(moment: datetime | None) -> str | None:
    """UTC, written as the API writes datetimes (…Z)."""
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None
