"""Submitting issues and reading their tutorials."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from temporalio.service import RPCError

from issuesight.accounts.principal import Principal, Requester
from issuesight.accounts.store import LLMBudgetSpent, QuotaExceeded, UnknownUser
from issuesight.accounts.windows import iso
from issuesight.api import responses
from issuesight.api.auth import too_many, unauthenticated
from issuesight.api.deps import (
    AdminDep,
    Resources,
    ResourcesDep,
    TutorialReaderDep,
    TutorialSearchDep,
    WriterDep,
)
from issuesight.api.schemas import (
    TutorialAccepted,
    TutorialPage,
    TutorialPublic,
    TutorialSubmit,
    TutorialSummary,
)
from issuesight.db.renderings import RenderedTutorial
from issuesight.db.search import Sort, TutorialQuery
from issuesight.db.tutorials import TutorialView
from issuesight.domain.refs import (
    ISSUE_REPO_PATTERN,
    MAX_ISSUE_NUMBER,
    OWNER_PATTERN,
    InvalidIssueReference,
    IssueRef,
    make_ref,
    parse_issue_ref,
    parse_submitted_issue_ref,
)
from issuesight.domain.status import TutorialStatus
from issuesight.orchestration.submission import GenerationInFlight, submit_issue
from issuesight.orchestration.temporal_client import TemporalUnavailable

log = logging.getLogger(__name__)
router = APIRouter(tags=["tutorials"])
RETRY_AFTER_SECONDS = 30
# What the tutorial routes answer besides the tutorial: its version (ETag) and, to a poller that
# sent that version as If-None-Match, 304 until it changes.
TUTORIAL_HEADERS = {"ETag": responses.ETAG, "Cache-Control": responses.CACHE_CONTROL}


def _status_url(request: Request, tutorial_id: uuid.UUID) -> str:
    return str(request.url_for("get_tutorial", tutorial_id=tutorial_id))


async def _submit(
    request: Request,
    resources: Resources,
    ref: IssueRef,
    principal: Principal,
    *,
    regenerate: bool,
) -> Response:
    # The row is recorded before Temporal is reached: an outage loses no submission.
    requester = Requester.user(principal, default_limit=resources.settings.daily_generation_limit)
    try:
        result = await submit_issue(
            ref,
            store=resources.store,
            accounts=resources.accounts,
            client=resources.temporal,
            settings=resources.settings,
            requester=requester,
            regenerate=regenerate,
        )
    except QuotaExceeded as exc:
        now = resources.accounts.now()
        raise too_many(
            "quota",
            str(exc),
            exc.status.retry_after(now),
            quota={
                "limit": exc.status.limit,
                "used": exc.status.used,
                "next_available_at": iso(exc.status.next_free_at),
            },
        ) from exc
    except LLMBudgetSpent as exc:
        now = resources.accounts.now()
        raise too_many(
            "llm_budget",
            str(exc),
            exc.status.retry_after(now),
            resumes_at=iso(exc.status.next_free_at),
        ) from exc
    except GenerationInFlight as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except UnknownUser as exc:
        raise unauthenticated("The account behind this key no longer exists.") from exc
    except (TemporalUnavailable, RPCError) as exc:
        log.warning(
            "workflow not started", extra={"issue_key": ref.key, "error": type(exc).__name__}
        )
        return await _temporal_unavailable(request, resources, ref)
    log.info(
        "tutorial submitted",
        extra={
            "issue_key": ref.key,
            "workflow_id": ref.workflow_id,
            "started": result.started,
            "new_generation": result.new_generation,
            "regenerate": regenerate,
        },
    )
    if not result.started:
        return _tutorial_response(request, _json_renderer(request)(result.view))
    content = result.view.content
    accepted = TutorialAccepted(
        id=content.id,
        issue=ref.key,
        status=content.status,
        stage=content.stage,
        status_url=_status_url(request, content.id),
    )
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202)


async def _temporal_unavailable(request: Request, resources: Resources, ref: IssueRef) -> Response:
    """503 that says exactly what was kept, and so what was charged (one rule: a unit stays
    charged exactly when the work is kept). A new or failed tutorial stays PENDING, paid for
    by the request that asked for it, and the reconciler starts it once Temporal answers; a
    regeneration of a completed tutorial is not kept (the tutorial is unchanged, the request
    not counted)."""
    view = await asyncio.to_thread(resources.store.get_tutorial, ref.tutorial_id)
    minutes = resources.settings.reconcile_interval_minutes
    body: dict[str, object] = {"issue": ref.key, "kept": False}
    if view is not None and view.content.status == TutorialStatus.PENDING:
        body.update(
            kept=True,
            id=str(view.content.id),
            status=view.content.status.value,
            status_url=_status_url(request, view.content.id),
            detail=(
                "The job service (Temporal) is unreachable. Your request is kept: the tutorial "
                f"is recorded as PENDING and is started automatically within {minutes} "
                "minutes of the job service answering again. It counts as one generation "
                "against the quota of the request that asked for it (kept work is charged "
                "once); submitting again is free, safe and starts nothing twice. Poll "
                "status_url."
            ),
        )
    else:
        body["detail"] = (
            "The job service (Temporal) is unreachable. Nothing was kept: the tutorial is "
            "unchanged, no regeneration is pending and this request did not count against "
            "its limits. Retry later."
        )
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


@router.post(
    "/tutorials",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {
            "model": TutorialPublic,
            "description": "The tutorial already exists",
            "headers": TUTORIAL_HEADERS,
        },
        202: {"model": TutorialAccepted, "description": "Generation started or in progress"},
        **responses.WRITER,
        **responses.too_many("Quota, write rate or LLM budget spent; see Retry-After"),
        **responses.error(
            503,
            "Temporal (or the database) is unreachable; the answer says what was kept",
            Retry_After=responses.RETRY_AFTER,
        ),
    },
)
async def submit_tutorial(
    principal: WriterDep, body: TutorialSubmit, request: Request, resources: ResourcesDep
) -> Response:
    """A new generation costs the caller one unit of their daily quota; a tutorial that exists
    or is running is unlocked for free."""
    try:
        ref = parse_submitted_issue_ref(body.issue)
    except InvalidIssueReference as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    return await _submit(request, resources, ref, principal, regenerate=False)


def render_tutorial(view: TutorialView, web_url: str = "https://github.com") -> RenderedTutorial:
    """The tutorial as JSON, with its ETag. Serialized by pydantic directly: the model is
    already valid, and FastAPI's response_model pass would validate it a second time on the
    hottest route. A pure function of the view: the PostgreSQL reader keeps its results."""
    body = TutorialPublic.from_view(view, web_url).model_dump_json().encode()
    return RenderedTutorial(body, f'W/"{hashlib.blake2b(body, digest_size=16).hexdigest()}"')


@functools.cache
def _json_renderer_for(web_url: str) -> Callable[[TutorialView], RenderedTutorial]:
    # The same object each time: the status readers keep renderings by renderer and row.
    return functools.partial(render_tutorial, web_url=web_url)


def _json_renderer(request: Request) -> Callable[[TutorialView], RenderedTutorial]:
    return _json_renderer_for(request.app.state.resources.settings.github_web_url)


def _tutorial_response(request: Request, rendered: RenderedTutorial) -> Response:
    """A poller that sends If-None-Match gets a bodiless 304 until something changes."""
    headers = {"ETag": rendered.etag, "Cache-Control": "no-cache"}
    if rendered.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type="application/json", headers=headers)


_READ_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "The tutorial, in whatever state it is", "headers": TUTORIAL_HEADERS},
    304: {"description": "Unchanged since the ETag sent", "headers": TUTORIAL_HEADERS},
}
_READ: dict[str, Any] = {
    "response_model": TutorialPublic,
    "openapi_extra": {
        "parameters": [
            {
                "name": "If-None-Match",
                "in": "header",
                "required": False,
                "description": "an ETag this route answered: 304 while it is current",
                "schema": {"type": "string"},
            }
        ]
    },
}


@router.get(
    "/tutorials/{tutorial_id}",
    name="get_tutorial",
    **_READ,
    responses={**_READ_ANSWERS, **responses.not_found("No tutorial with this id")},
)
async def get_tutorial(
    tutorial_id: uuid.UUID, request: Request, tutorials: TutorialReaderDep
) -> Response:
    rendered = await tutorials.get_rendered(tutorial_id, _json_renderer(request))
    if rendered is None:
        raise HTTPException(status_code=404, detail=f"No tutorial {tutorial_id}")
    return _tutorial_response(request, rendered)


@router.get(
    "/issues/{owner}/{repo}/{number}/tutorial",
    **_READ,
    responses={**_READ_ANSWERS, **responses.not_found("No tutorial was asked for this issue")},
)
async def get_tutorial_by_issue(
    owner: Annotated[str, Path(json_schema_extra={"pattern": OWNER_PATTERN})],
    repo: Annotated[str, Path(json_schema_extra={"pattern": ISSUE_REPO_PATTERN})],
    number: Annotated[int, Path(ge=1, le=MAX_ISSUE_NUMBER)],
    request: Request,
    tutorials: TutorialReaderDep,
) -> Response:
    ref = _ref_from_path(owner, repo, number)
    rendered = await tutorials.get_rendered(ref.tutorial_id, _json_renderer(request))
    if rendered is None:
        raise HTTPException(status_code=404, detail=f"No tutorial has been requested for {ref}")
    return _tutorial_response(request, rendered)


@router.post(
    "/tutorials/{tutorial_id}/regenerate",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TutorialAccepted,
    responses={
        200: {
            "model": TutorialPublic,
            "description": "Nothing to start: the tutorial as it is",
            "headers": TUTORIAL_HEADERS,
        },
        **responses.ADMIN,
        **responses.not_found("No tutorial with this id"),
        **responses.conflict("A generation of this tutorial is already on its way"),
        **responses.too_many(
            "Regenerated too recently or too often today, or the admin's quota, write rate or "
            "the LLM budget is spent (Retry-After)"
        ),
        **responses.error(
            503,
            "Temporal (or the database) is unreachable; nothing was kept or counted",
            Retry_After=responses.RETRY_AFTER,
        ),
    },
)
async def regenerate_tutorial(
    tutorial_id: uuid.UUID, admin: AdminDep, request: Request, resources: ResourcesDep
) -> Response:
    """Admins only: every regeneration is a paid generation (and costs the admin's quota)."""
    view = await resources.tutorials.get(tutorial_id)
    if view is None:
        raise HTTPException(status_code=404, detail=f"No tutorial {tutorial_id}")
    settings = resources.settings
    cooldown = timedelta(minutes=settings.regenerate_cooldown_minutes)
    claim = await asyncio.to_thread(
        resources.store.claim_regeneration,
        tutorial_id,
        cooldown=cooldown,
        daily_limit=settings.regenerate_daily_limit,
    )
    if not claim.allowed:
        raise HTTPException(
            status_code=429,
            detail=(
                f"This tutorial was {claim.reason}. Each tutorial can be regenerated once every "
                f"{settings.regenerate_cooldown_minutes} minutes and "
                f"{settings.regenerate_daily_limit} times a day; retry in "
                f"{claim.retry_after_seconds} seconds."
            ),
            headers={"Retry-After": str(claim.retry_after_seconds)},
        )
    ref = parse_issue_ref(view.issue_key)
    try:
        response = await _submit(request, resources, ref, admin, regenerate=True)
    except BaseException:
        # Refused (quota, LLM budget, a deleted account: Refusals, not HTTPExceptions; a
        # generation already on its way) or failed: nothing started, so the tutorial's
        # regeneration slot is given back too. Catching HTTPException alone kept the cooldown
        # of a request the quota refused.
        await asyncio.to_thread(resources.store.refund_regeneration, tutorial_id, claim.claimed_at)
        raise
    if response.status_code == 503:  # nothing started: the request does not count
        await asyncio.to_thread(resources.store.refund_regeneration, tutorial_id, claim.claimed_at)
    return response


@router.get("/tutorials", response_model=TutorialPage)
async def list_tutorials(
    request: Request,
    search: TutorialSearchDep,
    repo: Annotated[
        str | None,
        Query(
            max_length=201, pattern=r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$", description="owner/repo"
        ),
    ] = None,
    status_: Annotated[TutorialStatus | None, Query(alias="status")] = None,
    difficulty: Annotated[str | None, Query(pattern="^(beginner|intermediate|advanced)$")] = None,
    junior_friendly: bool | None = None,
    concept: Annotated[
        str | None, Query(max_length=80, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="words to search for in the issues' titles and bodies and the "
            "tutorials' titles, summaries and concepts; every word must match, ranked",
        ),
    ] = None,
    sort: Annotated[
        Sort | None, Query(description="relevance (the default with q), newest, easiest")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    include_archived: bool = False,
) -> TutorialPage:
    query = TutorialQuery(
        text=q,
        repo=repo,
        status=status_.value if status_ else None,
        difficulty=difficulty,
        junior_friendly=junior_friendly,
        concept=concept,
        include_archived=include_archived,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    hits, total = await run_in_threadpool(search.search, query)
    items = [TutorialSummary.from_hit(hit, _status_url(request, hit.id)) for hit in hits]
    return TutorialPage(items=items, total=total, limit=limit, offset=offset)


def _ref_from_path(owner: str, repo: str, number: int) -> IssueRef:
    try:
        return make_ref(owner, repo, number)
    except InvalidIssueReference as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
