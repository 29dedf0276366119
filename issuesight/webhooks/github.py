"""GitHub webhook deliveries: signature verification, parsing and fingerprinting.

The route calls, in this order: `verify_signature` on the raw bytes (nothing is parsed before the
sender is proven to hold the secret), `parse_delivery`, and `delivery_fingerprint` to store with
the delivery id. Only `SignatureError` and `PayloadError` leave this module for any input, so the
route can map them to 401 and 400 without a catch-all.

Parsing is tolerant of absence and strict about corruption: an optional field that is missing or
null becomes `None` / empty (older deliveries and some actions omit fields), but a field that is
present with the wrong type or an implausible value is a `PayloadError`, because GitHub never
sends one and everything downstream keys workflows and rows on these values.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NoReturn

from issuesight.domain.deliveries import MAX_ACTION_CHARS, MAX_DELIVERY_ID_CHARS, MAX_EVENT_CHARS
from issuesight.domain.refs import (
    MAX_ISSUE_NUMBER,
    InvalidIssueReference,
    make_ref,
    parse_repo_name,
)

# GitHub documents a 25 MB cap and does not deliver larger events; MiB is the generous reading,
# so nothing GitHub can send is refused.
MAX_BODY_BYTES: Final = 25 * 1024 * 1024
SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
SIGNATURE_PREFIX: Final = "sha256="
# Bounds any string copied out of a payload (label names are at most 50 characters on GitHub), so
# a signed but pathological body cannot push megabytes into rows and logs.
MAX_TEXT_CHARS: Final = 1024

_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
# Event names and actions are lower-case identifiers; new ones appear over time, so the shape is
# checked, not a list.
_EVENT_NAME = re.compile(rf"[a-z][a-z0-9_]{{0,{MAX_EVENT_CHARS - 1}}}")
_ACTION = re.compile(rf"[a-z][a-z0-9_]{{0,{MAX_ACTION_CHARS - 1}}}")
# GitHub sends a GUID; any short token of these characters is accepted so that GitHub Enterprise
# and test senders work, while keeping the stored key printable and bounded.
_DELIVERY_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{MAX_DELIVERY_ID_CHARS - 1}}}")
_ERROR_ECHO_CHARS = 80


class SignatureError(Exception):
    """The delivery is not proven to come from GitHub; the message never contains secrets."""


class PayloadError(Exception):
    """Malformed JSON, or a body or header that lacks what the event needs."""


@dataclass(frozen=True, slots=True)
class IssueEvent:
    delivery_id: str
    action: str
    repo_full_name: str
    issue_number: int
    is_pull_request: bool
    labels: tuple[str, ...]
    state: str | None
    updated_at: str | None


@dataclass(frozen=True, slots=True)
class PingEvent:
    delivery_id: str
    hook_id: int | None
    zen: str | None


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    """Raises SignatureError unless `header` is `sha256=` + HMAC-SHA256(secret, body)."""
    if not secret:
        # An unset secret must fail closed: accepting unsigned deliveries would let anyone who can
        # reach the endpoint start workflows.
        raise SignatureError("no webhook secret is configured, so no delivery can be verified")
    if header is None:
        raise SignatureError(f"the {SIGNATURE_HEADER} header is missing")
    # RFC 9110 section 5.5: surrounding whitespace is not part of a field value, and proxies may
    # leave it in; whitespace inside the value still fails the digest check below.
    value = header.strip()
    if not value.startswith(SIGNATURE_PREFIX):
        if value.startswith("sha1="):
            # SHA-1 is only kept by GitHub for old receivers; accepting it would be a downgrade.
            raise SignatureError(
                f"only a legacy sha1= signature was given; {SIGNATURE_HEADER} "
                f"must start with {SIGNATURE_PREFIX}"
            )
        raise SignatureError(f"the {SIGNATURE_HEADER} value does not start with {SIGNATURE_PREFIX}")
    received_hex = value[len(SIGNATURE_PREFIX) :]
    if _HEX_DIGEST.fullmatch(received_hex) is None:
        raise SignatureError(
            f"the {SIGNATURE_HEADER} digest is not 64 hexadecimal digits after {SIGNATURE_PREFIX}"
        )
    key = _secret_bytes(secret)
    expected = hmac.new(key, body, hashlib.sha256).digest()
    # Upper-case hex is accepted: GitHub sends lower case, but hex is a case-insensitive spelling
    # of the same 32 bytes, and comparing the decoded bytes keeps the comparison fixed-length and
    # constant-time. Refusing it would add a failure mode for re-signing proxies and test tools
    # without making a forgery any easier.
    if not hmac.compare_digest(expected, bytes.fromhex(received_hex)):
        raise SignatureError(f"the {SIGNATURE_HEADER} digest does not match the body")


def _secret_bytes(secret: str) -> bytes:
    try:
        return secret.encode("utf-8")
    except UnicodeEncodeError:
        pass
    # Raised outside the handler so the codec error, which quotes a character of the secret, is
    # not even kept as __context__ for error reporters to serialize.
    raise SignatureError("the configured webhook secret is not valid UTF-8 text")


def delivery_fingerprint(body: bytes) -> str:
    """SHA-256 hex of the raw body, so a redelivery with the same id but another body shows."""
    return hashlib.sha256(body).hexdigest()


def parse_delivery(
    event: str | None, delivery_id: str | None, body: bytes
) -> IssueEvent | PingEvent | None:
    """Parses a verified delivery; None for events IssueSight does not handle."""
    event_name = _event_name(event)
    delivery = _delivery_id(delivery_id)
    if len(body) > MAX_BODY_BYTES:
        raise PayloadError(
            f"the body is {len(body)} bytes; GitHub caps payloads at {MAX_BODY_BYTES} bytes"
        )
    if event_name == "issues":
        return _issue_event(delivery, _load_object(body))
    if event_name == "ping":
        return _ping_event(delivery, _load_object(body))
    # Not parsed: an ignored event must not be refused for a body shape this module never reads.
    return None


def _event_name(event: str | None) -> str:
    if event is None or not event.strip():
        raise PayloadError("the X-GitHub-Event header is missing")
    name = event.strip()
    if _EVENT_NAME.fullmatch(name) is None:
        raise PayloadError(f"X-GitHub-Event {_echo(name)} is not an event name")
    return name


def _delivery_id(delivery_id: str | None) -> str:
    if delivery_id is None or not delivery_id.strip():
        raise PayloadError("the X-GitHub-Delivery header is missing")
    value = delivery_id.strip()
    if _DELIVERY_ID.fullmatch(value) is None:
        raise PayloadError(f"X-GitHub-Delivery {_echo(value)} is not a delivery id")
    return value


def _reject_constant(name: str) -> NoReturn:
    # Python's json accepts NaN and Infinity, which are not JSON and never come from GitHub.
    raise ValueError(f"{name} is not valid JSON")


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        # Decoded explicitly: json.loads(bytes) would also guess UTF-16/32, which GitHub never
        # sends (RFC 8259 requires UTF-8 between systems).
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad UTF-8, bad JSON and over-long integers; RecursionError covers
        # deeply nested arrays. Both are the sender's fault, not ours.
        raise PayloadError(f"the body is not valid UTF-8 JSON ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise PayloadError(f"the body is a JSON {type(data).__name__}, not an object")
    return data


def _issue_event(delivery: str, payload: dict[str, Any]) -> IssueEvent:
    action = payload.get("action")
    if not isinstance(action, str) or _ACTION.fullmatch(action) is None:
        raise PayloadError("an issues delivery needs a string action such as 'opened'")
    repository = _required_object(payload, "repository")
    issue = _required_object(payload, "issue")
    owner, repo = _repository_name(repository.get("full_name"))
    number = _issue_number(issue.get("number"))
    try:
        # The route builds the issue reference the same way; refusing here keeps a delivery that
        # would fail there from being acknowledged.
        ref = make_ref(owner, repo, number)
    except InvalidIssueReference as exc:
        raise PayloadError(f"the delivery names no valid issue: {exc.reason}") from exc
    return IssueEvent(
        delivery_id=delivery,
        action=action,
        repo_full_name=ref.repo_full_name,
        issue_number=ref.number,
        is_pull_request=_is_pull_request(issue.get("pull_request")),
        labels=_labels(issue.get("labels")),
        state=_optional_text(issue.get("state"), "issue.state"),
        updated_at=_timestamp(issue.get("updated_at"), "issue.updated_at"),
    )


def _ping_event(delivery: str, payload: dict[str, Any]) -> PingEvent:
    raw_hook_id = payload.get("hook_id")
    hook_id = _positive_int(raw_hook_id)
    if raw_hook_id is not None and hook_id is None:
        raise PayloadError("ping hook_id is not a positive integer")
    return PingEvent(
        delivery_id=delivery,
        hook_id=hook_id,
        zen=_optional_text(payload.get("zen"), "ping zen"),
    )


def _required_object(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"the delivery has no {key} object")
    return value


def _repository_name(value: object) -> tuple[str, str]:
    if not isinstance(value, str):
        raise PayloadError("repository.full_name is missing or not a string")
    # parse_repo_name strips; GitHub never pads the name, so padding means a forged or broken body.
    if value != value.strip():
        raise PayloadError(f"repository.full_name {_echo(value)} has surrounding whitespace")
    try:
        return parse_repo_name(value)
    except ValueError:
        raise PayloadError(f"repository.full_name {_echo(value)} is not owner/repo") from None


def _issue_number(value: object) -> int:
    number = _positive_int(value)
    if number is None or number > MAX_ISSUE_NUMBER:
        raise PayloadError(f"issue.number is not an integer from 1 to {MAX_ISSUE_NUMBER}")
    return number


def _positive_int(value: object) -> int | None:
    # bool is an int subclass, and JSON true must not become issue 1; floats such as 1.0 are not
    # what GitHub sends for an id.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _is_pull_request(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, dict):
        raise PayloadError("issue.pull_request is present but not an object")
    return True


def _labels(value: object) -> tuple[str, ...]:
    # `pinned`/`unpinned` payloads omit labels entirely; that means "not reported", read as none.
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PayloadError("issue.labels is not a list")
    names: list[str] = []
    for label in value:
        name = label.get("name") if isinstance(label, dict) else None
        if not isinstance(name, str):
            raise PayloadError("an entry of issue.labels has no string name")
        names.append(_checked_text(name, "a label name"))
    return tuple(names)


def _optional_text(value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{what} is not a string")
    return _checked_text(value, what)


def _timestamp(value: object, what: str) -> str | None:
    text = _optional_text(value, what)
    if text is None:
        return None
    try:
        # Kept as given, but checked: the route may order deliveries by it.
        datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(f"{what} {_echo(text)} is not an ISO 8601 timestamp") from None
    return text


def _checked_text(value: str, what: str) -> str:
    if len(value) > MAX_TEXT_CHARS:
        raise PayloadError(f"{what} is {len(value)} characters long (at most {MAX_TEXT_CHARS})")
    # PostgreSQL text cannot hold NUL, and a lone surrogate (legal as a JSON escape) cannot be
    # encoded for the database or the logs; GitHub sends neither, so refuse them at the edge.
    if "\x00" in value:
        raise PayloadError(f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError(f"{what} contains an unpaired surrogate") from None
    return value


def _echo(value: str) -> str:
    # repr escapes control characters, so a hostile value cannot forge log lines; the cut bounds it.
    return repr(value[:_ERROR_ECHO_CHARS])
