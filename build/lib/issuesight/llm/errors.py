"""LLM failure types; import-light because the workflow sandbox imports it."""

from __future__ import annotations

LLM_RATE_LIMITED = "LLMRateLimited"
LLM_UNAVAILABLE = "LLMUnavailable"
LLM_TIMEOUT = "LLMTimeout"
LLM_INVALID_OUTPUT = "LLMInvalidOutput"
LLM_AUTH = "LLMAuthenticationFailed"
LLM_REJECTED = "LLMRequestRejected"
# The answer hit the output-token cap (finish_reason "length"). Not retried as it is: the same
# prompt under the same cap is cut again and every attempt is paid for. The workflow retries
# it once, itself, with twice the cap.
LLM_OUTPUT_TRUNCATED = "LLMOutputTruncated"

PERMANENT_TYPES = (LLM_AUTH, LLM_REJECTED, LLM_OUTPUT_TRUNCATED)


class LLMError(Exception):
    def __init__(self, message: str, *, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind not in PERMANENT_TYPES
