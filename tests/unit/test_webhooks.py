"""GitHub webhook deliveries: the documented HMAC vector, every rejection, real payloads of every
`issues` action, 2018 deliveries, and the Big List of Naughty Strings in every field we read."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import pytest

from issuesight.domain.refs import MAX_ISSUE_NUMBER
from issuesight.webhooks.github import (
    MAX_BODY_BYTES,
    MAX_TEXT_CHARS,
    IssueEvent,
    PayloadError,
    PingEvent,
    SignatureError,
    delivery_fingerprint,
    parse_delivery,
    verify_signature,
)
from tests.paths import FIXTURES

WEBHOOKS = FIXTURES / "webhooks"
ISSUES_DIR = WEBHOOKS / "octokit-webhooks/issues"
PING_DIR = WEBHOOKS / "octokit-webhooks/ping"
CAPTURED_DIR = WEBHOOKS / "issues-closed-captured"
VECTOR = json.loads((WEBHOOKS / "github-docs-headers/signature-test-vector.json").read_text())
BLNS: list[str] = json.loads(
    (FIXTURES / "adversarial/naughty-strings/blns.json").read_text(encoding="utf-8")
)

SECRET = "issuesight-unit-test-secret"
# The delivery id of GitHub's documented example delivery.
DELIVERY_ID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
OPENED = (ISSUES_DIR / "opened.payload.json").read_bytes()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def opened_payload() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(OPENED)
    return payload


def encode(payload: object) -> bytes:
    return json.dumps(payload).encode()


def parse_or_refuse(event: str | None, delivery_id: str | None, body: bytes) -> object:
    """The parsed result, or the PayloadError; any other exception propagates and fails."""
    try:
        return parse_delivery(event, delivery_id, body)
    except PayloadError as exc:
        return exc


# -- signature ---------------------------------------------------------------------------------


def test_documented_test_vector_verifies() -> None:
    body = VECTOR["payload"].encode("utf-8")
    assert len(body) == 13
    verify_signature(VECTOR["secret"], body, VECTOR["x_hub_signature_256"])


def test_documented_vector_is_the_hmac_we_compute() -> None:
    # Guards the helper the other tests rely on against drifting from GitHub's definition.
    assert sign(VECTOR["payload"].encode(), VECTOR["secret"]) == VECTOR["x_hub_signature_256"]


VECTOR_BODY: bytes = VECTOR["payload"].encode()
VECTOR_SECRET: str = VECTOR["secret"]
VECTOR_HEX: str = VECTOR["signature_hex"]


@pytest.mark.parametrize(
    ("secret", "body", "header", "reason"),
    [
        pytest.param(
            VECTOR_SECRET, b"Hello, World?", f"sha256={VECTOR_HEX}", "does not match", id="body"
        ),
        pytest.param(
            VECTOR_SECRET,
            VECTOR_BODY + b"\n",
            f"sha256={VECTOR_HEX}",
            "does not match",
            id="body-trailing-newline",
        ),
        pytest.param(
            VECTOR_SECRET,
            VECTOR_BODY,
            f"sha256={VECTOR_HEX[:-1]}0",
            "does not match",
            id="digest-last-digit",
        ),
        pytest.param(
            VECTOR_SECRET, VECTOR_BODY, f"sha256={'0' * 64}", "does not match", id="digest-zeros"
        ),
        pytest.param(
            "It's a secret to everybody",
            VECTOR_BODY,
            f"sha256={VECTOR_HEX}",
            "does not match",
            id="wrong-secret",
        ),
        pytest.param(VECTOR_SECRET, VECTOR_BODY, None, "header is missing", id="missing"),
        pytest.param(VECTOR_SECRET, VECTOR_BODY, "", "does not start with", id="empty-header"),
        pytest.param(
            VECTOR_SECRET,
            VECTOR_BODY,
            "sha1=" + hmac.new(VECTOR_SECRET.encode(), VECTOR_BODY, hashlib.sha1).hexdigest(),
            "legacy sha1=",
            id="sha1-only",
        ),
        pytest.param(
            VECTOR_SECRET,
            VECTOR_BODY,
            f"SHA256={VECTOR_HEX}",
            "does not start with",
            id="prefix-upper-case",
        ),
        pytest.param(VECTOR_SECRET, VECTOR_BODY, VECTOR_HEX, "does not start with", id="no-prefix"),
        pytest.param(VECTOR_SECRET, VECTOR_BODY, "sha256=", "64 hexadecimal", id="no-digest"),
        pytest.param(
            VECTOR_SECRET, VECTOR_BODY, f"sha256={VECTOR_HEX[:-1]}", "64 hexadecimal", id="63-hex"
        ),
        pytest.param(
            VECTOR_SECRET, VECTOR_BODY, f"sha256={VECTOR_HEX}0", "64 hexadecimal", id="65-hex"
        ),
        pytest.param(
            VECTOR_SECRET,
            VECTOR_BODY,
            f"sha256={VECTOR_HEX[:-1]}g",
            "64 hexadecimal",
            id="non-hex",
        ),
        pytest.param(
            # U+0663 ARABIC-INDIC DIGIT THREE: a "digit" to str.isdigit, not to a hex parser.
            VECTOR_SECRET,
            VECTOR_BODY,
            f"sha256={VECTOR_HEX[:-1]}\u0663",
            "64 hexadecimal",
            id="non-ascii-digit",
        ),
        pytest.param(
            VECTOR_SECRET,
            VECTOR_BODY,
            f"sha256= {VECTOR_HEX}",
            "64 hexadecimal",
            id="inner-space",
        ),
        pytest.param(
            VECTOR_SECRET,
            VECTOR_BODY,
            f"sha256={VECTOR_HEX[:32]}\n{VECTOR_HEX[32:]}",
            "64 hexadecimal",
            id="inner-newline",
        ),
        pytest.param(
            VECTOR_SECRET,
            VECTOR_BODY,
            f"sha256={VECTOR_HEX},sha256={VECTOR_HEX}",
            "64 hexadecimal",
            id="two-digests",
        ),
        pytest.param(
            VECTOR_SECRET,
            VECTOR_BODY,
            "sha1=7d38cdd689735b008b3c702edd92eea23791c5f6, sha256=" + VECTOR_HEX,
            "legacy sha1=",
            id="sha1-then-sha256",
        ),
        pytest.param("", VECTOR_BODY, f"sha256={VECTOR_HEX}", "no webhook secret", id="no-secret"),
        pytest.param(
            "",
            VECTOR_BODY,
            "sha256=" + hmac.new(b"", VECTOR_BODY, hashlib.sha256).hexdigest(),
            "no webhook secret",
            id="no-secret-signed-with-empty-key",
        ),
    ],
)
def test_signature_is_refused(secret: str, body: bytes, header: str | None, reason: str) -> None:
    with pytest.raises(SignatureError, match=re.escape(reason)) as caught:
        verify_signature(secret, body, header)
    message = str(caught.value)
    expected_hex = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert expected_hex not in message.lower()
    if secret:
        assert secret not in message


def test_upper_case_hex_digest_is_accepted() -> None:
    # Decision (see verify_signature): hex is a case-insensitive spelling of the same 32 bytes,
    # so upper case verifies; GitHub itself sends lower case.
    verify_signature(VECTOR_SECRET, VECTOR_BODY, f"sha256={VECTOR_HEX.upper()}")
    verify_signature(
        VECTOR_SECRET, VECTOR_BODY, f"sha256={VECTOR_HEX[:32].upper()}{VECTOR_HEX[32:]}"
    )


def test_upper_case_hex_of_a_wrong_digest_is_still_refused() -> None:
    wrong = hmac.new(b"other", VECTOR_BODY, hashlib.sha256).hexdigest().upper()
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(VECTOR_SECRET, VECTOR_BODY, f"sha256={wrong}")


@pytest.mark.parametrize(
    "header",
    [
        f" sha256={VECTOR_HEX}",
        f"sha256={VECTOR_HEX} ",
        f"\tsha256={VECTOR_HEX}\r\n",
        f"  sha256={VECTOR_HEX}  ",
    ],
)
def test_whitespace_around_the_header_is_ignored(header: str) -> None:
    # RFC 9110 section 5.5: leading and trailing whitespace is not part of a field value.
    verify_signature(VECTOR_SECRET, VECTOR_BODY, header)


def test_secret_that_is_not_utf8_is_refused_without_quoting_it() -> None:
    secret = "abc\udc80def"
    with pytest.raises(SignatureError, match="not valid UTF-8") as caught:
        verify_signature(secret, VECTOR_BODY, f"sha256={VECTOR_HEX}")
    assert "\udc80" not in str(caught.value)
    assert "abc" not in str(caught.value)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


@pytest.mark.parametrize("path", sorted(ISSUES_DIR.glob("*.json")), ids=lambda p: p.name)
def test_real_payload_bytes_verify_and_any_flipped_byte_fails(path: Path) -> None:
    body = path.read_bytes()
    header = sign(body)
    verify_signature(SECRET, body, header)
    middle = len(body) // 2
    tampered = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(SECRET, tampered, header)


def test_signature_covers_raw_bytes_not_reserialized_json() -> None:
    header = sign(OPENED)
    reserialized = json.dumps(json.loads(OPENED)).encode()
    assert reserialized != OPENED
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(SECRET, reserialized, header)


# -- fingerprint -------------------------------------------------------------------------------


def test_fingerprint_is_sha256_hex_of_the_raw_body() -> None:
    assert (
        delivery_fingerprint(b"Hello, World!")
        == "dffd6021bb2bd5b0af676290809ec3a53191dd81c7f70a4b28688a362182986f"
    )
    assert delivery_fingerprint(b"") == hashlib.sha256(b"").hexdigest()


def test_fingerprint_tells_a_changed_redelivery_apart() -> None:
    assert delivery_fingerprint(OPENED) == delivery_fingerprint(bytes(OPENED))
    assert delivery_fingerprint(OPENED) != delivery_fingerprint(OPENED + b" ")
    assert delivery_fingerprint(OPENED) != delivery_fingerprint(OPENED.replace(b"bug", b"bag"))


# -- issues: every octokit example ---------------------------------------------------------------

CODERTOCAT = "codertocat/hello-world"
# stem -> (repo, number, is_pull_request, labels, state, updated_at); read off the fixtures by hand.
OPEN_1 = (CODERTOCAT, 1, False, ("bug",), "open")
EXPECTED_ISSUES: dict[str, tuple[str, int, bool, tuple[str, ...], str | None, str]] = {
    "assigned.payload": (*OPEN_1, "2019-05-15T15:20:18Z"),
    "assigned.with-installation.payload": (*OPEN_1, "2019-05-15T15:20:18Z"),
    "assigned.with-organization.payload": (*OPEN_1, "2019-05-15T15:20:18Z"),
    "deleted.payload": (CODERTOCAT, 1, False, ("bug",), "closed", "2021-10-11T16:40:56Z"),
    "demilestoned.payload": (CODERTOCAT, 2, True, ("bug",), "open", "2019-05-15T15:20:35Z"),
    "demilestoned.with-organization.payload": (
        CODERTOCAT,
        2,
        True,
        ("bug",),
        "open",
        "2019-05-15T15:20:35Z",
    ),
    "edited.payload": (*OPEN_1, "2019-05-15T15:20:18Z"),
    "edited.with-organization.payload": (*OPEN_1, "2019-05-15T15:20:18Z"),
    "labeled.payload": (*OPEN_1, "2019-05-15T15:20:18Z"),
    "labeled.with-organization.payload": (*OPEN_1, "2019-05-15T15:20:18Z"),
    "locked.payload": (*OPEN_1, "2019-05-15T15:20:27Z"),
    "locked.with-organization.payload": (*OPEN_1, "2019-05-15T15:20:27Z"),
    "milestoned.payload": (CODERTOCAT, 2, True, ("bug",), "open", "2019-05-15T15:20:35Z"),
    "milestoned.with-organization.payload": (
        CODERTOCAT,
        2,
        True,
        ("bug",),
        "open",
        "2019-05-15T15:20:35Z",
    ),
    "opened.payload": (*OPEN_1, "2019-05-15T15:20:18Z"),
    "opened.with-empty-body.payload": (*OPEN_1, "2019-05-15T15:20:18Z"),
    "opened.with-organization.payload": (*OPEN_1, "2019-05-15T15:20:18Z"),
    "opened.with-transfer.payload": (*OPEN_1, "2019-05-15T15:20:18Z"),
    # pinned/unpinned examples carry neither labels nor state.
    "pinned.payload": (CODERTOCAT, 1, False, (), None, "2019-05-15T15:20:18Z"),
    "reopened.payload": (*OPEN_1, "2021-10-11T16:40:56Z"),
    "transferred.payload": ("octo-org/octo-repo", 1, False, (), "open", "2019-10-25T22:46:30Z"),
    "unassigned.payload": (*OPEN_1, "2019-05-15T15:20:25Z"),
    "unassigned.with-organization.payload": (*OPEN_1, "2019-05-15T15:20:25Z"),
    "unlabeled.payload": (*OPEN_1, "2019-05-15T15:20:26Z"),
    "unlabeled.with-organization.payload": (*OPEN_1, "2019-05-15T15:20:26Z"),
    "unlocked.payload": (*OPEN_1, "2019-05-15T15:20:28Z"),
    "unlocked.with-organization.payload": (*OPEN_1, "2019-05-15T15:20:28Z"),
    "unpinned.payload": (CODERTOCAT, 1, False, (), None, "2019-05-15T15:20:18Z"),
}


def test_every_octokit_issues_example_is_covered() -> None:
    assert sorted(p.stem for p in ISSUES_DIR.glob("*.json")) == sorted(EXPECTED_ISSUES)


@pytest.mark.parametrize("stem", sorted(EXPECTED_ISSUES))
def test_octokit_issues_example_parses(stem: str) -> None:
    repo, number, is_pr, labels, state, updated_at = EXPECTED_ISSUES[stem]
    body = (ISSUES_DIR / f"{stem}.json").read_bytes()
    event = parse_delivery("issues", DELIVERY_ID, body)
    assert event == IssueEvent(
        delivery_id=DELIVERY_ID,
        action=stem.split(".")[0],
        repo_full_name=repo,
        issue_number=number,
        is_pull_request=is_pr,
        labels=labels,
        state=state,
        updated_at=updated_at,
    )


def test_captured_2018_deliveries_parse() -> None:
    for name in ("issues.closed.json", "issues.closed_escape_seq.json"):
        event = parse_delivery("issues", DELIVERY_ID, (CAPTURED_DIR / name).read_bytes())
        assert event == IssueEvent(
            delivery_id=DELIVERY_ID,
            action="closed",
            repo_full_name="c-saunders/flynn_env_test",
            issue_number=1,
            is_pull_request=False,
            labels=(),
            state="closed",
            updated_at="2018-11-18T18:42:08Z",
        ), name


def test_minimal_issues_body_parses_with_defaults() -> None:
    body = encode({"action": "opened", "issue": {"number": 7}, "repository": {"full_name": "O/R"}})
    assert parse_delivery("issues", DELIVERY_ID, body) == IssueEvent(
        delivery_id=DELIVERY_ID,
        action="opened",
        repo_full_name="o/r",
        issue_number=7,
        is_pull_request=False,
        labels=(),
        state=None,
        updated_at=None,
    )


def test_null_optional_fields_are_tolerated() -> None:
    payload = opened_payload()
    payload["issue"].update(labels=None, state=None, updated_at=None, pull_request=None)
    event = parse_delivery("issues", DELIVERY_ID, encode(payload))
    assert isinstance(event, IssueEvent)
    assert event.labels == ()
    assert event.state is None
    assert event.updated_at is None
    assert event.is_pull_request is False


def test_labels_keep_order_duplicates_and_case() -> None:
    payload = opened_payload()
    payload["issue"]["labels"] = [{"name": "Good First Issue"}, {"name": "bug"}, {"name": "bug"}]
    event = parse_delivery("issues", DELIVERY_ID, encode(payload))
    assert isinstance(event, IssueEvent)
    assert event.labels == ("Good First Issue", "bug", "bug")


def test_largest_issue_number_is_accepted() -> None:
    payload = opened_payload()
    payload["issue"]["number"] = MAX_ISSUE_NUMBER
    event = parse_delivery("issues", DELIVERY_ID, encode(payload))
    assert isinstance(event, IssueEvent)
    assert event.issue_number == MAX_ISSUE_NUMBER


@pytest.mark.parametrize("event", [" issues", "issues\r\n"])
def test_event_header_whitespace_is_ignored(event: str) -> None:
    parsed = parse_delivery(event, f" {DELIVERY_ID} ", OPENED)
    assert isinstance(parsed, IssueEvent)
    assert parsed.delivery_id == DELIVERY_ID


# -- issues: refusals ----------------------------------------------------------------------------


def _with(path: tuple[str, ...], value: object) -> bytes:
    payload = opened_payload()
    target: dict[str, Any] = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return encode(payload)


def _without(*path: str) -> bytes:
    payload = opened_payload()
    target: dict[str, Any] = payload
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return encode(payload)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(_without("action"), "action", id="no-action"),
        pytest.param(_with(("action",), 1), "action", id="action-int"),
        pytest.param(_with(("action",), ""), "action", id="action-empty"),
        pytest.param(_with(("action",), "Opened"), "action", id="action-upper"),
        pytest.param(_with(("action",), "opened\n"), "action", id="action-newline"),
        pytest.param(_without("repository"), "repository", id="no-repository"),
        pytest.param(_with(("repository",), "octo/repo"), "repository", id="repository-str"),
        pytest.param(_without("issue"), "no issue", id="no-issue"),
        pytest.param(_with(("issue",), [1]), "no issue", id="issue-list"),
        pytest.param(_without("repository", "full_name"), "full_name", id="no-full-name"),
        pytest.param(_with(("repository", "full_name"), None), "full_name", id="full-name-null"),
        pytest.param(_with(("repository", "full_name"), ["o/r"]), "full_name", id="name-list"),
        pytest.param(_with(("repository", "full_name"), ""), "owner/repo", id="name-empty"),
        pytest.param(_with(("repository", "full_name"), "octo"), "owner/repo", id="no-slash"),
        pytest.param(_with(("repository", "full_name"), "o/r/x"), "owner/repo", id="two-slashes"),
        pytest.param(_with(("repository", "full_name"), "o/"), "owner/repo", id="no-repo"),
        pytest.param(_with(("repository", "full_name"), "/r"), "owner/repo", id="no-owner"),
        pytest.param(_with(("repository", "full_name"), "-o/r"), "owner/repo", id="owner-dash"),
        pytest.param(_with(("repository", "full_name"), "o/.."), "owner/repo", id="dotdot"),
        pytest.param(_with(("repository", "full_name"), "o/r.git"), "valid issue", id="dot-git"),
        pytest.param(_with(("repository", "full_name"), "o/r#2"), "owner/repo", id="hash"),
        pytest.param(_with(("repository", "full_name"), "O/R.GIT"), "valid issue", id="DOT-GIT"),
        pytest.param(
            # U+017F folds to 's' under IGNORECASE; names are ASCII only.
            _with(("repository", "full_name"), "o/r\u017f"),
            "owner/repo",
            id="non-ascii",
        ),
        pytest.param(
            # Must not be read as the URL form of another issue (o/r#5).
            _with(("repository", "full_name"), "github.com/o/r/issues/5"),
            "owner/repo",
            id="url-smuggling",
        ),
        pytest.param(
            _with(("repository", "full_name"), " o/r"), "surrounding whitespace", id="padded"
        ),
        pytest.param(
            _with(("repository", "full_name"), "o/r\n"), "surrounding whitespace", id="newline"
        ),
        pytest.param(_with(("repository", "full_name"), "o" * 40 + "/r"), "owner/repo", id="40"),
        pytest.param(_without("issue", "number"), "issue.number", id="no-number"),
        pytest.param(_with(("issue", "number"), 0), "issue.number", id="number-0"),
        pytest.param(_with(("issue", "number"), -1), "issue.number", id="number-negative"),
        pytest.param(_with(("issue", "number"), "1"), "issue.number", id="number-str"),
        pytest.param(_with(("issue", "number"), 1.0), "issue.number", id="number-float"),
        pytest.param(_with(("issue", "number"), True), "issue.number", id="number-true"),
        pytest.param(_with(("issue", "number"), None), "issue.number", id="number-null"),
        pytest.param(
            _with(("issue", "number"), MAX_ISSUE_NUMBER + 1), "issue.number", id="number-2**31"
        ),
        pytest.param(_with(("issue", "number"), 10**30), "issue.number", id="number-huge"),
        pytest.param(_with(("issue", "labels"), "bug"), "issue.labels", id="labels-str"),
        pytest.param(_with(("issue", "labels"), {"name": "bug"}), "issue.labels", id="labels-obj"),
        pytest.param(_with(("issue", "labels"), ["bug"]), "string name", id="label-str"),
        pytest.param(_with(("issue", "labels"), [{"name": 5}]), "string name", id="label-int"),
        pytest.param(_with(("issue", "labels"), [{}]), "string name", id="label-no-name"),
        pytest.param(_with(("issue", "labels"), [None]), "string name", id="label-null"),
        pytest.param(_with(("issue", "labels"), [{"name": "a\x00b"}]), "NUL", id="label-nul"),
        pytest.param(
            _with(("issue", "labels"), [{"name": "x" * (MAX_TEXT_CHARS + 1)}]),
            "characters long",
            id="label-too-long",
        ),
        pytest.param(_with(("issue", "state"), 1), "issue.state", id="state-int"),
        pytest.param(_with(("issue", "updated_at"), 0), "issue.updated_at", id="updated-int"),
        pytest.param(
            _with(("issue", "updated_at"), "yesterday"), "ISO 8601", id="updated-not-a-date"
        ),
        pytest.param(_with(("issue", "pull_request"), True), "pull_request", id="pr-true"),
        pytest.param(_with(("issue", "pull_request"), "yes"), "pull_request", id="pr-str"),
    ],
)
def test_issues_body_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=re.escape(reason)):
        parse_delivery("issues", DELIVERY_ID, body)


def test_lone_surrogate_in_a_label_is_refused() -> None:
    # json.dumps escapes it as \udc80, which is legal JSON but not encodable text.
    body = OPENED.replace(b'"name": "bug"', b'"name": "bug\\udc80"', 1)
    assert body != OPENED
    with pytest.raises(PayloadError, match="unpaired surrogate"):
        parse_delivery("issues", DELIVERY_ID, body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"", "not valid UTF-8 JSON", id="empty"),
        pytest.param(b"{", "not valid UTF-8 JSON", id="truncated"),
        pytest.param(b"\xff\xfe{}", "not valid UTF-8 JSON", id="bad-utf8"),
        pytest.param("{}".encode("utf-16"), "not valid UTF-8 JSON", id="utf16"),
        pytest.param(b"\xef\xbb\xbf" + OPENED, "not valid UTF-8 JSON", id="bom"),
        pytest.param(b'{"a": NaN}', "not valid UTF-8 JSON", id="nan"),
        pytest.param(b'{"a": -Infinity}', "not valid UTF-8 JSON", id="infinity"),
        pytest.param(b'{"a": ' + b"9" * 5000 + b"}", "not valid UTF-8 JSON", id="long-int"),
        pytest.param(b"[" * 200_000 + b"]" * 200_000, "not valid UTF-8 JSON", id="deep-nesting"),
        pytest.param(OPENED + b"{}", "not valid UTF-8 JSON", id="trailing-data"),
        pytest.param(b"[]", "JSON list, not an object", id="list"),
        pytest.param(b"null", "JSON NoneType, not an object", id="null"),
        pytest.param(b'"opened"', "JSON str, not an object", id="string"),
        pytest.param(b"1", "JSON int, not an object", id="number"),
        pytest.param(b"{}", "action", id="empty-object"),
    ],
)
@pytest.mark.parametrize("event", ["issues", "ping"])
def test_malformed_body_is_refused(body: bytes, reason: str, event: str) -> None:
    if event == "ping" and reason == "action":
        assert parse_delivery(event, DELIVERY_ID, body) == PingEvent(DELIVERY_ID, None, None)
        return
    with pytest.raises(PayloadError, match=re.escape(reason)):
        parse_delivery(event, DELIVERY_ID, body)


def test_body_over_25_mb_is_refused_before_parsing() -> None:
    # Valid JSON padded past the cap: only the size can be the reason.
    body = OPENED + b" " * (MAX_BODY_BYTES + 1 - len(OPENED))
    assert len(body) == MAX_BODY_BYTES + 1
    for event in ("issues", "ping", "push"):
        with pytest.raises(PayloadError, match="caps payloads at 26214400 bytes"):
            parse_delivery(event, DELIVERY_ID, body)


def test_body_of_exactly_25_mb_is_parsed() -> None:
    body = OPENED + b" " * (MAX_BODY_BYTES - len(OPENED))
    assert len(body) == MAX_BODY_BYTES
    event = parse_delivery("issues", DELIVERY_ID, body)
    assert isinstance(event, IssueEvent)
    assert event.issue_number == 1


# -- headers and other events ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "delivery_id", "reason"),
    [
        pytest.param(None, DELIVERY_ID, "X-GitHub-Event header is missing", id="no-event"),
        pytest.param("", DELIVERY_ID, "X-GitHub-Event header is missing", id="empty-event"),
        pytest.param("  ", DELIVERY_ID, "X-GitHub-Event header is missing", id="blank-event"),
        pytest.param("Issues", DELIVERY_ID, "not an event name", id="event-case"),
        pytest.param("issues,ping", DELIVERY_ID, "not an event name", id="event-list"),
        pytest.param("is\x00sues", DELIVERY_ID, "not an event name", id="event-nul"),
        pytest.param("issues", None, "X-GitHub-Delivery header is missing", id="no-delivery"),
        pytest.param("issues", "", "X-GitHub-Delivery header is missing", id="empty-delivery"),
        pytest.param("issues", "\t", "X-GitHub-Delivery header is missing", id="blank-delivery"),
        pytest.param("issues", "a b", "not a delivery id", id="delivery-space"),
        pytest.param("issues", "x" * 129, "not a delivery id", id="delivery-129"),
        pytest.param("issues", "../../etc", "not a delivery id", id="delivery-path"),
        pytest.param("push", None, "X-GitHub-Delivery header is missing", id="ignored-no-id"),
    ],
)
def test_missing_or_malformed_headers_are_refused(
    event: str | None, delivery_id: str | None, reason: str
) -> None:
    with pytest.raises(PayloadError, match=re.escape(reason)):
        parse_delivery(event, delivery_id, OPENED)


def test_long_hostile_header_is_not_echoed_in_full() -> None:
    hostile = "x" * 10_000 + " "
    with pytest.raises(PayloadError) as caught:
        parse_delivery("issues", hostile, OPENED)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    "event",
    ["issue_comment", "pull_request", "push", "installation", "label", "meta", "star"],
)
def test_other_events_are_ignored(event: str) -> None:
    assert parse_delivery(event, DELIVERY_ID, OPENED) is None
    # Ignored events are not parsed, so a body this module cannot read does not refuse them.
    assert parse_delivery(event, DELIVERY_ID, b"\xff not json") is None


# -- ping ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(PING_DIR.glob("*.json")), ids=lambda p: p.name)
def test_ping_examples_parse(path: Path) -> None:
    assert parse_delivery("ping", DELIVERY_ID, path.read_bytes()) == PingEvent(
        delivery_id=DELIVERY_ID,
        hook_id=109948940,
        zen="Anything added dilutes everything else.",
    )


def test_ping_examples_are_all_present() -> None:
    assert len(list(PING_DIR.glob("*.json"))) == 3


@pytest.mark.parametrize(
    ("hook_id", "reason"),
    [("1", "hook_id"), (0, "hook_id"), (-5, "hook_id"), (True, "hook_id"), (1.5, "hook_id")],
)
def test_ping_with_bad_hook_id_is_refused(hook_id: object, reason: str) -> None:
    payload = json.loads((PING_DIR / "payload.json").read_bytes())
    payload["hook_id"] = hook_id
    with pytest.raises(PayloadError, match=reason):
        parse_delivery("ping", DELIVERY_ID, encode(payload))


def test_ping_with_bad_zen_is_refused() -> None:
    with pytest.raises(PayloadError, match="zen"):
        parse_delivery("ping", DELIVERY_ID, encode({"zen": ["x"], "hook_id": 1}))


def test_ping_tolerates_missing_fields() -> None:
    assert parse_delivery("ping", DELIVERY_ID, b"{}") == PingEvent(DELIVERY_ID, None, None)


# -- Big List of Naughty Strings -----------------------------------------------------------------

BLNS_IDS = [f"blns-{i}" for i in range(len(BLNS))]
# Independent statement of a plausible owner/repo (GitHub's naming rules), to predict outcomes.
PLAUSIBLE_REPO = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[A-Za-z0-9._-]{1,100}"
)


def test_blns_is_the_full_list() -> None:
    assert len(BLNS) == 515


@pytest.mark.parametrize("text", BLNS, ids=BLNS_IDS)
def test_blns_as_body_is_refused_or_parsed(text: str) -> None:
    body = text.encode("utf-8")
    # No naughty string is a complete issues object.
    with pytest.raises(PayloadError):
        parse_delivery("issues", DELIVERY_ID, body)
    ping = parse_or_refuse("ping", DELIVERY_ID, body)
    assert isinstance(ping, (PingEvent, PayloadError))
    assert parse_delivery("push", DELIVERY_ID, body) is None


@pytest.mark.parametrize("text", BLNS, ids=BLNS_IDS)
def test_blns_as_title_changes_nothing(text: str) -> None:
    payload = opened_payload()
    payload["issue"]["title"] = text
    payload["issue"]["body"] = text
    event = parse_delivery("issues", DELIVERY_ID, encode(payload))
    assert event == parse_delivery("issues", DELIVERY_ID, OPENED)


@pytest.mark.parametrize("text", BLNS, ids=BLNS_IDS)
def test_blns_as_label_name_is_kept_as_given(text: str) -> None:
    payload = opened_payload()
    payload["issue"]["labels"] = [{"name": text}, {"name": "good first issue"}]
    payload["label"] = {"name": text}
    event = parse_delivery("issues", DELIVERY_ID, encode(payload))
    # BLNS holds no NUL, no lone surrogate and nothing over MAX_TEXT_CHARS, so every name is kept.
    assert isinstance(event, IssueEvent)
    assert event.labels == (text, "good first issue")


@pytest.mark.parametrize("text", BLNS, ids=BLNS_IDS)
def test_blns_as_repo_name_is_refused_unless_plausible(text: str) -> None:
    body = _with(("repository", "full_name"), text)
    result = parse_or_refuse("issues", DELIVERY_ID, body)
    owner_repo = PLAUSIBLE_REPO.fullmatch(text)
    plausible = (
        owner_repo is not None
        and text.split("/")[1] not in {".", ".."}
        and not text.lower().endswith(".git")
    )
    if plausible:
        assert isinstance(result, IssueEvent)
        assert result.repo_full_name == text.lower()
    else:
        assert isinstance(result, PayloadError)


def test_some_blns_repo_names_are_plausible() -> None:
    # Keeps the test above exercising both outcomes: "1/2" is a legal owner/repo.
    assert "1/2" in BLNS
    event = parse_delivery("issues", DELIVERY_ID, _with(("repository", "full_name"), "1/2"))
    assert isinstance(event, IssueEvent)
    assert event.repo_full_name == "1/2"


@pytest.mark.parametrize("text", BLNS, ids=BLNS_IDS)
def test_blns_in_headers_and_action_only_raise_payload_error(text: str) -> None:
    for event, delivery_id, body in (
        (text, DELIVERY_ID, OPENED),
        ("issues", text, OPENED),
        ("ping", text, OPENED),
        ("issues", DELIVERY_ID, _with(("action",), text)),
        ("issues", DELIVERY_ID, _with(("issue", "state"), text)),
        ("issues", DELIVERY_ID, _with(("issue", "updated_at"), text)),
        ("ping", DELIVERY_ID, encode({"zen": text, "hook_id": 1})),
    ):
        result = parse_or_refuse(event, delivery_id, body)
        assert result is None or isinstance(result, (IssueEvent, PingEvent, PayloadError))


@pytest.mark.parametrize("text", BLNS, ids=BLNS_IDS)
def test_blns_as_signature_header_only_raises_signature_error(text: str) -> None:
    with pytest.raises(SignatureError):
        verify_signature(SECRET, OPENED, text)
