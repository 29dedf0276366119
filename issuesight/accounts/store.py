"""Users, API keys, unlocks, the audit trail and the quota, in the database. Synchronous like
the other stores: the API calls it from its thread pool, the CLI directly.

Writes that belong to a submission (`lock_requester`, `charge`, `unlock`, `record_in`) take
the caller's session, so a submission refused for its quota rolls back whole.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from issuesight.accounts import budget, keys
from issuesight.accounts.principal import Principal, Requester
from issuesight.accounts.sessions import end_sessions_of_key, end_sessions_of_user
from issuesight.accounts.windows import WINDOW, WindowStatus, iso, window_status
from issuesight.db.engine import session_scope, upsert
from issuesight.db.models import (
    ApiKey,
    AuditEvent,
    GitHubIssue,
    Role,
    Tutorial,
    TutorialContent,
    User,
    UserIdentity,
)
from issuesight.db.types import utcnow
from issuesight.domain.refs import SPACE_CLASS

# Deliberately plain: one @, no spaces, no slash (an email is also a path segment in the API).
_EMAIL = re.compile(r"^[^@\s/]{1,64}@[^@\s/]{1,253}\.[^@\s/.]{1,63}$")
# The same rule as a JSON Schema pattern (the API documents it): Python's \s spelled out, and
# the whitespace normalize_email strips allowed around the address.
_SP = f"[{SPACE_CLASS}]"
_PART = f"[^@{SPACE_CLASS}/]"
EMAIL_PATTERN = rf"^{_SP}*{_PART}{{1,64}}@{_PART}{{1,253}}\.[^@{SPACE_CLASS}/.]{{1,63}}{_SP}*$"
LOCAL_USER_EMAIL = "local@issuesight.localhost"
# A key's last use is written at most this often: authentication stays a read.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class AccountError(Exception):
    """An account operation that cannot be done; the message says why."""


class UserExists(AccountError):
    pass


class UnknownUser(AccountError, LookupError):
    pass


class LastAdmin(AccountError):
    pass


class SignInRefused(AccountError):
    """A sign-in through another provider (GitHub) that finds no account it may open.
    `reason`: `no_verified_email`, `not_invited` or `linked_elsewhere`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ExternalAccount:
    """Who another provider says is signing in. `provider_id` is the provider's stable id
    (GitHub's numeric user id: logins can be renamed and reused); `verified_emails` are the
    addresses the provider verified, primary first."""

    provider: str
    provider_id: str
    login: str | None
    verified_emails: tuple[str, ...]


class QuotaExceeded(AccountError):
    def __init__(self, status: WindowStatus) -> None:
        self.status = status
        if status.limit == 0:
            message = "This account may not start new generations (its daily quota is 0)."
        else:
            when = iso(status.next_free_at) or "later"
            message = (
                f"Daily generation quota spent ({status.used} of {status.limit} in the last "
                f"24 hours); the next one is available at {when}. Asking for a tutorial that "
                "exists or is running stays free."
            )
        super().__init__(message)


class LLMBudgetSpent(AccountError):
    def __init__(self, status: WindowStatus) -> None:
        self.status = status
        when = iso(status.next_free_at) or "later"
        super().__init__(
            f"The service's LLM token budget for the last 24 hours is spent ({status.used} of "
            f"{status.limit} tokens); new generations resume at {when}. Tutorials that exist "
            "or are running can still be read and unlocked."
        )


@dataclass(frozen=True)
class Actor:
    """Who did a write, for the audit trail: a user, or the system (cli, sync, webhook)."""

    kind: str
    user_id: uuid.UUID | None = None

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls("user", principal.user_id)


CLI = Actor("cli")


@dataclass(frozen=True)
class UserView:
    id: uuid.UUID
    email: str
    role: Role
    daily_generations: int | None
    created_at: datetime
    last_requested_at: datetime | None
    deleted_at: datetime | None


@dataclass(frozen=True)
class KeyView:
    prefix: str
    name: str
    user_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class UnlockView:
    tutorial_id: uuid.UUID
    issue_key: str
    title: str | None
    status: str
    is_original_requester: bool
    unlocked_at: datetime


@dataclass(frozen=True)
class AuditView:
    id: uuid.UUID
    at: datetime
    actor: str
    actor_id: uuid.UUID | None
    actor_email: str | None
    action: str
    target: str
    cost: int
    detail: dict[str, Any] | None


def _authenticate_statement() -> Any:
    """A key's row with its user's, by prefix: the one read every authenticated request makes."""
    return (
        sa.select(
            col(ApiKey.key_hash),
            col(ApiKey.revoked_at),
            col(ApiKey.last_used_at),
            col(User.id).label("user_id"),
            col(User.email),
            col(User.role),
            col(User.daily_generations),
            col(User.deleted_at),
        )
        .join(User, col(User.id) == col(ApiKey.user_id))
        .where(col(ApiKey.prefix) == sa.bindparam("prefix"))
    )


_AUTHENTICATE = _authenticate_statement()


def normalize_email(email: str) -> str:
    # Checked before lower-casing, which lengthens a few letters (U+0130 becomes two code
    # points): the address is judged as it was sent, as EMAIL_PATTERN describes it.
    stripped = email.strip()
    if not _EMAIL.match(stripped):
        raise AccountError(f"not a usable email address: {email[:100]!r}")
    return stripped.lower()


class AccountStore:
    def __init__(
        self,
        engine: Engine,
        *,
        reader: Engine | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`reader` (engine.make_reader_engine) serves authentication's single read."""
        self.engine = engine
        self._reader = reader or engine.execution_options(isolation_level="AUTOCOMMIT")
        self.now = clock

    # -- users -----------------------------------------------------------------------------

    def create_user(self, email: str, role: Role = Role.MEMBER, *, actor: Actor) -> UserView:
        address = normalize_email(email)
        try:
            with session_scope(self.engine) as session:
                user = User(email=address, role=role, created_at=self.now())
                session.add(user)
                session.flush()
                self.record_in(session, actor, "user.create", address, detail={"role": role})
                return _user_view(user)
        except IntegrityError as exc:
            raise UserExists(f"a user {address} already exists") from exc

    def find_user(self, ref: str, *, deleted_too: bool = False) -> UserView | None:
        """By id or by email; deleted users only with `deleted_too` (by id: their email is
        gone)."""
        with Session(self.engine) as session:
            user = self._find(session, ref)
            if user is None or (user.deleted_at is not None and not deleted_too):
                return None
            return _user_view(user)

    def list_users(self) -> list[UserView]:
        with Session(self.engine) as session:
            users = session.exec(
                select(User).where(col(User.deleted_at).is_(None)).order_by(col(User.email))
            ).all()
            return [_user_view(u) for u in users]

    def update_user(
        self,
        user_id: uuid.UUID,
        *,
        actor: Actor,
        role: Role | None = None,
        daily_generations: int | None = None,
        clear_daily_generations: bool = False,
    ) -> UserView:
        with session_scope(self.engine) as session:
            user = self._live(session, user_id)
            changes: dict[str, Any] = {}
            if role is not None and role != user.role:
                if user.role == Role.ADMIN:
                    self._keep_an_admin(session, user.id)
                user.role = role
                changes["role"] = role.value
            if clear_daily_generations or daily_generations is not None:
                user.daily_generations = None if clear_daily_generations else daily_generations
                changes["daily_generations"] = user.daily_generations
            session.add(user)
            if changes:
                self.record_in(session, actor, "user.update", user.email, detail=changes)
            return _user_view(user)

    def delete_user(self, user_id: uuid.UUID, *, actor: Actor) -> None:
        """Keys revoked, identities, unlocks and signed-in sessions dropped, the email
        replaced: what stays is a tombstone the audit trail can point at. The tutorials the
        user asked for stay public, and a generation of theirs still running completes
        (workflows know only the id)."""
        with session_scope(self.engine) as session:
            user = self._live(session, user_id)
            if user.role == Role.ADMIN:
                self._keep_an_admin(session, user.id)
            now = self.now()
            session.execute(
                sa.update(ApiKey)
                .where(col(ApiKey.user_id) == user.id, col(ApiKey.revoked_at).is_(None))
                .values(revoked_at=now)
            )
            session.execute(sa.delete(UserIdentity).where(col(UserIdentity.user_id) == user.id))
            session.execute(sa.delete(Tutorial).where(col(Tutorial.user_id) == user.id))
            end_sessions_of_user(session, user.id)
            user.email = f"deleted-{user.id}@users.invalid"
            user.display_name = None
            user.avatar_url = None
            user.deleted_at = now
            session.add(user)
            # The audit target is the id: the email is what deletion removes.
            self.record_in(session, actor, "user.delete", str(user.id), detail=None)

    def ensure_local_user(self) -> Principal:
        """Open mode's one local user (an admin: whoever reaches a loopback-only API owns it)."""
        with session_scope(self.engine) as session:
            upsert(
                session,
                User.__table__,  # type: ignore[attr-defined]
                {
                    "id": uuid.uuid4(),
                    "email": LOCAL_USER_EMAIL,
                    "role": Role.ADMIN.value,
                    "created_at": self.now(),
                },
                conflict=["email"],
            )
            user = session.exec(select(User).where(User.email == LOCAL_USER_EMAIL)).one()
            return _principal(user, None)

    def sign_in_with_identity(
        self, account: ExternalAccount, *, create: bool
    ) -> tuple[Principal, bool]:
        """The user an external identity opens, and whether they were just made.

        An identity linked before opens its user. Otherwise the identity is linked to the user
        whose email is one of the account's verified ones (an admin's invitation is a user made
        with that email) unless that user already has another identity of this provider; with
        `create` (open sign-up) a new member is made from the primary verified email. Only
        verified addresses count: an unverified one proves nothing about who signs in."""
        for attempt in (1, 2):
            try:
                return self._sign_in_with_identity(account, create=create)
            except IntegrityError:
                # Two first sign-ins at once: the other made the identity or the user; read it.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _sign_in_with_identity(
        self, account: ExternalAccount, *, create: bool
    ) -> tuple[Principal, bool]:
        with session_scope(self.engine) as session:
            linked = session.exec(
                select(User)
                .join(UserIdentity, col(UserIdentity.user_id) == col(User.id))
                .where(
                    UserIdentity.provider == account.provider,
                    UserIdentity.provider_id == account.provider_id,
                    col(User.deleted_at).is_(None),
                )
            ).first()
            if linked is not None:
                return _principal(linked, None), False
            emails = _usable(account.verified_emails)
            if not emails:
                raise SignInRefused(
                    "no_verified_email",
                    f"Your {account.provider} account has no verified email address, so "
                    "IssueSight cannot tell which account is yours.",
                )
            candidates = session.exec(
                select(User).where(col(User.email).in_(emails), col(User.deleted_at).is_(None))
            ).all()
            by_email = {u.email: u for u in candidates}
            user = next((by_email[e] for e in emails if e in by_email), None)
            created = False
            if user is not None:
                other = session.exec(
                    select(UserIdentity).where(
                        UserIdentity.user_id == user.id,
                        UserIdentity.provider == account.provider,
                    )
                ).first()
                if other is not None:
                    raise SignInRefused(
                        "linked_elsewhere",
                        f"The IssueSight account for {user.email} signs in with another "
                        f"{account.provider} account.",
                    )
            elif create:
                user = User(email=emails[0], role=Role.MEMBER, created_at=self.now())
                session.add(user)
                session.flush()
                created = True
                self.record_in(
                    session,
                    Actor("user", user.id),
                    "user.create",
                    user.email,
                    detail={"role": Role.MEMBER, "via": account.provider},
                )
            else:
                raise SignInRefused(
                    "not_invited",
                    f"There is no IssueSight account for {', '.join(emails)}. This IssueSight "
                    "lets in the people an admin invited: ask an admin to make an account for "
                    "one of these addresses, then sign in again.",
                )
            if account.login and not user.display_name:
                user.display_name = account.login[:200]
                session.add(user)
            session.add(
                UserIdentity(
                    user_id=user.id,
                    provider=account.provider,
                    provider_id=account.provider_id,
                )
            )
            self.record_in(
                session,
                Actor("user", user.id),
                "identity.link",
                user.email,
                detail={"provider": account.provider, "provider_id": account.provider_id},
            )
            session.flush()
            return _principal(user, None), created

    # -- keys ------------------------------------------------------------------------------

    def create_key(self, user_id: uuid.UUID, name: str, *, actor: Actor) -> tuple[KeyView, str]:
        """A new key for a user; the key itself is returned here and never again."""
        with session_scope(self.engine) as session:
            user = self._live(session, user_id)
            minted = keys.mint()
            row = ApiKey(
                user_id=user.id,
                prefix=minted.prefix,
                key_hash=minted.key_hash,
                name=name.strip()[:100],
                created_at=self.now(),
            )
            session.add(row)
            session.flush()
            self.record_in(
                session, actor, "key.create", minted.prefix, detail={"user_id": str(user.id)}
            )
            return _key_view(row), minted.key

    def list_keys(self, user_id: uuid.UUID) -> list[KeyView]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(ApiKey).where(ApiKey.user_id == user_id).order_by(col(ApiKey.created_at))
            ).all()
            return [_key_view(r) for r in rows]

    def find_key(self, prefix: str) -> KeyView | None:
        with Session(self.engine) as session:
            row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
            return None if row is None else _key_view(row)

    def revoke_key(
        self, prefix: str, *, actor: Actor, owner: uuid.UUID | None = None
    ) -> KeyView | None:
        """None when there is no such key (or, with `owner`, when it is someone else's)."""
        with session_scope(self.engine) as session:
            row = session.exec(select(ApiKey).where(ApiKey.prefix == prefix)).first()
            if row is None or (owner is not None and row.user_id != owner):
                return None
            if row.revoked_at is None:
                row.revoked_at = self.now()
                session.add(row)
                self.record_in(
                    session, actor, "key.revoke", prefix, detail={"user_id": str(row.user_id)}
                )
            # The pages' sessions this key was exchanged for end with it.
            end_sessions_of_key(session, prefix)
            return _key_view(row)

    def authenticate(self, key: str) -> Principal | None:
        """The caller a key belongs to; None for a garbled, unknown or revoked key, or one whose
        user was deleted. The hash is compared in constant time."""
        prefix = keys.prefix_of(key)
        if prefix is None:
            keys.matches(key, None)  # the same work as for a well-formed key
            return None
        # One Core statement on an autocommit connection: every authenticated request runs it.
        with self._reader.connect() as connection:
            row = connection.execute(_AUTHENTICATE, {"prefix": prefix}).first()
        if not keys.matches(key, row.key_hash if row is not None else None):
            return None
        assert row is not None
        if row.revoked_at is not None or row.deleted_at is not None:
            return None
        principal = Principal(
            user_id=row.user_id,
            email=row.email,
            role=Role(row.role),
            key_prefix=prefix,
            daily_generations=row.daily_generations,
        )
        last_used = row.last_used_at
        now = self.now()
        if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
            with session_scope(self.engine) as session:
                session.execute(
                    sa.update(ApiKey).where(col(ApiKey.prefix) == prefix).values(last_used_at=now)
                )
        return principal

    # -- quota, budget, unlocks ------------------------------------------------------------

    def quota(self, user_id: uuid.UUID, limit: int | None) -> WindowStatus:
        with Session(self.engine) as session:
            return self._quota(session, user_id, limit)

    def llm_budget(self, limit: int) -> WindowStatus:
        """The global LLM token budget (`limit` 0: unlimited)."""
        with Session(self.engine) as session:
            return budget.status(session, limit, self.now())

    def lock_requester(self, session: Session, user_id: uuid.UUID) -> bool:
        """Serializes a user's submissions (PostgreSQL: the user's row lock; SQLite: the write
        lock), so concurrent requests cannot all see the last unit of quota as free. Must be
        the transaction's first statement. False if the user no longer exists."""
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            sa.update(User)
            .where(col(User.id) == user_id, col(User.deleted_at).is_(None))
            .values(last_requested_at=col(User.last_requested_at))
        )
        return result.rowcount == 1

    def charge(self, session: Session, requester: Requester) -> None:
        """Raises QuotaExceeded when the requester's last 24 hours leave no generation."""
        assert requester.user_id is not None
        status = self._quota(session, requester.user_id, requester.daily_limit)
        if status.spent:
            raise QuotaExceeded(status)
        session.execute(
            sa.update(User)
            .where(col(User.id) == requester.user_id)
            .values(last_requested_at=self.now())
        )

    def check_llm_budget(self, session: Session, limit: int) -> None:
        if limit <= 0:
            return
        status = budget.status(session, limit, self.now())
        if status.spent:
            raise LLMBudgetSpent(status)

    def unlock(
        self, session: Session, user_id: uuid.UUID, tutorial_id: uuid.UUID, *, original: bool
    ) -> None:
        """Records that a user has a tutorial (the seeds' `tutorials` table); the one who
        asked for a generation is its original requester."""
        upsert(
            session,
            Tutorial.__table__,  # type: ignore[attr-defined]
            {
                "id": uuid.uuid4(),
                "user_id": user_id,
                "content_id": tutorial_id,
                "is_original_requester": original,
                "created_at": self.now(),
            },
            conflict=["user_id", "content_id"],
        )
        if original:
            session.execute(
                sa.update(Tutorial)
                .where(col(Tutorial.user_id) == user_id, col(Tutorial.content_id) == tutorial_id)
                .values(is_original_requester=True)
            )

    def unlocks(
        self, user_id: uuid.UUID, *, limit: int = 20, offset: int = 0
    ) -> tuple[list[UnlockView], int]:
        stmt = (
            sa.select(
                col(Tutorial.content_id),
                col(GitHubIssue.issue_key),
                col(TutorialContent.title),
                col(TutorialContent.status),
                col(Tutorial.is_original_requester),
                col(Tutorial.created_at),
            )
            .join(TutorialContent, col(TutorialContent.id) == col(Tutorial.content_id))
            .join(GitHubIssue, col(GitHubIssue.id) == col(TutorialContent.issue_id))
            .where(col(Tutorial.user_id) == user_id)
        )
        with Session(self.engine) as session:
            total = session.execute(
                sa.select(sa.func.count()).select_from(stmt.subquery())
            ).scalar_one()
            rows = session.execute(
                stmt.order_by(col(Tutorial.created_at).desc(), col(Tutorial.content_id))
                .limit(limit)
                .offset(offset)
            ).all()
        return [
            UnlockView(
                tutorial_id=r[0],
                issue_key=r[1],
                title=r[2],
                status=str(r[3]),
                is_original_requester=r[4],
                unlocked_at=r[5],
            )
            for r in rows
        ], int(total)

    # -- the audit trail -------------------------------------------------------------------

    def record(
        self, actor: Actor, action: str, target: str, *, detail: dict[str, Any] | None = None
    ) -> None:
        with session_scope(self.engine) as session:
            self.record_in(session, actor, action, target, detail=detail)

    def record_in(
        self,
        session: Session,
        actor: Actor,
        action: str,
        target: str,
        *,
        cost: int = 0,
        detail: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        event = AuditEvent(
            at=self.now(),
            actor_id=actor.user_id,
            actor=actor.kind,
            action=action,
            target=target[:400],
            cost=cost,
            detail=detail,
        )
        session.add(event)
        return event.id

    def refund(self, audit_id: uuid.UUID, reason: str) -> None:
        """A charged generation whose workflow never started costs nothing."""
        with session_scope(self.engine) as session:
            event = session.get(AuditEvent, audit_id)
            if event is not None and event.cost:
                event.cost = 0
                event.detail = {**(event.detail or {}), "refunded": reason}
                session.add(event)

    def audit_events(
        self,
        *,
        actor_id: uuid.UUID | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[AuditView], int]:
        stmt = select(AuditEvent, User.email).join(
            User, col(User.id) == col(AuditEvent.actor_id), isouter=True
        )
        if actor_id is not None:
            stmt = stmt.where(AuditEvent.actor_id == actor_id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        if target:
            stmt = stmt.where(AuditEvent.target == target)
        with Session(self.engine) as session:
            total = session.exec(select(sa.func.count()).select_from(stmt.subquery())).one()
            rows = session.exec(
                stmt.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id))
                .limit(limit)
                .offset(offset)
            ).all()
        return [
            AuditView(
                id=e.id,
                at=e.at,
                actor=e.actor,
                actor_id=e.actor_id,
                actor_email=email,
                action=e.action,
                target=e.target,
                cost=e.cost,
                detail=e.detail,
            )
            for e, email in rows
        ], int(total)

    # -- helpers ---------------------------------------------------------------------------

    def _quota(self, session: Session, user_id: uuid.UUID, limit: int | None) -> WindowStatus:
        since = self.now() - WINDOW
        charges = session.exec(
            select(AuditEvent.at, AuditEvent.cost)
            .where(
                AuditEvent.actor_id == user_id,
                col(AuditEvent.at) > since,
                col(AuditEvent.cost) > 0,
            )
            .order_by(col(AuditEvent.at))
        ).all()
        return window_status([(at, cost) for at, cost in charges], limit)

    @staticmethod
    def _find(session: Session, ref: str) -> User | None:
        try:
            user = session.get(User, uuid.UUID(ref))
        except ValueError:
            user = session.exec(select(User).where(User.email == ref.strip().lower())).first()
        return user

    @staticmethod
    def _live(session: Session, user_id: uuid.UUID) -> User:
        user = session.get(User, user_id)
        if user is None or user.deleted_at is not None:
            raise UnknownUser(f"no user {user_id}")
        return user

    @staticmethod
    def _keep_an_admin(session: Session, leaving: uuid.UUID) -> None:
        others = session.exec(
            select(sa.func.count())
            .select_from(User)
            .where(
                User.role == Role.ADMIN,
                col(User.deleted_at).is_(None),
                User.id != leaving,
                User.email != LOCAL_USER_EMAIL,
            )
        ).one()
        if not others:
            raise LastAdmin("this is the last admin; make another admin first")


def _usable(emails: tuple[str, ...]) -> list[str]:
    """Normalized, deduplicated, in order; addresses this service could not store are left
    out."""
    usable: list[str] = []
    for email in emails:
        try:
            address = normalize_email(email)
        except AccountError:
            continue
        if address not in usable:
            usable.append(address)
    return usable


def _user_view(user: User) -> UserView:
    return UserView(
        id=user.id,
        email=user.email,
        role=Role(user.role),
        daily_generations=user.daily_generations,
        created_at=user.created_at,
        last_requested_at=user.last_requested_at,
        deleted_at=user.deleted_at,
    )


def _key_view(row: ApiKey) -> KeyView:
    return KeyView(
        prefix=row.prefix,
        name=row.name,
        user_id=row.user_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _principal(user: User, prefix: str | None) -> Principal:
    return Principal(
        user_id=user.id,
        email=user.email,
        role=Role(user.role),
        key_prefix=prefix,
        daily_generations=user.daily_generations,
    )
