"""Accounts without a database: key minting and checking, rolling-window arithmetic, keys
scrubbed from logs and prompts, keys refused in URLs, and the settings' mode-dependent
defaults."""

from __future__ import annotations

import ast
import io
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from issuesight.accounts import keys
from issuesight.accounts.principal import Principal, Requester
from issuesight.accounts.store import EMAIL_PATTERN, AccountError, normalize_email
from issuesight.accounts.windows import WINDOW, window_status
from issuesight.api.auth import _carries_a_key
from issuesight.core.logs import JsonFormatter, ScrubbingTextFormatter
from issuesight.core.settings import Settings
from issuesight.core.text import REDACTED, scrub
from issuesight.db.models import Role
from tests.paths import ROOT

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_minted_keys_are_long_random_and_carry_a_visible_prefix() -> None:
    minted = [keys.mint() for _ in range(200)]
    assert len({m.key for m in minted}) == 200
    assert len({m.prefix for m in minted}) == 200
    for m in minted[:20]:
        assert m.key.startswith(m.prefix + "_")
        assert keys.prefix_of(m.key) == m.prefix
        assert keys.PREFIX_SHAPE.match(m.prefix)
        assert len(m.key) == len("isk_") + 12 + 1 + 43  # 256 random bits after the prefix
        assert m.key_hash == keys.hash_key(m.key) != m.key
        assert m.key not in repr(m)


@pytest.mark.parametrize(
    "garbled",
    [
        "",
        "isk_",
        "isk_0123456789ab",
        "isk_0123456789ab_short",
        "isk_0123456789AB_" + "a" * 43,  # the prefix is lower-case hex
        "ghp_" + "a" * 36,
        "isk_0123456789ab_" + "a" * 42 + "!",
        " isk_0123456789ab_" + "a" * 43,
    ],
)
def test_anything_not_shaped_like_a_key_has_no_prefix(garbled: str) -> None:
    assert keys.prefix_of(garbled) is None


def test_keys_match_only_their_own_hash() -> None:
    one, two = keys.mint(), keys.mint()
    assert keys.matches(one.key, one.key_hash)
    assert not keys.matches(one.key, two.key_hash)
    assert not keys.matches(one.key, None)
    assert not keys.matches(one.key[:-1] + ("A" if one.key[-1] != "A" else "B"), one.key_hash)


def test_a_window_counts_the_last_24_hours_and_says_when_room_comes_back() -> None:
    entries = [(T0, 1), (T0 + timedelta(hours=1), 1), (T0 + timedelta(hours=2), 1)]
    status = window_status(entries, 3)
    assert (status.used, status.remaining, status.spent) == (3, 0, True)
    assert status.next_free_at == T0 + WINDOW  # the oldest unit ages out first
    assert status.resets_at == T0 + timedelta(hours=2) + WINDOW
    assert status.retry_after(T0 + timedelta(hours=23, minutes=59, seconds=30)) == 30

    lowered = window_status(entries, 1)  # an admin lowered the quota below what was used
    assert lowered.next_free_at == T0 + timedelta(hours=2) + WINDOW

    room = window_status(entries[:1], 3)
    assert (room.remaining, room.spent, room.next_free_at) == (2, False, None)
    assert room.retry_after(T0) == 1

    unlimited = window_status(entries, None)
    assert (unlimited.limit, unlimited.remaining, unlimited.spent) == (None, None, False)

    never = window_status([], 0)
    assert never.spent
    assert never.next_free_at is None
    assert never.retry_after(T0) == 24 * 3600


def test_the_token_budget_frees_up_when_enough_tokens_age_out() -> None:
    entries = [(T0, 600), (T0 + timedelta(hours=1), 300), (T0 + timedelta(hours=2), 300)]
    status = window_status(entries, 1000)
    assert status.spent  # 1200 of 1000
    # 201 tokens must age out before there is room for one more: the first entry's 600.
    assert status.next_free_at == T0 + WINDOW


def test_requesters_carry_ids_not_personal_data() -> None:
    principal = Principal(uuid_of("a"), "ada@example.com", Role.MEMBER, "isk_0123456789ab")
    requester = Requester.user(principal, default_limit=10)
    assert requester.daily_limit == 10
    assert requester.tag == str(principal.user_id)
    assert "ada" not in requester.tag
    own = Principal(uuid_of("b"), "bo@example.com", Role.MEMBER, daily_generations=3)
    assert Requester.user(own, default_limit=10).daily_limit == 3


def uuid_of(seed: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, seed)


def test_keys_are_scrubbed_from_text_logs_and_prompts() -> None:
    key = keys.mint().key
    assert (
        scrub(f"Authorization: Bearer {key} sent", []) == f"Authorization: Bearer {REDACTED} sent"
    )
    assert "risk_score" in scrub("risk_score isk_ is not a key", [])

    record = logging.LogRecord("t", logging.INFO, __file__, 1, "got %s", (key,), None)
    record.header = {"authorization": f"Bearer {key}"}
    line = JsonFormatter([]).format(record)
    assert key not in line
    assert key[:16] not in line  # the whole key goes, prefix included
    assert json.loads(line)["message"] == f"got {REDACTED}"
    text = ScrubbingTextFormatter([]).format(record)
    assert key not in text

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter([]))
    logger = logging.getLogger("test.keys.scrubbed")
    logger.addHandler(handler)
    try:
        logger.warning("key %r in a repr", key)
    finally:
        logger.removeHandler(handler)
    assert key not in stream.getvalue()


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        ("access_token=abc", True),
        ("API_KEY=abc", True),
        ("apikey=x", True),
        (f"q={keys.mint().key}", True),
        ("q=isk_0123456789ab", True),  # a prefix alone still marks a key pasted in a URL
        ("q=%69sk_0123456789ab_x", True),  # percent-encoded
        ("q=risk_score&status=COMPLETED", False),
        ("limit=20&offset=40", False),
        ("", False),
    ],
)
def test_credentials_in_a_query_string_are_recognized(query: str, refused: bool) -> None:
    assert _carries_a_key(query) is refused


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_accounts_settings_depend_on_the_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AUTH_MODE", "USER_DAILY_GENERATIONS", "WRITE_RATE_PER_MINUTE", "PUBLIC_READS"):
        monkeypatch.delenv(name, raising=False)
    unset = _settings()
    assert unset.auth_mode is None
    assert unset.effective_auth_mode == "keys"  # nobody configured it: not left open
    assert unset.public_reads is True
    assert unset.daily_generation_limit == 10
    assert unset.write_rate_limit == 60
    assert unset.llm_daily_token_budget == 0

    open_mode = _settings(auth_mode="open")
    assert open_mode.daily_generation_limit is None  # no quota unless configured
    assert open_mode.write_rate_limit == 0
    configured = _settings(auth_mode="open", user_daily_generations=3, write_rate_per_minute=5)
    assert configured.daily_generation_limit == 3
    assert configured.write_rate_limit == 5

    monkeypatch.setenv("AUTH_MODE", "keys")
    monkeypatch.setenv("USER_DAILY_GENERATIONS", "0")
    monkeypatch.setenv("PUBLIC_READS", "false")
    monkeypatch.setenv("ISSUESIGHT_API_KEY", "isk_0123456789ab_" + "k" * 43)
    from_env = _settings()
    assert from_env.effective_auth_mode == "keys"
    assert from_env.daily_generation_limit == 0
    assert from_env.public_reads is False
    assert "isk_0123456789ab_" + "k" * 43 in from_env.secret_values()
    assert "k" * 43 not in repr(from_env)


@pytest.mark.parametrize(
    ("name", "value"),
    [("AUTH_MODE", "none"), ("USER_DAILY_GENERATIONS", "-1"), ("WRITE_BURST", "0")],
)
def test_bad_accounts_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        _settings()


def test_a_users_daily_limit_is_theirs_else_the_settings() -> None:
    """Principal.daily_limit decides it for the API, the pages and submissions: a user's own
    number (0 included: no new generations) wins over USER_DAILY_GENERATIONS; None falls back
    to it; both None is unlimited."""
    who = uuid.uuid4()
    own = Principal(who, "a@example.com", Role.MEMBER, daily_generations=0)
    inherits = Principal(who, "b@example.com", Role.MEMBER)
    assert own.daily_limit(10) == 0
    assert inherits.daily_limit(10) == 10
    assert inherits.daily_limit(None) is None
    assert Requester.user(own, default_limit=10).daily_limit == 0
    assert Requester.user(inherits, default_limit=7).daily_limit == 7


def test_the_daily_limit_is_decided_in_one_place() -> None:
    """No module but accounts/principal.py picks between a user's own number and the setting."""
    home = ROOT / "issuesight" / "accounts" / "principal.py"
    offenders = []
    for path in sorted((ROOT / "issuesight").rglob("*.py")):
        if path == home:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            # `x.daily_generations if x.daily_generations is not None else …`, or an `if`.
            if not isinstance(node, ast.IfExp | ast.If):
                continue
            test = node.test
            if (
                isinstance(test, ast.Compare)
                and isinstance(test.left, ast.Attribute)
                and test.left.attr == "daily_generations"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


_EMAIL_PARTS = st.text("aZ9._-@/ \u0130\u00a0\x1c\ufeff", max_size=6)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.builds(
        "{}{}@{}.{}{}".format,
        st.sampled_from(["", " ", "\x1c", "\ufeff"]),
        _EMAIL_PARTS | st.text("a", min_size=63, max_size=66),
        _EMAIL_PARTS,
        _EMAIL_PARTS | st.text("b", min_size=62, max_size=65),
        st.sampled_from(["", "\n", "\u2028", "\ufeff"]),
    )
    | _EMAIL_PARTS
)
def test_email_pattern_matches_exactly_what_is_accepted(text: str) -> None:
    """The API documents EMAIL_PATTERN for a new user's email: it says what normalize_email
    takes, judged by the JSON Schema validator schemathesis uses."""
    documented = jsonschema_rs.validator_for({"type": "string", "pattern": EMAIL_PATTERN})
    try:
        normalize_email(text)
        accepted = True
    except AccountError:
        accepted = False
    assert documented.is_valid(text) == accepted, repr(text)
