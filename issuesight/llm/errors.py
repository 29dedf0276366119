"""The LLM's errors; their kinds live with every other in issuesight.domain.failures."""

from __future__ import annotations

from issuesight.domain.failures import FailureKind, UpstreamError


class LLMError(UpstreamError):
    def __init__(
        self,
        message: str,
        *,
        kind: FailureKind,
        retry_after: float | None = None,
        spent_tokens: int = 0,
    ) -> None:
        super().__init__(message, kind=kind, retry_after=retry_after)
        # Tokens an answer cost although it was refused (cut off, not JSON, off the schema):
        # the LLM budget counts them too.
        self.spent_tokens = spent_tokens
