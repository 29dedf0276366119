"""Repository sync: list issues page by page with conditional requests, record them, and say
which need a tutorial job."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from issuesight.activities._failures import to_application_error
from issuesight.db.http_cache import HttpCacheStore
from issuesight.db.issues import IssueStore
from issuesight.db.projects import ProjectStore
from issuesight.db.types import parse_time
from issuesight.domain.failures import FailureKind
from issuesight.github.cache import SharedReads
from issuesight.github.client import parse_json
from issuesight.github.errors import GitHubError
from issuesight.github.visibility import fetch_publishable_repository, repository_missing
from issuesight.workflows.contracts import (
    ActivityName,
    SyncBeginResult,
    SyncCandidate,
    SyncFinishInput,
    SyncPageDone,
    SyncPageInput,
    SyncPageResult,
)

PER_PAGE = 100


class SyncActivities:
    def __init__(
        self,
        reads: SharedReads,
        projects: ProjectStore,
        issues: IssueStore,
        http_cache: HttpCacheStore,
        *,
        allowed_private_owners: frozenset[str] = frozenset(),
    ) -> None:
        self._reads = reads
        self._github = reads.client
        self._projects = projects
        self._issues = issues
        self._http_cache = http_cache
        self._allowed_private_owners = allowed_private_owners

    @activity.defn(name=ActivityName.SYNC_BEGIN)
    async def begin_repo_sync(self, repo: str) -> SyncBeginResult:
        try:
            since, labels = await asyncio.to_thread(self._projects.sync_start, repo)
        except LookupError as exc:
            raise ApplicationError(
                str(exc), type=FailureKind.NOT_TRACKED, non_retryable=True
            ) from exc
        # Creation order keeps pages stable: an edited issue changes only its own page, so the
        # others still answer 304. `since` is an updated_at the project stored (not the clock),
        # so an unchanged repository asks the very same URLs again and pays nothing.
        params = {"state": "all", "sort": "created", "direction": "asc", "per_page": PER_PAGE}
        if since is not None:
            params["since"] = since.isoformat().replace("+00:00", "Z")
        return SyncBeginResult(first_url=f"/repos/{repo}/issues?{urlencode(params)}", labels=labels)

    @activity.defn(name=ActivityName.SYNC_PAGE)
    async def sync_issue_page(self, request: SyncPageInput) -> SyncPageResult:
        cached = await asyncio.to_thread(self._http_cache.cached, request.url)
        owner, _, name = request.repo.partition("/")
        try:
            response = await self._github.get(
                request.url,
                what=f"the issues of {request.repo}",
                etag=cached.etag if cached else None,
            )
            if response is not None and response.status_code != 304:
                # Nothing of a repository that may not be published is recorded: its issue
                # titles would show on the project pages and in search (issue #15 §1). A
                # 304 records nothing; the document comes from the shared cache.
                await fetch_publishable_repository(
                    self._reads, owner, name, allowed_private_owners=self._allowed_private_owners
                )
        except GitHubError as exc:
            # A missing repository fails as a refused private one does, word for word.
            missing = exc.kind == FailureKind.NOT_FOUND
            error = repository_missing(owner, name, status=exc.status) if missing else exc
            raise to_application_error(error) from exc
        assert response is not None
        rate = self._github.rate_limit
        if response.status_code == 304 and cached is not None:
            return SyncPageResult(
                candidates=[],
                next_url=cached.next_url,
                not_modified=True,
                newest_updated_at=None,
                rate_remaining=rate.remaining,
                rate_reset=rate.reset,
            )
        items = parse_json(response, f"the issues of {request.repo}")
        if not isinstance(items, list):
            raise to_application_error(
                GitHubError(
                    f"GitHub sent a non-list issue page for {request.repo}",
                    kind=FailureKind.GITHUB_UNAVAILABLE,
                )
            )
        next_url = self._next_link(response)
        candidates: list[SyncCandidate] = []
        newest: str | None = None
        pulls = 0
        for item in items:
            activity.heartbeat()  # a page is up to 100 writes: a dead worker shows in seconds
            if not isinstance(item, dict) or not isinstance(item.get("number"), int):
                continue
            if item.get("pull_request"):
                pulls += 1  # the issues endpoint lists pull requests too
                continue
            seen = await asyncio.to_thread(
                self._issues.record_issue, request.repo, item, request.labels
            )
            updated = item.get("updated_at")
            if isinstance(updated, str) and (newest is None or updated > newest):
                newest = updated
            if seen.needs_job:
                candidates.append(
                    SyncCandidate(
                        seen.issue_key,
                        refresh=seen.has_tutorial,
                        updated_at=seen.updated_at.isoformat() if seen.updated_at else None,
                    )
                )
        etag = response.headers.get("etag")
        if etag and not request.defer_etag:
            # Runs recorded before the workflow remembered ETags itself.
            await asyncio.to_thread(self._http_cache.remember, request.url, etag, next_url)
        return SyncPageResult(
            candidates=candidates,
            next_url=next_url,
            not_modified=False,
            newest_updated_at=newest,
            rate_remaining=rate.remaining,
            rate_reset=rate.reset,
            issues_seen=len(items) - pulls,
            pull_requests_skipped=pulls,
            etag=etag if etag and request.defer_etag else None,
        )

    @activity.defn(name=ActivityName.SYNC_PAGE_DONE)
    async def remember_issue_page(self, request: SyncPageDone) -> None:
        """The page's jobs have started: from now on an unchanged page may answer 304."""
        await asyncio.to_thread(
            self._http_cache.remember, request.url, request.etag, request.next_url
        )

    @activity.defn(name=ActivityName.SYNC_FINISH)
    async def finish_repo_sync(self, request: SyncFinishInput) -> None:
        await asyncio.to_thread(
            self._projects.sync_finished,
            request.repo,
            parse_time(request.newest_seen),
            request.pages,
        )

    def _next_link(self, response: httpx.Response) -> str | None:
        url = response.links.get("next", {}).get("url")
        if url is None:
            return None
        target, base = httpx.URL(url), self._github.base_url
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise to_application_error(
                GitHubError(
                    "GitHub sent a pagination link to another host",
                    kind=FailureKind.GITHUB_UNAVAILABLE,
                )
            )
        return url
