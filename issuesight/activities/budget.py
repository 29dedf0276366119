"""The global LLM token budget, as the repository sync asks about it before starting
generations (it waits with a durable timer while the budget is spent)."""

from __future__ import annotations

from temporalio import activity

from issuesight.accounts.store import AccountStore
from issuesight.workflows.contracts import ActivityName, LLMBudgetCheck, LLMBudgetState


class BudgetActivities:
    def __init__(self, accounts: AccountStore, budget: int) -> None:
        self._accounts = accounts
        self._budget = budget  # LLM_DAILY_TOKEN_BUDGET; 0: unlimited

    @activity.defn(name=ActivityName.LLM_BUDGET)
    def check_llm_budget(self, request: LLMBudgetCheck) -> LLMBudgetState:
        if self._budget <= 0:
            return LLMBudgetState(wait_seconds=0.0)
        status = self._accounts.llm_budget(self._budget)
        if not status.spent:
            return LLMBudgetState(0.0, used=status.used, budget=self._budget)
        wait = float(status.retry_after(self._accounts.now()))
        activity.logger.info(
            "LLM token budget spent", extra={"repo": request.repo, "wait_seconds": wait}
        )
        return LLMBudgetState(wait, used=status.used, budget=self._budget)
