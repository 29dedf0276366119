"""GitHub webhooks: verified before parsing, answered at once, the work done in workflows.

GitHub does not redeliver on its own, and a manual redelivery keeps its X-GitHub-Delivery, so the
delivery id is recorded and a redelivery changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from issuesight.accounts.principal import WEBHOOK
from issuesight.api.deps import Resources, ResourcesDep
from issuesight.db.models import WebhookDelivery
from issuesight.db.tracking import DEFAULT_LABELS, TrackingStore
from issuesight.refs import parse_issue_ref
from issuesight.submission import submit_issue
from issuesight.webhooks.github import (
    IssueEvent,
    PayloadError,
    PingEvent,
    SignatureError,
    delivery_fingerprint,
    parse_delivery,
    verify_signature,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


def _answer(code: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=code)


@router.post("/github", status_code=202)
async def github_webhook(request: Request, resources: ResourcesDep) -> JSONResponse:
    secret = resources.settings.github_webhook_secret
    if secret is None:
        return _answer(503, detail="GITHUB_WEBHOOK_SECRET is not set: deliveries are refused")
    # Bounded by WEBHOOK_MAX_BODY_BYTES while it is read (the router's max_body_size): 413
    # past it, before the signature is even checked.
    body = await request.body()
    try:
        verify_signature(
            secret.get_secret_value(), body, request.headers.get("x-hub-signature-256")
        )
    except SignatureError as exc:
        log.warning("webhook signature refused", extra={"reason": str(exc)})
        return _answer(401, detail=str(exc))
    try:
        event = parse_delivery(
            request.headers.get("x-github-event"), request.headers.get("x-github-delivery"), body
        )
    except PayloadError as exc:
        return _answer(400, detail=str(exc))
    if event is None:
        return _answer(202, status="ignored", reason="only issues and ping events are handled")
    tracking = TrackingStore(resources.engine)
    first = await asyncio.to_thread(tracking.first_delivery, _delivery_row(event, body))
    if not first:
        return _answer(200, status="duplicate", delivery=event.delivery_id)
    if isinstance(event, PingEvent):
        return _answer(200, status="pong", zen=event.zen)
    try:
        return await _handle_issue_event(event, body, resources, tracking)
    except RPCError as exc:
        # Forget the delivery so that GitHub's (manual) redelivery can do the work.
        await asyncio.to_thread(tracking.forget_delivery, event.delivery_id)
        log.warning("webhook work not started", extra={"error": exc.status.name})
        return _answer(503, detail="the job service (Temporal) is unavailable; redeliver later")


async def _handle_issue_event(
    event: IssueEvent, body: bytes, resources: Resources, tracking: TrackingStore
) -> JSONResponse:
    project = await asyncio.to_thread(tracking.get_project, event.repo_full_name)
    if project is None:
        return _answer(202, status="ignored", reason=f"{event.repo_full_name} is not tracked")
    if event.is_pull_request:
        return _answer(202, status="ignored", reason="pull requests have no tutorials")
    ref = parse_issue_ref(f"{event.repo_full_name}#{event.issue_number}")
    if event.action == "deleted":
        await asyncio.to_thread(tracking.mark_deleted, ref.key)
        return _answer(202, status="recorded", action=event.action)
    issue = json.loads(body)["issue"]
    labels = list(project.project.watch_labels or DEFAULT_LABELS)
    seen = await asyncio.to_thread(tracking.record_issue, event.repo_full_name, issue, labels)
    if not seen.watched or not (seen.changed or not seen.has_tutorial):
        return _answer(202, status="recorded", action=event.action)
    budget = resources.settings.llm_daily_token_budget
    if budget and (await asyncio.to_thread(resources.accounts.llm_budget, budget)).spent:
        # No generation while the LLM budget is spent. The issue is left looking changed, so
        # the repository's next sync picks it up, and waits for the budget (durably) itself.
        await asyncio.to_thread(tracking.forget_update, ref.key)
        return _answer(
            202,
            status="deferred",
            issue=ref.key,
            reason="the LLM token budget is spent; the next sync of the repository generates "
            "this tutorial once the budget allows",
        )
    client = await resources.temporal()
    await submit_issue(
        ref,
        store=resources.store,
        accounts=resources.accounts,
        client=client,
        settings=resources.settings,
        refresh=seen.has_tutorial,
        requester=WEBHOOK,
    )
    return _answer(202, status="started", issue=ref.key, refresh=seen.has_tutorial)


def _delivery_row(event: IssueEvent | PingEvent, body: bytes) -> WebhookDelivery:
    issue = isinstance(event, IssueEvent)
    return WebhookDelivery(
        delivery_id=event.delivery_id,
        event="issues" if issue else "ping",
        action=event.action if isinstance(event, IssueEvent) else None,
        body_sha256=delivery_fingerprint(body),
        repo_full_name=event.repo_full_name if isinstance(event, IssueEvent) else None,
        issue_number=event.issue_number if isinstance(event, IssueEvent) else None,
    )
