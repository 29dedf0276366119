"""Bad input gets a clear, defined outcome: permanent GitHub failures end the job at once with a
reason and no LLM call; malformed references never reach Temporal."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import seed_hello_world
from issuesight.db.tutorials import TutorialStore
from issuesight.domain.refs import make_ref, parse_issue_ref
from tests.helpers import WEBHOOK_SECRET, MakeStack, submit_and_wait
from tests.paths import BLNS


@pytest.mark.parametrize(
    ("setup", "failure_type", "reason_part"),
    [
        ("unknown_repo", "RepositoryNotFound", "was not found on GitHub"),
        ("private_repo", "RepositoryNotFound", "private"),
        ("unknown_issue", "IssueNotFound", "does not exist"),
        ("deleted_issue", "IssueDeleted", "was deleted"),
        ("pull_request", "NotAnIssue", "is a pull request"),
    ],
)
async def test_permanent_failures_end_the_job_at_once(
    make_stack: MakeStack,
    sqlite_url: str,
    github: FakeGitHub,
    llm: FakeOpenAI,
    repo_name: str,
    setup: str,
    failure_type: str,
    reason_part: str,
) -> None:
    number = 1
    overrides: dict[str, Any] = {}
    if setup == "private_repo":
        github.add_repo("Octo-Org", repo_name, private=True)
        overrides["github_token"] = None  # GitHub answers 404 for what a caller cannot see
    elif setup == "unknown_issue":
        seed_hello_world(github, repo_name)
        number = 999
    elif setup == "deleted_issue":
        seed_hello_world(github, repo_name)
        github.delete_issue(f"Octo-Org/{repo_name}", 1)
    elif setup == "pull_request":
        seed_hello_world(github, repo_name, is_pull_request=True)
    stack = await make_stack(sqlite_url, **overrides)

    started = time.monotonic()
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#{number}", within=20)
    elapsed = time.monotonic() - started

    assert body["status"] == "FAILED"
    assert body["failure_type"] == failure_type
    assert reason_part in body["failure_reason"]
    assert llm.count() == 0
    # Permanent: one GitHub attempt, not a retry loop (generous bound: this is not a timing test).
    assert elapsed < 10
    handle = stack.client.get_workflow_handle(
        parse_issue_ref(f"octo-org/{repo_name}#{number}").workflow_id
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()
    assert reason_part in str(failure.value.cause)
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED


async def test_bad_credentials_fail_with_an_actionable_reason(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(sqlite_url, github_token="ghp_" + "wrongtoken" + "0" * 27)
    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1", within=20)
    assert body["status"] == "FAILED"
    assert body["failure_type"] == "BadCredentials"
    assert "GITHUB_TOKEN" in body["failure_reason"]
    assert "ghp_wrongtoken" not in json.dumps(body)
    assert llm.count() == 0


MALFORMED = [
    "",
    "   ",
    "octo-org/hello-world",
    "octo-org/hello-world#",
    "octo-org/hello-world#0",
    "octo-org/hello-world#-3",
    "octo-org/hello-world#1.5",
    "octo-org#1",
    "octo-org/hello/world#1",
    "../../etc/passwd#1",
    "octo-org/..#1",
    "-octo/repo#1",
    "https://gitlab.com/octo-org/hello-world/issues/1",
    "https://github.com.evil.example/octo-org/hello-world/issues/1",
    "https://github.com/octo-org/hello-world/pull/1",
    "https://github.com/octo-org/hello-world/issues/abc",
    "octo-org/hello-world#99999999999",
    "o" * 5000 + "/r#1",
    "octo-org/hello-world#1; DROP TABLE projects",
    "javascript:alert(1)",
]


async def test_malformed_references_are_refused_with_the_valid_forms(
    make_stack: MakeStack, sqlite_url: str
) -> None:
    stack = await make_stack(sqlite_url, worker=False)
    for reference in MALFORMED:
        response = await stack.api.post("/api/v1/tutorials", json={"issue": reference})
        assert response.status_code == 422, reference
        detail = response.json()["detail"]
        assert isinstance(detail, (str, list)), reference
        if isinstance(detail, str):
            assert "owner/repo#123" in detail
    listing = await stack.api.get("/api/v1/tutorials")
    assert listing.json()["total"] == 0  # nothing was recorded for a refused reference


async def test_naughty_strings_never_crash_the_api(make_stack: MakeStack, sqlite_url: str) -> None:
    stack = await make_stack(sqlite_url, worker=False)
    naughty = json.loads(BLNS.read_text())
    for text in naughty:
        response = await stack.api.post("/api/v1/tutorials", json={"issue": text})
        assert response.status_code == 422, text
    for text in naughty[:100]:
        response = await stack.api.get("/api/v1/tutorials", params={"q": text[:200]})
        assert response.status_code in (200, 422), text
    assert (await stack.api.get("/api/v1/tutorials")).json()["total"] == 0


async def test_unknown_tutorial_ids_answer_404(make_stack: MakeStack, sqlite_url: str) -> None:
    stack = await make_stack(sqlite_url, worker=False)
    missing = await stack.api.get("/api/v1/tutorials/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert (await stack.api.get("/api/v1/tutorials/not-a-uuid")).status_code == 422
    by_issue = await stack.api.get("/api/v1/issues/octo-org/nothing/5/tutorial")
    assert by_issue.status_code == 404
    assert "octo-org/nothing#5" in by_issue.json()["detail"]
    bad = await stack.api.get("/api/v1/issues/octo-org/nothing/0/tutorial")
    assert bad.status_code == 422


async def test_a_failure_reason_is_scrubbed_before_readers_see_it(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """GitHub's own message is part of some reasons (403, 422): a token or a configured secret
    in it is redacted where the reason is stored, so the JSON, the page and the CLI never show
    it."""
    pasted = "ghp_" + "C" * 36
    seed_hello_world(github, repo_name)
    github.fail_next(
        r"/issues/1$",
        403,
        body={"message": f"Token {pasted} may not read this; hook secret {WEBHOOK_SECRET}"},
    )
    stack = await make_stack(database_url)

    body = await submit_and_wait(stack, f"octo-org/{repo_name}#1", within=20)

    assert body["status"] == "FAILED"
    assert body["failure_type"] == "Forbidden"
    assert "may not read this" in body["failure_reason"]  # GitHub's words stay
    assert "[redacted]" in body["failure_reason"]
    page = await stack.api.get(f"/issues/octo-org/{repo_name.lower()}/1")
    assert "may not read this" in page.text
    for shown in (json.dumps(body), page.text):
        assert pasted not in shown
        assert WEBHOOK_SECRET not in shown
    assert llm.count() == 0


def test_an_unclassified_exception_shows_its_type_not_its_text(store: TutorialStore) -> None:
    """An exception no code classified (a database driver's, say) carries the library's text:
    hosts, ports, URLs. Readers get its type and what to do, never that text."""
    ref = make_ref("octo-org", "unclassified", 3)
    store.register_submission(ref)
    store.mark_failed(
        ref.tutorial_id,
        reason='connection to server at "db-7.internal.corp" (10.20.30.40), port 5432 failed: '
        "see https://ops.internal.corp/runbooks/db",
        failure_type="OperationalError",
    )

    view = store.get_tutorial(ref.tutorial_id)
    assert view is not None
    reason = view.content.failure_reason or ""
    assert "OperationalError" in reason
    assert "again" in reason  # what to do about it
    for leaked in ("internal.corp", "10.20.30.40", "5432", "https://"):
        assert leaked not in reason
    assert view.content.failure_type == "OperationalError"
