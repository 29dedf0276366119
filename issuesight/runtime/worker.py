"""The worker: builds every client once, hands them to the activity classes, runs until told to
stop, then shuts down explicitly so in-flight work is reported or retried elsewhere."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from issuesight.accounts.store import AccountStore
from issuesight.activities.budget import BudgetActivities
from issuesight.activities.github import GitHubActivities, heartbeat_if_in_activity
from issuesight.activities.jobs import TutorialJobActivities
from issuesight.activities.llm import LLMActivities
from issuesight.activities.store import ArchiveActivities, StoreActivities
from issuesight.activities.sync import SyncActivities
from issuesight.context.gather import GatherOptions
from issuesight.context.indexes import IndexSettings, RepoIndexes
from issuesight.core.settings import Settings
from issuesight.db.engine import make_engine
from issuesight.db.http_cache import HttpCacheStore
from issuesight.db.issues import IssueStore
from issuesight.db.projects import ProjectStore
from issuesight.db.tutorials import TutorialStore
from issuesight.github.cache import SharedReads
from issuesight.github.client import GitHubClient
from issuesight.llm.chat import make_client
from issuesight.llm.localize import Localizer
from issuesight.orchestration.schedules import (
    ensure_archive_schedule,
    ensure_reconcile_schedule,
    resync_sync_schedules,
)
from issuesight.orchestration.temporal_client import connect_temporal, metrics_runtime
from issuesight.runtime.processes import serve_api
from issuesight.runtime.worker_http import worker_app
from issuesight.workflows.reconcile import ReconcileWorkflow
from issuesight.workflows.sync import ArchiveWorkflow, RepoSyncWorkflow
from issuesight.workflows.tutorial import TutorialWorkflow

log = logging.getLogger(__name__)

WORKFLOWS = [TutorialWorkflow, RepoSyncWorkflow, ArchiveWorkflow, ReconcileWorkflow]
# Activities heartbeat, so a grace period of seconds is enough: what does not finish in it is
# retried on another worker after its heartbeat timeout.
GRACEFUL_SHUTDOWN = timedelta(seconds=20)


def index_settings(settings: Settings) -> IndexSettings:
    return IndexSettings(
        cache_dir=settings.retrieval_cache_dir,
        disk_bytes=settings.retrieval_cache_mb * 1024**2,
        memory_bytes=settings.retrieval_memory_mb * 1024**2,
        archive_bytes=settings.retrieval_archive_mb * 1024**2,
    )


async def run_worker(
    settings: Settings,
    stop: asyncio.Event,
    *,
    client: Client | None = None,
    ensure_schedules: bool = False,
) -> None:
    async with AsyncExitStack() as stack:
        if client is None:
            client = await connect_temporal(settings, runtime=metrics_runtime(settings))
        engine = make_engine(
            settings.database_url,
            connect_timeout=settings.database_connect_timeout_seconds,
            statement_timeout=settings.database_statement_timeout_seconds,
        )
        stack.callback(engine.dispose)
        secrets = settings.secret_values()
        store = TutorialStore(engine, secrets=secrets)
        issues = IssueStore(engine)
        github = GitHubClient(
            settings.github_api_url,
            token=settings.github_token.get_secret_value() if settings.github_token else None,
            timeout=settings.github_timeout_seconds,
            on_request=heartbeat_if_in_activity,
        )
        stack.push_async_callback(github.aclose)
        llm = make_client(
            settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
            settings.openai_base_url,
            settings.llm_timeout_seconds,
        )
        stack.push_async_callback(llm.close)
        shared_reads = SharedReads(github, max_bytes=settings.github_cache_mb * 1024 * 1024)
        indexes = RepoIndexes(github, index_settings(settings), keepalive=heartbeat_if_in_activity)
        stack.callback(indexes.close)
        github_activities = GitHubActivities(
            shared_reads,
            store,
            budget_chars=settings.prompt_budget_chars,
            secrets=secrets,
            gather=GatherOptions(
                allowed_private_owners=settings.allowed_private_owners, indexes=indexes
            ),
            localizer=Localizer(
                llm,
                model=settings.llm_model,
                max_tokens=settings.retrieval_llm_max_tokens,
                max_attempts=settings.llm_max_attempts,
                cache_dir=settings.retrieval_cache_dir,
                secrets=secrets,
                cap_field=settings.llm_output_cap_field,
            )
            if settings.retrieval_llm == "on"
            else None,
        )
        llm_activities = LLMActivities(
            llm,
            store,
            model=settings.llm_model,
            max_output_tokens=settings.llm_max_output_tokens,
            cap_field=settings.llm_output_cap_field,
            max_concurrency=settings.llm_max_concurrency,
        )
        store_activities = StoreActivities(
            store,
            secrets=secrets,
            refresh_cooldown=timedelta(minutes=settings.refresh_cooldown_minutes),
        )
        projects = ProjectStore(engine)
        sync_activities = SyncActivities(
            shared_reads,
            projects,
            issues,
            HttpCacheStore(engine),
            allowed_private_owners=settings.allowed_private_owners,
        )
        accounts = AccountStore(engine)
        job_activities = TutorialJobActivities(client, store, accounts, settings, issues)
        budget_activities = BudgetActivities(accounts, settings.llm_daily_token_budget)
        archive_activities = ArchiveActivities(issues)
        if ensure_schedules:
            await ensure_archive_schedule(client, settings)
            await ensure_reconcile_schedule(client, settings)
            tracked = await asyncio.to_thread(projects.list_projects)
            await resync_sync_schedules(client, settings, [v.project.full_name for v in tracked])
        executor = stack.enter_context(ThreadPoolExecutor(max_workers=16))
        worker = Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=WORKFLOWS,
            activities=[
                github_activities.fetch_issue_context,
                llm_activities.generate_tutorial_draft,
                store_activities.begin_generation,
                store_activities.complete_tutorial,
                store_activities.mark_tutorial_failed,
                store_activities.mark_tutorial_unchanged,
                store_activities.mark_tutorial_stale,
                sync_activities.begin_repo_sync,
                sync_activities.sync_issue_page,
                sync_activities.finish_repo_sync,
                sync_activities.remember_issue_page,
                job_activities.run_tutorial_job,
                job_activities.reconcile_tutorials,
                archive_activities.archive_closed_issues,
                budget_activities.check_llm_budget,
            ],
            activity_executor=executor,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        )
        running = asyncio.Event()
        if settings.worker_http_port:
            http_stop = asyncio.Event()
            app = worker_app(client, engine, running)
            serving = asyncio.create_task(
                serve_api(app, "0.0.0.0", settings.worker_http_port, http_stop)  # noqa: S104
            )

            async def stop_http() -> None:
                http_stop.set()
                await serving

            stack.push_async_callback(stop_http)
        log.info("worker started", extra={"task_queue": settings.temporal_task_queue})
        async with worker:
            running.set()
            await stop.wait()
            running.clear()
            log.info("worker stopping: finishing in-flight activities")
        log.info("worker stopped")
