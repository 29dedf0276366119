"""Who is asking: the authenticated caller of the API (`Principal`) and whoever a submission
is made for (`Requester`: a user, or the system itself — a sync or a webhook)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from issuesight.db.models import Role


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `key_prefix` names the API key used (None in open mode, or for a
    caller a page identified by its session)."""

    user_id: uuid.UUID
    email: str
    role: Role
    key_prefix: str | None = None
    daily_generations: int | None = None  # the user's own quota; None: the setting's

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def daily_limit(self, default: int | None) -> int | None:
        """New generations this caller may start per rolling 24 hours: the user's own number,
        else `default` (USER_DAILY_GENERATIONS); None is unlimited. The one place that
        decides it, for the API, the pages and submissions alike."""
        return self.daily_generations if self.daily_generations is not None else default


@dataclass(frozen=True)
class Requester:
    """On whose behalf a generation or an unlock is asked for.

    Users pay for new generations out of `daily_limit` (None: unlimited) and are held to the
    global LLM budget at the door; the system's own requesters (sync, webhook) are not charged,
    and the sync waits the budget out in its workflow instead."""

    actor: str  # "user", "sync", "webhook", "reconciler"
    user_id: uuid.UUID | None = None
    daily_limit: int | None = None
    check_llm_budget: bool = False

    @classmethod
    def user(
        cls, principal: Principal, *, default_limit: int | None, check_llm_budget: bool = True
    ) -> Requester:
        limit = principal.daily_limit(default_limit)
        return cls("user", principal.user_id, daily_limit=limit, check_llm_budget=check_llm_budget)

    @property
    def tag(self) -> str:
        """How a workflow knows its requester: an opaque id, never an email or a name."""
        return str(self.user_id) if self.user_id is not None else self.actor


SYNC = Requester("sync")
WEBHOOK = Requester("webhook")
# The reconciler starts work the database says was asked for and no workflow is doing.
RECONCILER = Requester("reconciler")
