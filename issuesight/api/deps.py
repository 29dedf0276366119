"""What routes depend on, built once per app and handed out through `Depends`."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from temporalio.client import Client

from issuesight.accounts.principal import Principal
from issuesight.accounts.ratelimit import TokenBucket
from issuesight.accounts.sessions import SessionStore
from issuesight.accounts.store import AccountStore
from issuesight.api.auth import (
    Authenticator,
    require_admin,
    require_admin_reader,
    require_user,
    require_writer,
)
from issuesight.core.settings import Settings
from issuesight.db.concepts import ConceptReads
from issuesight.db.deliveries import DeliveryStore
from issuesight.db.engine import make_engine, make_reader_engine
from issuesight.db.issues import IssueStore
from issuesight.db.projects import ProjectStore
from issuesight.db.search import TutorialSearch
from issuesight.db.status_reader import (
    PostgresTutorialReader,
    ThreadedTutorialReader,
    TutorialReader,
)
from issuesight.db.tutorials import TutorialStore
from issuesight.github.oauth import GitHubOAuth
from issuesight.orchestration.temporal_client import TemporalUnavailable, connect_temporal

log = logging.getLogger(__name__)


class Resources:
    """The app's clients. Temporal is connected on first use, so the API starts (and reports
    itself unhealthy) while Temporal is down instead of refusing to start."""

    def __init__(self, settings: Settings, temporal: Client | None = None) -> None:
        self.settings = settings
        bounds = {
            "connect_timeout": settings.database_connect_timeout_seconds,
            "statement_timeout": settings.database_statement_timeout_seconds,
        }
        self.engine = make_engine(settings.database_url, **bounds)
        # TutorialStore's own single-statement reads run in the API's threadpool: one per thread.
        self.reader_engine = make_reader_engine(
            settings.database_url, connections=settings.api_threads, **bounds
        )
        self.store = TutorialStore(self.engine, reader=self.reader_engine)
        # Tracked repositories: written on the engine, listed through the reader (the pages).
        self.projects = ProjectStore(self.engine)
        self.project_reads = ProjectStore(self.reader_engine)
        self.issues = IssueStore(self.engine)
        self.deliveries = DeliveryStore(self.engine)
        self.search = TutorialSearch(self.reader_engine)
        self.concepts = ConceptReads(self.reader_engine)
        self.tutorials: TutorialReader = (
            PostgresTutorialReader(
                settings.database_url, connections=settings.status_read_connections, **bounds
            )
            if self.engine.dialect.name == "postgresql"
            else ThreadedTutorialReader(self.store)
        )
        self.accounts = AccountStore(self.engine, reader=self.reader_engine)
        rate = settings.write_rate_limit
        self.auth = Authenticator(
            self.accounts,
            settings,
            TokenBucket(self.engine, per_minute=rate, burst=settings.write_burst) if rate else None,
        )
        # The pages' signed-in browsers, and GitHub's OAuth web flow when it is configured.
        self.sessions = SessionStore(
            self.engine,
            reader=self.reader_engine,
            lifetime=timedelta(hours=settings.session_lifetime_hours),
            idle=timedelta(hours=settings.session_idle_hours),
            connect_timeout=settings.database_connect_timeout_seconds,
            statement_timeout=settings.database_statement_timeout_seconds,
        )
        self.github_oauth: GitHubOAuth | None = None
        if settings.github_oauth_client_id and settings.github_oauth_client_secret:
            self.github_oauth = GitHubOAuth(
                client_id=settings.github_oauth_client_id,
                client_secret=settings.github_oauth_client_secret.get_secret_value(),
                web_url=settings.github_oauth_base_url,
                api_url=settings.github_api_url,
                timeout=min(settings.github_timeout_seconds, 15.0),
            )
        self._temporal = temporal
        self._lock = asyncio.Lock()

    async def temporal(self) -> Client:
        if self._temporal is not None:
            return self._temporal
        async with self._lock:
            if self._temporal is None:
                self._temporal = await connect_temporal(self.settings)
            return self._temporal

    async def close(self) -> None:
        if self.github_oauth is not None:
            await self.github_oauth.aclose()
        await self.sessions.close()
        await self.tutorials.close()
        self.engine.dispose()
        self.reader_engine.dispose()


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in its
# threadpool, a thread hand-off per dependency per request on the hottest routes.


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


async def get_temporal(resources: ResourcesDep) -> Client:
    try:
        return await resources.temporal()
    except TemporalUnavailable as exc:
        log.warning("temporal unreachable", extra={"error": type(exc).__name__})
        raise HTTPException(
            status_code=503,
            detail="The job service (Temporal) is unreachable; nothing was changed. Retry in "
            "a moment.",
            headers={"Retry-After": "30"},
        ) from exc


async def get_tutorial_reader(resources: ResourcesDep) -> TutorialReader:
    return resources.tutorials


async def get_search(resources: ResourcesDep) -> TutorialSearch:
    return resources.search


async def get_projects(resources: ResourcesDep) -> ProjectStore:
    return resources.projects


async def get_concepts(resources: ResourcesDep) -> ConceptReads:
    return resources.concepts


ProjectStoreDep = Annotated[ProjectStore, Depends(get_projects)]
ConceptReadsDep = Annotated[ConceptReads, Depends(get_concepts)]
TutorialSearchDep = Annotated[TutorialSearch, Depends(get_search)]
TutorialReaderDep = Annotated[TutorialReader, Depends(get_tutorial_reader)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
TemporalDep = Annotated[Client, Depends(get_temporal)]

# Who is calling (api.auth): required, a rate-limited writer, an admin writer, an admin reading.
UserDep = Annotated[Principal, Depends(require_user)]
WriterDep = Annotated[Principal, Depends(require_writer)]
AdminDep = Annotated[Principal, Depends(require_admin)]
AdminReaderDep = Annotated[Principal, Depends(require_admin_reader)]


async def get_accounts(resources: ResourcesDep) -> AccountStore:
    return resources.accounts


AccountsDep = Annotated[AccountStore, Depends(get_accounts)]
