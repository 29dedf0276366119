"""Tracked repositories: each one is a row and a Temporal Schedule that syncs it."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from temporalio.service import RPCError

from issuesight.accounts.principal import Principal
from issuesight.accounts.store import Actor
from issuesight.api import responses
from issuesight.api.deps import AdminDep, ProjectStoreDep, ResourcesDep, TemporalDep
from issuesight.api.schemas import (
    ProjectPatch,
    ProjectPublic,
    ProjectTrack,
    ScheduleState,
    SyncStarted,
)
from issuesight.db.projects import (
    ProjectStore,
    ProjectView,
    TrackingLimitReached,
    watched_labels,
)
from issuesight.domain.refs import OWNER_PATTERN, REPO_PATTERN, parse_repo_name
from issuesight.orchestration import schedules

router = APIRouter(prefix="/projects", tags=["projects"])
# Documented for what `_repo` checks (parse_repo_name), which refuses with the reason in words.
Owner = Annotated[str, Path(max_length=100, json_schema_extra={"pattern": OWNER_PATTERN})]
Repo = Annotated[str, Path(max_length=100, json_schema_extra={"pattern": REPO_PATTERN})]
NOT_TRACKED = responses.not_found("This repository is not tracked")


async def _public(view: ProjectView, temporal: TemporalDep) -> ProjectPublic:
    info = await schedules.describe(temporal, view.project.full_name)
    p = view.project
    return ProjectPublic(
        repo=p.full_name,
        labels=watched_labels(p),
        interval_minutes=p.interval_minutes,
        paused=info.paused if info else p.paused,
        last_synced_at=p.last_synced_at,
        issues=view.issues,
        open_issues=view.open_issues,
        tutorials=view.tutorials,
        schedule=ScheduleState(**info.__dict__) if info else None,
    )


def _repo(owner: str, repo: str) -> str:
    try:
        parsed_owner, parsed_repo = parse_repo_name(f"{owner}/{repo}")
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return f"{parsed_owner}/{parsed_repo}"


async def _tracked(projects: ProjectStore, repo: str) -> ProjectView:
    view = await asyncio.to_thread(projects.get_project, repo)
    if view is None:
        raise HTTPException(status_code=404, detail=f"{repo} is not tracked")
    return view


async def _audit(
    resources: ResourcesDep, admin: Principal, action: str, repo: str, **detail: object
) -> None:
    """Each project change names its actor (GET /api/v1/audit)."""
    await asyncio.to_thread(
        resources.accounts.record, Actor.of(admin), action, repo, detail=detail or None
    )


@router.post(
    "",
    response_model=ProjectPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ProjectPublic, "description": "It was tracked already: updated"},
        201: {"model": ProjectPublic, "description": "Tracked from now on"},
        **responses.ADMIN,
        **responses.conflict("MAX_TRACKED_REPOSITORIES are tracked already"),
        **responses.error(422, "Not owner/repo, or interval_minutes under 15"),
    },
)
async def track_project(
    admin: AdminDep,
    body: ProjectTrack,
    response: Response,
    resources: ResourcesDep,
    projects: ProjectStoreDep,
    temporal: TemporalDep,
) -> ProjectPublic:
    try:
        owner, repo = parse_repo_name(body.repo)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    existing = await asyncio.to_thread(projects.get_project, f"{owner}/{repo}")
    limit = resources.settings.max_tracked_repositories
    try:
        project = await asyncio.to_thread(
            projects.track, owner, repo, body.labels, body.interval_minutes, max_tracked=limit
        )
    except TrackingLimitReached as exc:
        raise HTTPException(
            status_code=409,
            detail=f"{exc.limit} repositories are tracked, the most this service allows "
            "(MAX_TRACKED_REPOSITORIES); untrack one first.",
        ) from exc
    try:
        await schedules.upsert_sync_schedule(
            temporal, resources.settings, project.full_name, body.interval_minutes, project.paused
        )
    except RPCError as exc:
        # No schedule, no tracking: put the row back as it was, so nothing half-done remains.
        if existing is None:
            await asyncio.to_thread(projects.untrack, project.full_name)
        else:
            previous = existing.project
            await asyncio.to_thread(
                projects.track,
                previous.owner_handle,
                previous.repo_name,
                watched_labels(previous),
                previous.interval_minutes or body.interval_minutes,
            )
        raise HTTPException(
            status_code=503,
            detail="The job service (Temporal) could not create the sync schedule; nothing was "
            "changed. Retry in a moment.",
            headers={"Retry-After": "30"},
        ) from exc
    if existing is not None:
        response.status_code = status.HTTP_200_OK
    await _audit(
        resources,
        admin,
        "project.track" if existing is None else "project.update",
        project.full_name,
        labels=body.labels,
        interval_minutes=body.interval_minutes,
    )
    return await _public(await _tracked(projects, project.full_name), temporal)


@router.get("", response_model=list[ProjectPublic])
async def list_projects(projects: ProjectStoreDep, temporal: TemporalDep) -> list[ProjectPublic]:
    views = await asyncio.to_thread(projects.list_projects)
    return list(await asyncio.gather(*(_public(v, temporal) for v in views)))


@router.get("/{owner}/{repo}", response_model=ProjectPublic, responses=NOT_TRACKED)
async def get_project(
    owner: Owner, repo: Repo, projects: ProjectStoreDep, temporal: TemporalDep
) -> ProjectPublic:
    return await _public(await _tracked(projects, _repo(owner, repo)), temporal)


@router.post(
    "/{owner}/{repo}/sync",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SyncStarted,
    responses={**responses.ADMIN, **NOT_TRACKED},
)
async def sync_now(
    owner: Owner,
    repo: Repo,
    admin: AdminDep,
    resources: ResourcesDep,
    projects: ProjectStoreDep,
    temporal: TemporalDep,
) -> SyncStarted:
    name = _repo(owner, repo)
    await _tracked(projects, name)
    await schedules.trigger(temporal, name)
    await _audit(resources, admin, "project.sync", name)
    return SyncStarted(repo=name, status="sync started")


@router.patch(
    "/{owner}/{repo}",
    response_model=ProjectPublic,
    responses={**responses.ADMIN, **NOT_TRACKED},
)
async def patch_project(
    owner: Owner,
    repo: Repo,
    body: ProjectPatch,
    admin: AdminDep,
    resources: ResourcesDep,
    projects: ProjectStoreDep,
    temporal: TemporalDep,
) -> ProjectPublic:
    name = _repo(owner, repo)
    await _tracked(projects, name)
    await schedules.set_paused(temporal, name, body.paused)
    await asyncio.to_thread(projects.set_paused, name, body.paused)
    await _audit(resources, admin, "project.pause" if body.paused else "project.resume", name)
    return await _public(await _tracked(projects, name), temporal)


@router.delete(
    "/{owner}/{repo}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**responses.ADMIN, **NOT_TRACKED},
)
async def untrack_project(
    owner: Owner,
    repo: Repo,
    admin: AdminDep,
    resources: ResourcesDep,
    projects: ProjectStoreDep,
    temporal: TemporalDep,
) -> Response:
    name = _repo(owner, repo)
    await _tracked(projects, name)
    await schedules.delete(temporal, name)
    await asyncio.to_thread(projects.untrack, name)
    await _audit(resources, admin, "project.delete", name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
