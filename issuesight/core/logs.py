"""Structured logs: one JSON object a line, with workflow and request context, secrets removed."""

from __future__ import annotations

import contextvars
import copy
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from issuesight.core.text import scrub

# Attributes every LogRecord has; anything else was passed through `extra=` and is context.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Secrets are removed from every value before it is serialized (JSON escapes a secret that
    holds a quote, a backslash or a control character, so the serialized line would no longer
    contain it verbatim); the line then gets a last pass for the raw and escaped forms."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = tuple(secrets)
        self._line_secrets = _escaped_forms(self._secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _scrubbed_message(record, self._secrets),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = _scrub_value(_flatten_temporal(key, value), self._secrets)
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info), self._secrets)
        return scrub(json.dumps(entry, default=str, ensure_ascii=False), self._line_secrets)


class ScrubbingTextFormatter(logging.Formatter):
    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self._secrets = tuple(secrets)
        self._line_secrets = _escaped_forms(self._secrets)

    def format(self, record: logging.LogRecord) -> str:
        # A copy, so the scrubbed arguments and cached exception text stay with this formatter.
        scrubbed = copy.copy(record)
        scrubbed.msg = _scrubbed_message(record, self._secrets)
        scrubbed.args = None
        return scrub(super().format(scrubbed), self._line_secrets)


def _scrubbed_message(record: logging.LogRecord, secrets: Sequence[str]) -> str:
    """The record's message with its arguments scrubbed before they are formatted in: a `%r`
    would otherwise write a secret with its quotes and backslashes escaped."""
    if record.args:
        record = copy.copy(record)
        record.args = _scrub_value(record.args, secrets, keep_objects=True)
    return scrub(record.getMessage(), secrets)


_JSON_NATIVE = (bool, int, float, type(None))
_MAX_DEPTH = 12


def _scrub_value(
    value: Any, secrets: Sequence[str], *, keep_objects: bool = False, depth: int = 0
) -> Any:
    """Strings scrubbed, containers walked. Other objects become their scrubbed `str()` (what
    `json.dumps(default=str)` would have written), or with `keep_objects` (arguments still to be
    `%`-formatted) stay as they are; the last pass over the line catches what they print."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, _JSON_NATIVE):
        return value
    if depth < _MAX_DEPTH:
        if isinstance(value, dict):
            return {
                # `%(name)s` arguments are looked up by key: those keys stay as they are.
                (k if keep_objects else _scrub_key(k, secrets)): _scrub_value(
                    v, secrets, keep_objects=keep_objects, depth=depth + 1
                )
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            items = [
                _scrub_value(v, secrets, keep_objects=keep_objects, depth=depth + 1) for v in value
            ]
            if isinstance(value, list):
                return items
            return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if keep_objects:
        return value
    return scrub(str(value), secrets)


def _scrub_key(key: Any, secrets: Sequence[str]) -> Any:
    return key if isinstance(key, _JSON_NATIVE) else scrub(str(key), secrets)


def _escaped_forms(secrets: Sequence[str]) -> tuple[str, ...]:
    """Each secret as written verbatim, JSON-escaped (both ways) and inside a `repr()`."""
    forms: dict[str, None] = {}
    for secret in secrets:
        if len(secret) < 4:  # as `scrub` itself: too short to be told from ordinary text
            continue
        for form in (
            secret,
            json.dumps(secret, ensure_ascii=False)[1:-1],
            json.dumps(secret)[1:-1],
            repr(secret)[1:-1],
        ):
            forms.setdefault(form, None)
    return tuple(forms)


def _flatten_temporal(key: str, value: Any) -> Any:
    """The SDK attaches its context as dicts; keep the ids operators search by."""
    if key in {"temporal_workflow", "temporal_activity"} and isinstance(value, dict):
        wanted = ("workflow_id", "run_id", "workflow_type", "activity_type", "attempt")
        return {k: value[k] for k in wanted if k in value}
    return value


REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Puts the id of the request being served (set by the API) on every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


def configure_logging(level: str, fmt: str, secrets: Sequence[str]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = (
        JsonFormatter(secrets) if fmt == "json" else ScrubbingTextFormatter(secrets)
    )
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Request lines from the HTTP clients would log URLs at INFO for every GitHub call.
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
