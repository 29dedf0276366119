"""Users, keys, unlocks and the quota ledger in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col

from issuesight.accounts import keys
from issuesight.accounts.principal import Requester
from issuesight.accounts.store import (
    CLI,
    LOCAL_USER_EMAIL,
    AccountError,
    AccountStore,
    Actor,
    LastAdmin,
    QuotaExceeded,
    UnknownUser,
    UserExists,
)
from issuesight.db.engine import make_engine, session_scope
from issuesight.db.models import ApiKey, Role
from issuesight.db.tutorials import TutorialStore
from issuesight.domain.refs import make_ref


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(database_url: str, clock: Clock) -> Iterator[AccountStore]:
    engine = make_engine(database_url)
    yield AccountStore(engine, clock=clock)
    engine.dispose()


def test_users_are_created_once_with_a_role(accounts: AccountStore) -> None:
    ada = accounts.create_user("  Ada@Example.com ", Role.ADMIN, actor=CLI)
    assert (ada.email, ada.role) == ("ada@example.com", Role.ADMIN)
    with pytest.raises(UserExists, match="already exists"):
        accounts.create_user("ada@example.COM", actor=CLI)
    for bad in ("", "no-at-sign", "a@b", "two@@example.com", "sp ace@example.com", "a/b@x.org"):
        with pytest.raises(AccountError, match="not a usable email"):
            accounts.create_user(bad, actor=CLI)
    bo = accounts.create_user("bo@example.com", actor=CLI)
    assert bo.role == Role.MEMBER
    assert accounts.find_user("ADA@example.com") == ada
    assert accounts.find_user(str(bo.id)) == bo
    assert accounts.find_user("nobody@example.com") is None
    assert [u.email for u in accounts.list_users()] == ["ada@example.com", "bo@example.com"]


def test_a_key_authenticates_until_it_is_revoked(accounts: AccountStore, clock: Clock) -> None:
    user = accounts.create_user("cy@example.com", actor=CLI)
    view, key = accounts.create_key(user.id, "laptop", actor=CLI)
    principal = accounts.authenticate(key)
    assert principal is not None
    assert (principal.user_id, principal.role, principal.key_prefix) == (
        user.id,
        Role.MEMBER,
        view.prefix,
    )
    with accounts.engine.connect() as connection:
        stored = connection.execute(
            sa.select(col(ApiKey.key_hash), col(ApiKey.prefix), col(ApiKey.name)).where(
                col(ApiKey.prefix) == view.prefix
            )
        ).one()
    assert key not in tuple(stored)
    assert stored.key_hash == keys.hash_key(key)

    assert accounts.authenticate(keys.mint().key) is None  # well formed, unknown
    assert accounts.authenticate(view.prefix + "_" + "x" * 43) is None  # known prefix, wrong secret
    assert accounts.authenticate("not a key") is None

    # last_used_at is written at most once a minute: authentication stays a read.
    first_use = accounts.find_key(view.prefix)
    assert first_use is not None
    assert first_use.last_used_at == clock.now
    clock.now += timedelta(seconds=30)
    accounts.authenticate(key)
    found = accounts.find_key(view.prefix)
    assert found is not None
    assert found.last_used_at == first_use.last_used_at

    assert accounts.revoke_key(view.prefix, actor=CLI, owner=uuid.uuid4()) is None  # not theirs
    revoked = accounts.revoke_key(view.prefix, actor=CLI)
    assert revoked is not None
    assert revoked.revoked_at is not None
    assert accounts.authenticate(key) is None
    assert accounts.revoke_key("isk_000000000000", actor=CLI) is None


def test_a_deleted_user_leaves_a_tombstone_without_personal_data(
    accounts: AccountStore, database_url: str
) -> None:
    admin = accounts.create_user("root@example.com", Role.ADMIN, actor=CLI)
    user = accounts.create_user("dee@example.com", actor=CLI)
    _, key = accounts.create_key(user.id, "", actor=CLI)
    store = TutorialStore(accounts.engine)
    ref = make_ref("octo-org", f"tomb-{uuid.uuid4().hex[:6]}", 1)
    store.register_submission(ref)
    with session_scope(accounts.engine) as session:
        accounts.unlock(session, user.id, ref.tutorial_id, original=True)

    accounts.delete_user(user.id, actor=Actor("user", admin.id))
    assert accounts.authenticate(key) is None
    assert accounts.find_user("dee@example.com") is None
    assert accounts.find_user(str(user.id)) is None
    tomb = accounts.find_user(str(user.id), deleted_too=True)
    assert tomb is not None
    assert "dee" not in tomb.email
    assert accounts.unlocks(user.id) == ([], 0)
    assert store.get_tutorial(ref.tutorial_id) is not None  # the tutorial stays
    events, _ = accounts.audit_events(action="user.delete")
    assert [(e.actor_id, e.target) for e in events] == [(admin.id, str(user.id))]
    with pytest.raises(UnknownUser):
        accounts.create_key(user.id, "", actor=CLI)
    # The email can be used again, by a new account.
    assert accounts.create_user("dee@example.com", actor=CLI).id != user.id


def test_the_last_admin_cannot_be_removed(accounts: AccountStore) -> None:
    accounts.ensure_local_user()  # open mode's local admin does not count
    only = accounts.create_user("only@example.com", Role.ADMIN, actor=CLI)
    with pytest.raises(LastAdmin):
        accounts.delete_user(only.id, actor=CLI)
    with pytest.raises(LastAdmin):
        accounts.update_user(only.id, role=Role.MEMBER, actor=CLI)
    second = accounts.create_user("second@example.com", Role.ADMIN, actor=CLI)
    accounts.update_user(only.id, role=Role.MEMBER, actor=CLI)
    with pytest.raises(LastAdmin):
        accounts.delete_user(second.id, actor=CLI)


def test_open_modes_local_user_is_one_admin(accounts: AccountStore) -> None:
    first = accounts.ensure_local_user()
    again = accounts.ensure_local_user()
    assert first == again
    assert (first.email, first.role, first.key_prefix) == (LOCAL_USER_EMAIL, Role.ADMIN, None)


def test_charges_age_out_of_the_rolling_window(accounts: AccountStore, clock: Clock) -> None:
    user = accounts.create_user("eve@example.com", actor=CLI)
    requester = Requester("user", user.id, daily_limit=2)

    def charge() -> None:
        with session_scope(accounts.engine) as session:
            assert accounts.lock_requester(session, user.id)
            accounts.charge(session, requester)
            accounts.record_in(session, Actor("user", user.id), "tutorial.generate", "x", cost=1)

    charge()
    clock.now += timedelta(hours=1)
    charge()
    with pytest.raises(QuotaExceeded) as refused:
        charge()
    assert refused.value.status.next_free_at == clock.now - timedelta(hours=1) + timedelta(hours=24)
    assert "2 of 2" in str(refused.value)
    quota = accounts.quota(user.id, 2)
    assert (quota.used, quota.remaining) == (2, 0)

    clock.now += timedelta(hours=23)  # the first charge is exactly 24 h old: out of the window
    charge()
    assert accounts.quota(user.id, 2).used == 2
    assert accounts.quota(user.id, None).remaining is None  # unlimited

    with session_scope(accounts.engine) as session:
        assert not accounts.lock_requester(session, uuid.uuid4())  # no such user


def test_refunds_give_the_unit_back(accounts: AccountStore) -> None:
    user = accounts.create_user("fay@example.com", actor=CLI)
    with session_scope(accounts.engine) as session:
        event = accounts.record_in(
            session, Actor("user", user.id), "tutorial.generate", "x", cost=1
        )
    assert accounts.quota(user.id, 1).spent
    accounts.refund(event, "start failed")
    assert not accounts.quota(user.id, 1).spent
    events, total = accounts.audit_events(actor_id=user.id)
    assert total == 1
    assert events[0].cost == 0
    assert events[0].detail == {"refunded": "start failed"}


def test_audit_events_are_filtered_and_name_their_actor(accounts: AccountStore) -> None:
    admin = accounts.create_user("gus@example.com", Role.ADMIN, actor=CLI)
    accounts.record(Actor("user", admin.id), "project.track", "octo/a", detail={"labels": ["x"]})
    accounts.record(Actor("sync"), "tutorial.refresh", "octo/a#1")
    events, total = accounts.audit_events()
    assert total == 3  # with the user's creation by the CLI
    by_action = {e.action: e for e in events}
    assert by_action["project.track"].actor_email == "gus@example.com"
    assert by_action["tutorial.refresh"].actor == "sync"
    assert by_action["user.create"].actor == "cli"
    assert accounts.audit_events(target="octo/a")[1] == 1
    page, _ = accounts.audit_events(limit=1, offset=1)
    assert len(page) == 1


def test_the_keys_table_holds_no_key(accounts: AccountStore) -> None:
    user = accounts.create_user("hal@example.com", actor=CLI)
    made = [accounts.create_key(user.id, f"k{i}", actor=CLI)[1] for i in range(3)]
    table = ApiKey.__table__  # type: ignore[attr-defined]
    with accounts.engine.connect() as connection:
        dump = " ".join(str(v) for row in connection.execute(sa.select(table)) for v in row)
    for key in made:
        assert key not in dump
        assert key[17:] not in dump  # not even the secret part
