"""The HTML pages: explore, a tutorial (or its progress), submit, concepts and projects.

Every page reads through the same stores as the JSON API and renders on the server; the little
JavaScript they have (static/app.js) only improves them (copy button, live progress), so
reading and submitting work with it off. Query parameters are read leniently: a browser's URL
is typed and shared by people, so a value that makes no sense is ignored with a notice rather
than answered with a 422.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from temporalio.service import RPCError

from issuesight.accounts.principal import Requester
from issuesight.accounts.store import LLMBudgetSpent, QuotaExceeded, UnknownUser
from issuesight.api import auth
from issuesight.api.deps import (
    ConceptReadsDep,
    ResourcesDep,
    TutorialReaderDep,
    TutorialSearchDep,
)
from issuesight.db.projects import DEFAULT_LABELS, watched_labels
from issuesight.db.search import Sort, TutorialQuery
from issuesight.domain.refs import (
    VALID_FORMS,
    InvalidIssueReference,
    make_ref,
    parse_issue_ref,
    parse_repo_name,
)
from issuesight.domain.status import TutorialStatus
from issuesight.orchestration.submission import submit_issue
from issuesight.orchestration.temporal_client import TemporalUnavailable
from issuesight.web import templating
from issuesight.web.session import (
    SESSION_COOKIE,
    PageAccount,
    check_form,
    clear_cookie,
    page_account,
    session_token,
)
from issuesight.web.tutorial_page import SlottedPage, renderer

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
# Every page knows whom it is for (web.session): the header shows it, forms carry its token.
# The tutorial pages look it up beside the tutorial itself (both may be a database read).
FOR_ACCOUNT = [Depends(page_account)]

PAGE_SIZE = 20
MAX_QUERY = 200
MAX_PAGE = 1_000_000 // PAGE_SIZE
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}/[A-Za-z0-9._-]{1,100}$")
_DIFFICULTIES = frozenset(templating.DIFFICULTY_LABELS)
_STATUSES = frozenset(s.value for s in TutorialStatus)
NO_STORE = {"Cache-Control": "no-cache"}


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page for the request's account (resolved by `page_account` before)."""
    account: PageAccount = request.state.page_account
    response = HTMLResponse(
        templating.render(template, account=account, **context),
        status_code=status_code,
        headers=NO_STORE,
    )
    personalize(response, request, account)
    return response


def personalize(response: Response, request: Request, account: PageAccount) -> None:
    """A page differs by its cookie: shared caches must not hand one person's page to another,
    and a session cookie that opens nothing any more is cleared."""
    response.headers["Vary"] = "Cookie"
    if account.signed_in:
        response.headers["Cache-Control"] = "private, no-cache"
    if account.stale_cookie:
        clear_cookie(response, request, SESSION_COOKIE)


def not_found(request: Request, message: str) -> HTMLResponse:
    return page(request, "error.html", 404, heading="Not found", message=message)


def _page_number(raw: str | None) -> int:
    try:
        number = int(raw or "1")
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


@dataclass
class ExploreParams:
    """The explore page's filters, as the URL holds them (only those that make sense)."""

    q: str | None = None
    repo: str | None = None
    difficulty: str | None = None
    concept: str | None = None
    status: str = TutorialStatus.COMPLETED
    sort: str | None = None
    junior: bool = False
    page: int = 1

    @classmethod
    def parse(cls, request: Request) -> tuple[ExploreParams, list[str]]:
        raw = request.query_params
        notices: list[str] = []
        params = cls(page=_page_number(raw.get("page")))
        q = " ".join((raw.get("q") or "").replace("\x00", " ").split())
        if len(q) > MAX_QUERY:
            notices.append(f"Only the first {MAX_QUERY} characters of the search were used.")
            q = q[:MAX_QUERY]
        params.q = q or None
        repo = (raw.get("repo") or "").strip()
        if repo and _REPO.match(repo):
            params.repo = repo.lower()
        elif repo:
            notices.append("The repository filter was not an owner/repo name, so it was left out.")
        difficulty = raw.get("difficulty") or ""
        params.difficulty = difficulty if difficulty in _DIFFICULTIES else None
        concept = (raw.get("concept") or "").strip().lower()
        if concept and _SLUG.match(concept) and len(concept) <= 80:
            params.concept = concept
        elif concept:
            notices.append("The concept filter was not a concept name, so it was left out.")
        status = (raw.get("status") or TutorialStatus.COMPLETED).upper()
        params.status = (
            status if status in _STATUSES or status == "ALL" else TutorialStatus.COMPLETED
        )
        sort = raw.get("sort") or ""
        params.sort = sort if sort in ("newest", "easiest", "relevance") else None
        params.junior = raw.get("junior") in ("1", "true", "on")
        return params, notices

    def query(self) -> TutorialQuery:
        return TutorialQuery(
            text=self.q,
            repo=self.repo,
            status=None if self.status == "ALL" else self.status,
            difficulty=self.difficulty,
            junior_friendly=True if self.junior else None,
            concept=self.concept,
            sort=Sort(self.sort) if self.sort else None,
            limit=PAGE_SIZE,
            offset=(self.page - 1) * PAGE_SIZE,
        )

    def url_params(self) -> dict[str, Any]:
        """What the result links keep (the default status is left out of the URL)."""
        return {
            "q": self.q,
            "repo": self.repo,
            "difficulty": self.difficulty,
            "concept": self.concept,
            "status": None if self.status == TutorialStatus.COMPLETED else self.status.lower(),
            "sort": self.sort,
            "junior": "1" if self.junior else None,
        }

    @property
    def filtered(self) -> bool:
        return any(v for v in self.url_params().values())


@router.get("/", response_class=HTMLResponse, dependencies=FOR_ACCOUNT)
async def explore(request: Request, search: TutorialSearchDep) -> HTMLResponse:
    params, notices = ExploreParams.parse(request)
    query = params.query()
    if params.q and not query.terms:
        notices.append("The search had no letters or digits to look for, so it was left out.")
    hits, total = await run_in_threadpool(search.search, query)
    repositories = await run_in_threadpool(search.repositories)
    concepts = await run_in_threadpool(search.concepts)
    return page(
        request,
        "explore.html",
        nav="explore",
        params=params.url_params(),
        selected_status="all" if params.status == "ALL" else params.status,
        filtered=params.filtered,
        hits=hits,
        total=total,
        limit=PAGE_SIZE,
        offset=query.offset,
        repositories=repositories,
        concepts=concepts,
        notice=" ".join(notices),
    )


async def _tutorial_response(
    request: Request, tutorials: TutorialReaderDep, tutorial_id: uuid.UUID
) -> Response | None:
    """The kept rendering with this request's account put in its slots (the header, the
    retry form's token): the rendering is shared by every reader, the slots are not."""
    resources = request.app.state.resources
    render = renderer(open_mode=resources.auth.open, web_url=resources.settings.github_web_url)
    if session_token(request) is None:  # no session to look up: nothing to wait for
        account = await page_account(request)
        rendered = await tutorials.get_rendered(tutorial_id, render)
    else:  # the session's read and the tutorial's, at once
        looking_up = asyncio.ensure_future(page_account(request))
        try:
            rendered = await tutorials.get_rendered(tutorial_id, render)
        finally:
            account = await looking_up
    if rendered is None:
        return None
    assert isinstance(rendered, SlottedPage)
    if account.signed_in:
        body, etag = templating.for_account(rendered.body, rendered.etag, rendered.slots, account)
    else:  # as it was kept
        body, etag = rendered.body, rendered.etag
    headers = {"ETag": etag, **NO_STORE}
    if etag in request.headers.get("if-none-match", ""):
        response = Response(status_code=304, headers=headers)
    else:
        response = Response(body, media_type="text/html; charset=utf-8", headers=headers)
    personalize(response, request, account)
    return response


@router.get("/tutorials/{tutorial_id}", name="tutorial_page")
async def tutorial_page(
    tutorial_id: str, request: Request, tutorials: TutorialReaderDep
) -> Response:
    try:
        wanted = uuid.UUID(tutorial_id)
    except ValueError:
        await page_account(request)
        return not_found(request, "There is no tutorial at this address.")
    response = await _tutorial_response(request, tutorials, wanted)
    return response or not_found(request, "There is no tutorial at this address.")


@router.get("/issues/{owner}/{repo}/{number}")
async def issue_page(
    owner: str, repo: str, number: str, request: Request, tutorials: TutorialReaderDep
) -> Response:
    try:
        ref = make_ref(owner, repo, int(number))
    except (InvalidIssueReference, ValueError):
        await page_account(request)
        return not_found(request, "This is not the address of a GitHub issue.")
    response = await _tutorial_response(request, tutorials, ref.tutorial_id)
    if response is not None:
        return response
    await page_account(request)
    return page(
        request,
        "submit.html",
        404,
        nav="submit",
        value=ref.key,
        error_title="No tutorial yet.",
        error=f"Nobody has asked for {ref.key} so far. Write it now:",
    )


@router.get("/submit", response_class=HTMLResponse, dependencies=FOR_ACCOUNT)
async def submit_form(request: Request, resources: ResourcesDep) -> HTMLResponse:
    value = (request.query_params.get("issue") or "")[:2000]
    account: PageAccount = request.state.page_account
    quota = None
    if account.principal is not None:
        limit = account.principal.daily_limit(resources.settings.daily_generation_limit)
        if limit is not None:
            quota = await run_in_threadpool(
                resources.accounts.quota, account.principal.user_id, limit
            )
    return page(request, "submit.html", nav="submit", value=value, error=None, quota=quota)


def refused_form(request: Request, refusal: auth.Refusal) -> HTMLResponse:
    """A form post refused before anything was read (another site's, or without its
    session's token): counted like every refusal."""
    auth.count(refusal)
    return page(request, "error.html", refusal.status, heading="Refused", message=refusal.detail)


@router.post("/submit", dependencies=FOR_ACCOUNT)
async def submit(
    request: Request,
    resources: ResourcesDep,
    issue: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        await check_form(request, csrf_token)
    except auth.Refusal as refusal:
        return refused_form(request, refusal)
    try:
        principal = await auth.authorize_write(request)
    except auth.Refusal as refusal:
        auth.count(refusal)
        return _refused(request, refusal.status, issue, refusal.detail, refusal.headers)
    try:
        ref = parse_issue_ref(issue)
    except InvalidIssueReference as exc:
        return page(
            request,
            "submit.html",
            422,
            nav="submit",
            value=issue,
            error_title="That is not a GitHub issue.",
            error=f"{exc.reason[:1].upper()}{exc.reason[1:]}: expected {VALID_FORMS}.",
        )
    settings = resources.settings
    requester = Requester.user(principal, default_limit=settings.daily_generation_limit)
    try:
        # Connected on demand, after the row is recorded: an outage loses no submission.
        result = await submit_issue(
            ref,
            store=resources.store,
            accounts=resources.accounts,
            client=resources.temporal,
            settings=settings,
            requester=requester,
        )
    except (QuotaExceeded, LLMBudgetSpent) as exc:
        reason = "quota" if isinstance(exc, QuotaExceeded) else "llm_budget"
        spent = auth.count(
            auth.too_many(reason, str(exc), exc.status.retry_after(resources.accounts.now()))
        )
        return _refused(request, 429, ref.key, spent.detail, spent.headers)
    except UnknownUser:
        return _refused(request, 401, ref.key, "The account you used no longer exists.", {})
    except (RPCError, TemporalUnavailable) as exc:
        log.warning(
            "web submission could not start", extra={"issue_key": ref.key, "error": str(exc)}
        )
        minutes = resources.settings.reconcile_interval_minutes
        return page(
            request,
            "submit.html",
            503,
            nav="submit",
            value=ref.key,
            error_title="The job service is unreachable.",
            error=f"Your request is kept: tutorial /tutorials/{ref.tutorial_id} is pending and "
            f"starts by itself within {minutes} minutes of the job service answering again "
            "(it counts once against the quota of whoever asked for it first; asking again is "
            "free).",
        )
    log.info("tutorial submitted from the web", extra={"issue_key": ref.key})
    return RedirectResponse(f"/tutorials/{result.view.content.id}", status_code=303)


def _refused(
    request: Request, status: int, value: str, detail: str, headers: dict[str, str]
) -> HTMLResponse:
    """A submission refused by accounts, as the submit page with the reason (Retry-After kept;
    a Bearer challenge means nothing to a browser and is left out)."""
    titles = {
        401: "Submitting needs an account here.",
        403: "Your account may not do this.",
        429: "Not now.",
    }
    signin_url = None
    if status == 401:
        detail = (
            "Reading is open to everyone, but a new tutorial is paid for, so this IssueSight "
            "asks who is submitting."
        )
        signin_url = "/signin?" + urlencode({"next": "/submit?" + urlencode({"issue": value})})
    response = page(
        request,
        "submit.html",
        status,
        nav="submit",
        value=value,
        error_title=titles.get(status, "Refused."),
        error=detail,
        signin_url=signin_url,
    )
    if "Retry-After" in headers:
        response.headers["Retry-After"] = headers["Retry-After"]
    return response


@router.get("/concepts", response_class=HTMLResponse, dependencies=FOR_ACCOUNT)
async def concepts_page(request: Request, concepts: ConceptReadsDep) -> HTMLResponse:
    roots = await run_in_threadpool(concepts.tree)
    return page(request, "concepts.html", nav="concepts", roots=roots)


@router.get("/concepts/{slug}", response_class=HTMLResponse, dependencies=FOR_ACCOUNT)
async def concept_page(
    slug: str, request: Request, concepts: ConceptReadsDep, search: TutorialSearchDep
) -> HTMLResponse:
    if len(slug) > 80 or not _SLUG.match(slug):
        return not_found(request, "There is no concept with this name.")
    detail = await run_in_threadpool(concepts.concept, slug)
    if detail is None:
        return not_found(request, "There is no concept with this name.")
    number = _page_number(request.query_params.get("page"))
    query = TutorialQuery(
        concept=slug, sort=Sort.EASIEST, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE
    )
    hits, total = await run_in_threadpool(search.search, query)
    return page(
        request,
        "concept.html",
        nav="concepts",
        concept=detail,
        hits=hits,
        total=total,
        limit=PAGE_SIZE,
        offset=query.offset,
        params={},
    )


@router.get("/projects", response_class=HTMLResponse, dependencies=FOR_ACCOUNT)
async def projects_page(
    request: Request, resources: ResourcesDep, search: TutorialSearchDep
) -> HTMLResponse:
    tracked = await run_in_threadpool(resources.project_reads.list_projects)
    names = {v.project.full_name for v in tracked}
    others = [f for f in await run_in_threadpool(search.repositories) if f.value not in names]
    return page(request, "projects.html", nav="projects", tracked=tracked, others=others)


@router.get("/projects/{owner}/{repo}", response_class=HTMLResponse, dependencies=FOR_ACCOUNT)
async def project_page(
    owner: str, repo: str, request: Request, resources: ResourcesDep, search: TutorialSearchDep
) -> HTMLResponse:
    try:
        parsed_owner, parsed_repo = parse_repo_name(f"{owner}/{repo}")
    except ValueError:  # InvalidIssueReference is one too
        return not_found(request, "This is not the name of a GitHub repository.")
    full_name = f"{parsed_owner}/{parsed_repo}".lower()
    view = await run_in_threadpool(resources.project_reads.get_project, full_name)
    number = _page_number(request.query_params.get("page"))
    query = TutorialQuery(repo=full_name, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE)
    hits, total = await run_in_threadpool(search.search, query)
    if view is None and total == 0 and number == 1:
        return not_found(request, f"IssueSight knows nothing about {full_name} yet.")
    project = view.project if view else None
    return page(
        request,
        "project.html",
        nav="projects",
        full_name=full_name,
        github_url=f"{resources.settings.github_web_url}/{full_name}",
        project=project or _Unknown(),
        view=view,
        labels=watched_labels(view.project) if view else list(DEFAULT_LABELS),
        hits=hits,
        total=total,
        limit=PAGE_SIZE,
        offset=query.offset,
        params={},
    )


class _Unknown:
    """A repository known only through its tutorials: no tracking facts to show."""

    language = None
    last_synced_at = None
    paused = False
    interval_minutes = None
