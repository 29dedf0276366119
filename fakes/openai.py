"""A fake OpenAI Chat Completions API for the official `openai` SDK, faithful at the wire.

The default answer is a tutorial that satisfies `issuesight.tutorial.schema.TutorialDraft`;
faults (429 with retry-after, 5xx, 401, malformed or schema-violating content, a hang, an answer
cut by length) are queued and consumed in order, so a test states exactly which attempt fails
and how. As the real API does, an answer longer than the request's `max_completion_tokens` (or
`max_tokens`) is cut there and finishes with `finish_reason: "length"`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FaultKind = Literal["rate_limit", "server_error", "malformed", "invalid", "hang", "auth", "length"]
_FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
# nginx's "client closed request": recorded when a caller gave up during a "hang".
CLIENT_CLOSED = 499


@dataclass(frozen=True)
class RecordedCall:
    model: str
    messages: list[dict[str, Any]]
    response_format: dict[str, Any] | None
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]
    status: int
    at: float  # epoch seconds at arrival


Responder = Callable[[RecordedCall], "str | dict[str, Any]"]


def _error_body(
    message: str, type_: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _tokens(text: str) -> int:
    return len(text) // 4


class FakeOpenAI:
    """`openai.AsyncOpenAI(api_key=..., base_url=fake_server.url + "/v1", max_retries=0)`."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        latency: float = 0.0,
        suggest_files: list[str] | None = None,
    ) -> None:
        self.api_key = api_key
        self.latency = latency
        self.suggest_files = (
            list(suggest_files) if suggest_files is not None else ["README.md", "does/not/exist.py"]
        )
        self.responder: Responder = self.default_tutorial
        self.url = ""  # for the caller to record where it serves `app`; unused here
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._calls: list[RecordedCall] = []
        self._faults: deque[tuple[FaultKind, dict[str, Any]]] = deque()
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route(
                    "/{path:path}", self._unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
                ),
            ]
        )

    # ---- test API ------------------------------------------------------------------------

    def fail_next(self, kind: FaultKind, times: int = 1, **opts: Any) -> None:
        """Queue `times` faults of `kind`; each incoming chat request consumes the oldest.

        Options: rate_limit(retry_after=1), server_error(status=500), malformed(content=...),
        invalid(content=<dict>), hang(seconds=30), length (the answer cut in half, finishing
        with "length", whatever the request's cap).
        """
        if kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(_FAULT_KINDS)}")
        with self._lock:
            self._faults.extend((kind, dict(opts)) for _ in range(times))

    @property
    def calls(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._calls)

    def count(self, status: int | None = None) -> int:
        return sum(1 for c in self.calls if status is None or c.status == status)

    @staticmethod
    def prompt_text(call: RecordedCall) -> str:
        """All message contents joined, text parts of multi-part contents included."""
        parts: list[str] = []
        for message in call.messages:
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return "\n".join(parts)

    def reset(self) -> None:
        """Back to a healthy default: no faults, no latency, default responder, empty log."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self.max_in_flight = self.in_flight
        self.responder = self.default_tutorial
        self.latency = 0.0

    def default_tutorial(self, call: RecordedCall) -> dict[str, Any]:
        """A schema-valid TutorialDraft; files_to_read comes from `suggest_files`."""
        return {
            "title": "Add retry handling to the HTTP client",
            "summary": "The client gives up on the first transient error; make it retry.",
            "difficulty": "beginner",
            "junior_friendly": True,
            "junior_friendly_reason": "The change is small and covered by existing tests.",
            "prerequisites": [
                {"concept": "HTTP status codes", "why": "Retries depend on which codes are safe."}
            ],
            "architecture_overview": "A thin client wraps httpx; callers never see raw responses.",
            "files_to_read": [
                {"path": path, "why": "Mentioned in the issue discussion."}
                for path in self.suggest_files[:15]
            ],
            "implementation_steps": [
                "Find where requests are sent.",
                "Retry on 502, 503 and 504 with exponential backoff.",
            ],
            "how_to_test": ["Run the test suite.", "Add a test with a flaky fake server."],
            "questions_for_maintainers": ["Should POST requests be retried too?"],
            "red_flags": [],
            "first_comment": "Hi! I'd like to work on this; is anyone else on it?",
            "concepts": [
                {"name": "Networking", "description": "Talking to other machines over HTTP."},
                {
                    "name": "HTTP Retries",
                    "description": "Repeating a failed request after a delay.",
                    "parent": "Networking",
                },
            ],
        }

    # ---- HTTP ----------------------------------------------------------------------------

    def _check_key(self, request: Request) -> Response | None:
        if self.api_key is None:
            return None
        if request.headers.get("authorization", "") == f"Bearer {self.api_key}":
            return None
        message = (
            "Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        return JSONResponse(
            _error_body(message, "invalid_request_error", "invalid_api_key"), status_code=401
        )

    async def _chat(self, request: Request) -> Response:
        call, body = await _read_call(request)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        # Stays 500 if the responder raises (the error reaches the server log) or if the call
        # is cancelled because the server stops while it hangs.
        status = 500
        try:
            response = await self._answer(request, call, body)
            status = response.status_code
            return response
        except _ClientGone:
            status = CLIENT_CLOSED
            return Response(status_code=CLIENT_CLOSED)
        finally:
            with self._lock:
                self.in_flight -= 1
                self._calls.append(replace(call, status=status))

    async def _answer(
        self, request: Request, call: RecordedCall, body: dict[str, Any] | None
    ) -> Response:
        if body is None:
            return self._invalid_request("We could not parse the JSON body of your request.")
        if (denied := self._check_key(request)) is not None:
            return denied
        if not call.model:
            return self._invalid_request("you must provide a model parameter", param="model")
        if not isinstance(body.get("messages"), list) or not call.messages:
            return self._invalid_request("'messages' must be a non-empty array", param="messages")
        if body.get("stream"):
            return self._invalid_request("the fake does not implement streaming", param="stream")
        with self._lock:
            kind, opts = self._faults.popleft() if self._faults else (None, {})
        if self.latency > 0:
            await asyncio.sleep(self.latency)

        if kind == "rate_limit":
            retry_after = opts.get("retry_after", 1)
            message = (
                f"Rate limit reached for {call.model} in organization org-fake on requests per "
                f"min (RPM): Limit 3, Used 3, Requested 1. Please try again in {retry_after}s."
            )
            headers = {
                "retry-after": str(retry_after),
                "x-ratelimit-limit-requests": "3",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{retry_after}s",
            }
            error = _error_body(message, "requests", "rate_limit_exceeded")
            return JSONResponse(error, status_code=429, headers=headers)
        if kind == "server_error":
            message = "The server had an error while processing your request. Sorry about that!"
            error = _error_body(message, "server_error", None)
            return JSONResponse(error, status_code=int(opts.get("status", 500)))
        if kind == "auth":
            message = "Incorrect API key provided."
            error = _error_body(message, "invalid_request_error", "invalid_api_key")
            return JSONResponse(error, status_code=401)
        if kind == "hang":
            await _sleep_unless_disconnected(request, float(opts.get("seconds", 30)))

        if kind == "malformed":
            content = str(opts.get("content", "Sure! Here is your tutorial: {"))
        elif kind == "invalid":
            content = json.dumps(opts.get("content", {"title": "A title and nothing else"}))
        else:
            produced = self.responder(call)
            content = produced if isinstance(produced, str) else json.dumps(produced)
        finish_reason = "stop"
        cap = _output_cap(body)
        if kind == "length":
            content, finish_reason = content[: len(content) // 2], "length"
        elif cap is not None and _tokens(content) > cap:
            content, finish_reason = content[: cap * 4], "length"
        return JSONResponse(
            self._completion(call, content, finish_reason), headers=_request_headers()
        )

    def _completion(
        self, call: RecordedCall, content: str, finish_reason: str = "stop"
    ) -> dict[str, Any]:
        prompt_tokens = _tokens(self.prompt_text(call))
        completion_tokens = _tokens(content)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "system_fingerprint": "fp_fake",
        }

    @staticmethod
    def _invalid_request(message: str, param: str | None = None) -> Response:
        error = _error_body(message, "invalid_request_error", None, param)
        return JSONResponse(error, status_code=400)

    async def _models(self, request: Request) -> Response:
        if (denied := self._check_key(request)) is not None:
            return denied
        model = {"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "fake"}
        return JSONResponse({"object": "list", "data": [model]}, headers=_request_headers())

    async def _unknown(self, request: Request) -> Response:
        message = f"Invalid URL ({request.method} {request.url.path})"
        return JSONResponse(_error_body(message, "invalid_request_error", None), status_code=404)


class _ClientGone(Exception):
    """The caller closed the connection while we were hanging."""


def _output_cap(body: dict[str, Any]) -> int | None:
    """The request's output-token cap; OpenAI's newer name wins if both are given."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _request_headers() -> dict[str, str]:
    return {
        "x-request-id": f"req_{uuid.uuid4().hex}",
        "openai-processing-ms": "1",
        "openai-version": "2020-10-01",
    }


async def _sleep_unless_disconnected(request: Request, seconds: float) -> None:
    """Sleep without blocking the loop; stop early, raising _ClientGone, if the client leaves.

    Ending early matters: a parked handler would otherwise hold the server open at shutdown.
    """

    async def disconnected() -> None:
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                return

    try:
        await asyncio.wait_for(disconnected(), timeout=seconds)
    except TimeoutError:
        return  # the whole hang elapsed with the client still waiting
    raise _ClientGone


async def _read_call(request: Request) -> tuple[RecordedCall, dict[str, Any] | None]:
    """The call as recorded, and the JSON body if it is an object."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    call = RecordedCall("", [], None, headers, {}, 0, time.time())
    try:
        body = await request.json()
    except ValueError:
        return call, None
    if not isinstance(body, dict):
        return call, None
    messages = body.get("messages")
    call = replace(
        call,
        model=str(body.get("model") or ""),
        messages=[m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else [],
        response_format=body.get("response_format"),
        body=body,
    )
    return call, body
