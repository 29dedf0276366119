"""GitHub webhooks: verified before parsing, answered at once, the work done in workflows.

GitHub does not redeliver on its own, and a manual redelivery keeps its X-GitHub-Delivery, so the
delivery id is recorded and a redelivery changes nothing. It is recorded once the delivery's
work has started, so a delivery answered 503 (Temporal unreachable) is done when redelivered;
and an issue older than the version already stored (an out-of-order or replayed delivery) is
ignored rather than written over it.
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
from issuesight.api import responses
from issuesight.api.deps import Resources, ResourcesDep
from issuesight.api.schemas import WebhookAnswer
from issuesight.db.models import WebhookDelivery
from issuesight.db.projects import watched_labels
from issuesight.domain.refs import parse_issue_ref
from issuesight.github.visibility import may_publish, repository_missing
from issuesight.orchestration.submission import submit_issue
from issuesight.orchestration.temporal_client import TemporalUnavailable
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
RETRY_AFTER_SECONDS = 60
router = APIRouter(prefix="/webhooks", tags=["webhooks"])


def _answer(code: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=code)


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


@router.post(
    "/github",
    status_code=202,
    response_model=WebhookAnswer,
    responses={
        200: {"model": WebhookAnswer, "description": "A ping (pong), or a delivery seen before"},
        **responses.error(400, "Not a delivery GitHub would send (headers, JSON)"),
        **responses.error(401, "The signature does not match the body"),
        **responses.too_large("The body is larger than WEBHOOK_MAX_BODY_BYTES"),
        **responses.error(
            503,
            "GITHUB_WEBHOOK_SECRET is not set, or Temporal is unreachable (redeliver later)",
            Retry_After=responses.RETRY_AFTER,
        ),
    },
    # The body is read raw (the signature covers its bytes), so FastAPI cannot infer these.
    openapi_extra={
        "parameters": [
            _header("X-Hub-Signature-256", "sha256=HMAC of the body with the webhook secret"),
            _header("X-GitHub-Event", "the event: issues and ping are handled"),
            _header("X-GitHub-Delivery", "the delivery's id; a redelivery keeps it"),
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
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
    if await asyncio.to_thread(resources.deliveries.delivery_seen, event.delivery_id):
        return _answer(200, status="duplicate", delivery=event.delivery_id)
    if isinstance(event, PingEvent):
        answer, outcome = _answer(200, status="pong", zen=event.zen), "pong"
    else:
        try:
            answer, outcome = await _handle_issue_event(event, body, resources)
        except (TemporalUnavailable, RPCError) as exc:
            log.warning("webhook work not started", extra={"error": type(exc).__name__})
            return JSONResponse(
                {"detail": TEMPORAL_DOWN},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
    # Recorded only now that its work has started (or needed none): a delivery whose work
    # could not start is not a "duplicate" when GitHub delivers it again.
    await asyncio.to_thread(
        resources.deliveries.record_delivery, _delivery_row(event, body, outcome)
    )
    return answer


TEMPORAL_DOWN = (
    "The job service (Temporal) is unreachable. The issue's new state is recorded and its "
    "tutorial job is started by the reconciler once Temporal answers again; this delivery is "
    "not marked handled, so redelivering it is safe."
)


async def _handle_issue_event(
    event: IssueEvent, body: bytes, resources: Resources
) -> tuple[JSONResponse, str]:
    project = await asyncio.to_thread(resources.projects.get_project, event.repo_full_name)
    if project is None:
        reason = f"{event.repo_full_name} is not tracked"
        return _answer(202, status="ignored", reason=reason), "ignored: not tracked"
    payload = json.loads(body)
    owner, _, name = event.repo_full_name.partition("/")
    allowed = resources.settings.allowed_private_owners
    if not may_publish(payload["repository"], allowed, owner=owner):
        # Nothing of it is recorded or started: the same rule as the sync's and a tutorial's.
        reason = repository_missing(owner, name).message
        return _answer(202, status="ignored", reason=reason), "ignored: not found"
    if event.is_pull_request:
        reason = "pull requests have no tutorials"
        return _answer(202, status="ignored", reason=reason), "ignored: pull request"
    ref = parse_issue_ref(f"{event.repo_full_name}#{event.issue_number}")
    if event.action == "deleted":
        await asyncio.to_thread(resources.issues.mark_deleted, ref.key)
        return _answer(202, status="recorded", action=event.action), "deleted"
    issue = payload["issue"]
    labels = watched_labels(project.project)
    seen = await asyncio.to_thread(
        resources.issues.record_issue, event.repo_full_name, issue, labels
    )
    if seen.outdated:
        # An out-of-order or replayed delivery: a newer version of the issue is stored.
        reason = "older than the version of the issue already recorded"
        return _answer(202, status="ignored", reason=reason), "ignored: outdated"
    if not seen.needs_job:
        return _answer(202, status="recorded", action=event.action), "recorded"
    budget = resources.settings.llm_daily_token_budget
    if budget and (await asyncio.to_thread(resources.accounts.llm_budget, budget)).spent:
        # No generation while the LLM budget is spent. The version is not marked handled, so
        # the repository's next sync (which waits for the budget, durably) or the reconciler
        # (which starts nothing while it is spent) picks it up.
        answer = _answer(
            202,
            status="deferred",
            issue=ref.key,
            reason="the LLM token budget is spent; the next sync of the repository generates "
            "this tutorial once the budget allows",
        )
        return answer, "deferred: LLM budget"
    await submit_issue(
        ref,
        store=resources.store,
        accounts=resources.accounts,
        client=resources.temporal,
        settings=resources.settings,
        refresh=seen.has_tutorial,
        requester=WEBHOOK,
    )
    await asyncio.to_thread(resources.issues.mark_handled, ref.key, seen.updated_at)
    answer = _answer(202, status="started", issue=ref.key, refresh=seen.has_tutorial)
    return answer, "started"


def _delivery_row(event: IssueEvent | PingEvent, body: bytes, outcome: str) -> WebhookDelivery:
    issue = isinstance(event, IssueEvent)
    return WebhookDelivery(
        delivery_id=event.delivery_id,
        event="issues" if issue else "ping",
        action=event.action if isinstance(event, IssueEvent) else None,
        body_sha256=delivery_fingerprint(body),
        repo_full_name=event.repo_full_name if isinstance(event, IssueEvent) else None,
        issue_number=event.issue_number if isinstance(event, IssueEvent) else None,
        outcome=outcome,
    )
