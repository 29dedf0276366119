"""The caller's own account (`/me`: who, quota, unlocks, keys) and, for admins, everyone's
(users, their keys, the audit trail). A key is returned once, by the call that creates it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from issuesight.accounts.store import (
    AccountError,
    AccountStore,
    Actor,
    KeyView,
    LastAdmin,
    UnknownUser,
    UserExists,
    UserView,
)
from issuesight.accounts.windows import WindowStatus
from issuesight.api import responses
from issuesight.api.deps import (
    AccountsDep,
    AdminDep,
    AdminReaderDep,
    SettingsDep,
    UserDep,
    WriterDep,
)
from issuesight.api.schemas import (
    AuditPage,
    AuditPublic,
    KeyCreate,
    KeyCreated,
    KeyPublic,
    MePublic,
    QuotaPublic,
    UnlockPage,
    UnlockPublic,
    UserCreate,
    UserPatch,
    UserPublic,
)

router = APIRouter(tags=["accounts"])
Prefix = Annotated[str, Path(max_length=40, pattern=r"^isk_[0-9a-f]{12}$")]
UserRef = Annotated[str, Path(max_length=320, description="a user's id or email")]
# A created key must not linger in a cache between the service and its owner.
NO_STORE = {"Cache-Control": "no-store"}
KEY_CREATED = {
    "description": "The key, shown this once",
    "headers": {"Cache-Control": responses.CACHE_CONTROL},
}
NO_USER = responses.not_found("No user with this id or email")
LAST_ADMIN = responses.conflict("That would leave no admin")


# -- the caller ------------------------------------------------------------------------------


@router.get("/me", response_model=MePublic, responses=responses.USER)
async def me(principal: UserDep, accounts: AccountsDep, settings: SettingsDep) -> MePublic:
    limit = principal.daily_limit(settings.daily_generation_limit)
    quota = await asyncio.to_thread(accounts.quota, principal.user_id, limit)
    return MePublic(
        id=principal.user_id,
        email=principal.email,
        role=principal.role.value,
        auth_mode=settings.effective_auth_mode,
        key=principal.key_prefix,
        quota=_quota(quota),
    )


@router.get("/me/tutorials", response_model=UnlockPage, responses=responses.USER)
async def my_tutorials(
    request: Request,
    principal: UserDep,
    accounts: AccountsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> UnlockPage:
    rows, total = await asyncio.to_thread(
        accounts.unlocks, principal.user_id, limit=limit, offset=offset
    )
    items = [
        UnlockPublic(
            id=row.tutorial_id,
            issue=row.issue_key,
            title=row.title,
            status=row.status,
            is_original_requester=row.is_original_requester,
            unlocked_at=row.unlocked_at,
            url=str(request.url_for("get_tutorial", tutorial_id=row.tutorial_id)),
        )
        for row in rows
    ]
    return UnlockPage(items=items, total=total, limit=limit, offset=offset)


@router.get("/me/keys", response_model=list[KeyPublic], responses=responses.USER)
async def my_keys(principal: UserDep, accounts: AccountsDep) -> list[KeyPublic]:
    return [_key(k) for k in await asyncio.to_thread(accounts.list_keys, principal.user_id)]


@router.post(
    "/me/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    responses={201: KEY_CREATED, **responses.WRITER},
)
async def create_my_key(
    principal: WriterDep, accounts: AccountsDep, body: KeyCreate | None = None
) -> JSONResponse:
    name = body.name if body is not None else ""
    return await _create_key(accounts, principal.user_id, name, Actor.of(principal))


@router.delete(
    "/me/keys/{prefix}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**responses.WRITER, **responses.not_found("You have no key with this prefix")},
)
async def revoke_my_key(prefix: Prefix, principal: WriterDep, accounts: AccountsDep) -> Response:
    revoked = await asyncio.to_thread(
        accounts.revoke_key, prefix, actor=Actor.of(principal), owner=principal.user_id
    )
    if revoked is None:
        raise HTTPException(status_code=404, detail=f"You have no key {prefix}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- admins: users and their keys ------------------------------------------------------------


@router.get(
    "/users", response_model=list[UserPublic], tags=["admin"], responses=responses.ADMIN_READER
)
async def list_users(_admin: AdminReaderDep, accounts: AccountsDep) -> list[UserPublic]:
    return [_user(u) for u in await asyncio.to_thread(accounts.list_users)]


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    tags=["admin"],
    responses={
        **responses.ADMIN,
        **responses.conflict("A user with this email exists"),
        **responses.error(422, "Not a usable email address, or a request that is not valid"),
    },
)
async def create_user(body: UserCreate, admin: AdminDep, accounts: AccountsDep) -> UserPublic:
    try:
        user = await asyncio.to_thread(
            accounts.create_user, body.email, body.role, actor=Actor.of(admin)
        )
    except UserExists as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except AccountError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return _user(user)


@router.get(
    "/users/{user}",
    response_model=UserPublic,
    tags=["admin"],
    responses={**responses.ADMIN_READER, **NO_USER},
)
async def get_user(user: UserRef, _admin: AdminReaderDep, accounts: AccountsDep) -> UserPublic:
    return _user(await _find(accounts, user))


@router.patch(
    "/users/{user}",
    response_model=UserPublic,
    tags=["admin"],
    responses={**responses.ADMIN, **NO_USER, **LAST_ADMIN},
)
async def update_user(
    user: UserRef, body: UserPatch, admin: AdminDep, accounts: AccountsDep
) -> UserPublic:
    found = await _find(accounts, user)
    clear = "daily_generations" in body.model_fields_set and body.daily_generations is None
    try:
        updated = await asyncio.to_thread(
            accounts.update_user,
            found.id,
            actor=Actor.of(admin),
            role=body.role,
            daily_generations=body.daily_generations,
            clear_daily_generations=clear,
        )
    except LastAdmin as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return _user(updated)


@router.delete(
    "/users/{user}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["admin"],
    responses={**responses.ADMIN, **NO_USER, **LAST_ADMIN},
)
async def delete_user(user: UserRef, admin: AdminDep, accounts: AccountsDep) -> Response:
    found = await _find(accounts, user)
    try:
        await asyncio.to_thread(accounts.delete_user, found.id, actor=Actor.of(admin))
    except LastAdmin as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/users/{user}/keys",
    response_model=list[KeyPublic],
    tags=["admin"],
    responses={**responses.ADMIN_READER, **NO_USER},
)
async def list_user_keys(
    user: UserRef, _admin: AdminReaderDep, accounts: AccountsDep
) -> list[KeyPublic]:
    found = await _find(accounts, user)
    return [_key(k) for k in await asyncio.to_thread(accounts.list_keys, found.id)]


@router.post(
    "/users/{user}/keys",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreated,
    tags=["admin"],
    responses={201: KEY_CREATED, **responses.ADMIN, **NO_USER},
)
async def create_user_key(
    user: UserRef, admin: AdminDep, accounts: AccountsDep, body: KeyCreate | None = None
) -> JSONResponse:
    found = await _find(accounts, user)
    name = body.name if body is not None else ""
    return await _create_key(accounts, found.id, name, Actor.of(admin))


@router.delete(
    "/users/{user}/keys/{prefix}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["admin"],
    responses={**responses.ADMIN, **responses.not_found("No such user, or no such key of theirs")},
)
async def revoke_user_key(
    user: UserRef, prefix: Prefix, admin: AdminDep, accounts: AccountsDep
) -> Response:
    found = await _find(accounts, user)
    revoked = await asyncio.to_thread(
        accounts.revoke_key, prefix, actor=Actor.of(admin), owner=found.id
    )
    if revoked is None:
        raise HTTPException(status_code=404, detail=f"{found.email} has no key {prefix}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- admins: the audit trail -----------------------------------------------------------------


@router.get(
    "/audit",
    response_model=AuditPage,
    tags=["admin"],
    responses={**responses.ADMIN_READER, **responses.not_found("No user is that actor")},
)
async def audit(
    _admin: AdminReaderDep,
    accounts: AccountsDep,
    actor: Annotated[str | None, Query(max_length=320, description="a user's id or email")] = None,
    action: Annotated[str | None, Query(max_length=40, examples=["tutorial.generate"])] = None,
    target: Annotated[str | None, Query(max_length=400, examples=["pallets/flask#5000"])] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AuditPage:
    actor_id: uuid.UUID | None = None
    if actor:
        actor_id = (await _find(accounts, actor, deleted_too=True)).id
    rows, total = await asyncio.to_thread(
        accounts.audit_events,
        actor_id=actor_id,
        action=action,
        target=target,
        limit=limit,
        offset=offset,
    )
    items = [AuditPublic(**row.__dict__) for row in rows]
    return AuditPage(items=items, total=total, limit=limit, offset=offset)


# -- helpers ---------------------------------------------------------------------------------


async def _find(accounts: AccountStore, ref: str, *, deleted_too: bool = False) -> UserView:
    found = await asyncio.to_thread(accounts.find_user, ref, deleted_too=deleted_too)
    if found is None:
        raise HTTPException(status_code=404, detail=f"No user {ref}")
    return found


async def _create_key(
    accounts: AccountStore, user_id: uuid.UUID, name: str, actor: Actor
) -> JSONResponse:
    try:
        view, key = await asyncio.to_thread(accounts.create_key, user_id, name, actor=actor)
    except UnknownUser as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    created = KeyCreated(**_key(view).model_dump(), key=key)
    return JSONResponse(created.model_dump(mode="json"), status_code=201, headers=NO_STORE)


def _quota(status_: WindowStatus) -> QuotaPublic:
    return QuotaPublic(
        limit=status_.limit,
        used=status_.used,
        remaining=status_.remaining,
        next_available_at=status_.next_free_at,
        resets_at=status_.resets_at,
    )


def _user(user: UserView) -> UserPublic:
    return UserPublic(
        id=user.id,
        email=user.email,
        role=user.role.value,
        daily_generations=user.daily_generations,
        created_at=user.created_at,
        last_requested_at=user.last_requested_at,
    )


def _key(key: KeyView) -> KeyPublic:
    return KeyPublic(
        prefix=key.prefix,
        name=key.name,
        user_id=key.user_id,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )
