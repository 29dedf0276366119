"""Session tokens and the tokens forms carry, without a database: their shape and entropy, that
logs lose them, that each form token is bound to one cookie and one purpose; where sign-in may
lead; and how a kept page gets its account."""

from __future__ import annotations

import pytest

from issuesight.accounts import sessions
from issuesight.core.text import REDACTED, scrub
from issuesight.web.account_routes import safe_next
from issuesight.web.templating import ACCOUNT_SLOT, CSRF_SLOT, fill_for_anonymous, for_account


def test_session_tokens_are_opaque_high_entropy_and_scrubbed() -> None:
    minted = {sessions.mint_token() for _ in range(200)}
    assert len(minted) == 200
    for token in minted:
        assert sessions.well_formed(token)
        assert len(token) == len("issn_") + 43  # 256 random bits
        assert sessions.hash_token(token) != token
        assert scrub(f"cookie was {token}!", []) == f"cookie was {REDACTED}!"
    for bad in (None, "", "issn_short", "issn_" + "a" * 42 + "!", "isk_0123456789ab_" + "a" * 43):
        assert not sessions.well_formed(bad)


def test_form_tokens_are_bound_to_their_cookie_and_purpose() -> None:
    one, two = sessions.mint_token(), sessions.mint_token()
    token = sessions.csrf_token(one)
    assert sessions.derived_matches(one, "csrf", token)
    assert not sessions.derived_matches(two, "csrf", token)  # another browser's
    assert not sessions.derived_matches(one, "signin", token)  # another form's
    assert not sessions.derived_matches(one, "csrf", "")
    assert not sessions.derived_matches(one, "csrf", None)
    assert not sessions.derived_matches(one, "csrf", token[:-1])
    assert token != sessions.hash_token(one)  # the stored hash does not give the form token
    assert one not in token


@pytest.mark.parametrize(
    ("wanted", "goes_to"),
    [
        ("/submit?issue=a/b%231", "/submit?issue=a/b%231"),
        ("/tutorials/123", "/tutorials/123"),
        (None, "/me"),
        ("", "/me"),
        ("https://evil.example/", "/me"),
        ("//evil.example/x", "/me"),
        ("/\\evil.example", "/me"),
        ("javascript:alert(1)", "/me"),
        ("/ok\r\nSet-Cookie: x=1", "/me"),
        ("/signout", "/me"),
        ("/signin?next=/signin", "/me"),
        ("/" + "a" * 2000, "/me"),
    ],
)
def test_sign_in_leads_only_to_this_site(wanted: str | None, goes_to: str) -> None:
    assert safe_next(wanted) == goes_to


class _Account:
    def __init__(self, signed_in: bool, open_mode: bool, email: str = "", csrf: str = "") -> None:
        self.signed_in = signed_in
        self.open_mode = open_mode
        self.name = email
        self.csrf = csrf or None
        self.session = object() if signed_in else None
        self.principal = None


def test_a_kept_page_gets_each_account_in_its_slots() -> None:
    marked = b"<nav>" + ACCOUNT_SLOT + b"</nav><form>" + CSRF_SLOT + b"</form><p>end</p>"
    keys_mode, keys_slots = fill_for_anonymous(marked, open_mode=False)
    open_mode, _ = fill_for_anonymous(marked, open_mode=True)
    assert b'href="/signin"' in keys_mode  # kept as an anonymous reader sees it
    assert b"My tutorials" in open_mode
    assert keys_mode.endswith(b"</form><p>end</p>")  # no token field for nobody
    alice, alice_tag = for_account(
        keys_mode, 'W/"abc"', keys_slots, _Account(True, False, "alice@example.com", "tok-a")
    )
    bob, bob_tag = for_account(
        keys_mode, 'W/"abc"', keys_slots, _Account(True, False, "bob@example.com", "tok-b")
    )
    assert b"alice@example.com" in alice
    assert b'<form><input type="hidden" name="csrf_token" value="tok-a"></form>' in alice
    assert b"tok-a" not in bob
    assert b"/signin" not in alice
    assert b"<!--issuesight:" not in keys_mode + open_mode + alice + bob
    assert alice.endswith(b"<p>end</p>")
    assert len({alice_tag, bob_tag, 'W/"abc"'}) == 3
    assert alice_tag.startswith('W/"abc-')
    assert alice_tag.endswith('"')
