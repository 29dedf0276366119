"""What routes depend on, built once per app and handed out through `Depends`."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from temporalio.client import Client

from issuesight.db.engine import make_engine, make_reader_engine
from issuesight.db.status_reader import (
    PostgresTutorialReader,
    ThreadedTutorialReader,
    TutorialReader,
)
from issuesight.db.store import Store
from issuesight.settings import Settings
from issuesight.temporal_client import TemporalUnavailable, connect_temporal

log = logging.getLogger(__name__)


class Resources:
    """The app's clients. Temporal is connected on first use, so the API starts (and reports
    itself unhealthy) while Temporal is down instead of refusing to start."""

    def __init__(self, settings: Settings, temporal: Client | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        # Store's own single-statement reads run in the API's threadpool: one per thread.
        self.reader_engine = make_reader_engine(
            settings.database_url, connections=settings.api_threads
        )
        self.store = Store(self.engine, reader=self.reader_engine)
        self.tutorials: TutorialReader = (
            PostgresTutorialReader(
                settings.database_url, connections=settings.status_read_connections
            )
            if self.engine.dialect.name == "postgresql"
            else ThreadedTutorialReader(self.store)
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
        await self.tutorials.close()
        self.engine.dispose()
        self.reader_engine.dispose()


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in its
# threadpool, a thread hand-off per dependency per request on the hottest routes.


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_store(resources: ResourcesDep) -> Store:
    return resources.store


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


StoreDep = Annotated[Store, Depends(get_store)]
TutorialReaderDep = Annotated[TutorialReader, Depends(get_tutorial_reader)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
