"""The core path end to end: REST submit → Temporal workflow → GitHub and LLM over HTTP →
database → REST status, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from fakes import FakeGitHub, FakeOpenAI
from fakes.scenarios import APP_SOURCE, CONTRIBUTING, README, seed_hello_world
from issuesight.db.models import (
    Concept,
    ConceptRelationship,
    GitHubIssue,
    Project,
    ProjectConcept,
    TutorialConcept,
    TutorialContent,
)
from issuesight.domain.refs import make_ref
from issuesight.workflows.contracts import TutorialRequest
from issuesight.workflows.tutorial import TutorialWorkflow
from tests.helpers import GITHUB_TOKEN, OPENAI_KEY, MakeStack, wait_finished


async def test_submit_generates_a_tutorial_from_the_whole_context(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    lower = repo_name.lower()
    stack = await make_stack(database_url)

    response = await stack.api.post("/api/v1/tutorials", json={"issue": f"Octo-Org/{repo_name}#1"})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["issue"] == f"octo-org/{lower}#1"
    assert accepted["status"] == "PENDING"
    uuid.UUID(accepted["id"])

    body = await wait_finished(stack.api, accepted["status_url"])
    assert body["status"] == "COMPLETED", body
    assert body["difficulty"] == "beginner"
    assert body["markdown"].startswith("# ")
    assert body["tutorial"]["summary"]

    assert llm.count() == 1
    prompt = llm.prompt_text(llm.calls[0])
    for expected in (
        "greet() crashes when name is None",
        "Calling greet(None) crashes.",
        "I can reproduce this on Python 3.12.",
        "Maybe return 'Hello stranger'?",
        README.strip().splitlines()[-1],
        CONTRIBUTING.strip().splitlines()[-1],
        APP_SOURCE.splitlines()[2].strip(),
    ):
        assert expected in prompt, f"prompt lacks {expected!r}"
    assert llm.calls[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert OPENAI_KEY not in prompt
    assert GITHUB_TOKEN not in prompt

    files = body["tutorial"]["files_to_read"]
    commit = github.repo(f"octo-org/{lower}").commit_sha
    paths = [f["path"] for f in files]
    assert "README.md" in paths
    assert "src/hello/app.py" in paths
    assert "does/not/exist.py" not in paths
    assert body["tutorial"]["unverified_paths"] == ["does/not/exist.py"]
    assert all(f["url"].endswith(f"/blob/{commit}/{f['path']}") for f in files)
    assert body["commit_sha"] == commit

    engine = stack.store.engine
    with engine.connect() as connection:

        def count(table: type) -> int:
            return int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar())

        assert count(Project) == 1
        assert count(GitHubIssue) == 1
        assert count(TutorialContent) == 1
        assert count(Concept) >= 2
        assert count(ConceptRelationship) >= 1
        assert count(TutorialConcept) >= 1
        assert count(ProjectConcept) == count(TutorialConcept)
        issue = connection.execute(sa.select(GitHubIssue)).one()
        assert issue.raw_data["title"] == "greet() crashes when name is None"
        assert issue.gh_issue_id is not None
        project = connection.execute(sa.select(Project)).one()
        assert project.full_name == f"octo-org/{lower}"
        assert project.display_name == f"Octo-Org/{repo_name}"

    # Asking again answers from the database: 200, the tutorial, no second generation.
    again = await stack.api.post(
        "/api/v1/tutorials", json={"issue": f"https://github.com/octo-org/{lower}/issues/1"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == accepted["id"]
    assert again.json()["status"] == "COMPLETED"
    assert llm.count() == 1

    by_issue = await stack.api.get(f"/api/v1/issues/Octo-Org/{lower}/1/tutorial")
    assert by_issue.status_code == 200
    assert by_issue.json()["id"] == accepted["id"]

    listing = await stack.api.get(
        "/api/v1/tutorials",
        params={"repo": f"Octo-Org/{repo_name}", "status": "COMPLETED", "difficulty": "beginner"},
    )
    assert listing.status_code == 200
    assert [item["id"] for item in listing.json()["items"]] == [accepted["id"]]
    concept = body["concepts"][0]
    by_concept = await stack.api.get("/api/v1/tutorials", params={"concept": concept, "q": "greet"})
    assert by_concept.json()["total"] == 1
    none = await stack.api.get("/api/v1/tutorials", params={"repo": "someone/else"})
    assert none.json() == {"items": [], "total": 0, "limit": 20, "offset": 0}


async def test_issues_of_one_repository_share_its_reads(
    make_stack: MakeStack, sqlite_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    """The second issue of a repository costs GitHub only its own issue and timeline; the
    repository, head commit and the archive (its files, README and CONTRIBUTING) come from the
    worker's caches. Comments and linked pull requests both come from the one timeline read."""
    seed_hello_world(github, repo_name, number=1)
    seed_hello_world(github, repo_name, number=2, comments=["Still broken on 3.13."])
    github.add_cross_reference(f"octo-org/{repo_name}", 2, 7, merged=False)
    stack = await make_stack(sqlite_url)

    first = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    assert (await wait_finished(stack.api, first.json()["status_url"]))["status"] == "COMPLETED"
    cold = [r.path for r in github.requests if r.counted]
    github.reset_log()
    second = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#2"})
    assert (await wait_finished(stack.api, second.json()["status_url"]))["status"] == "COMPLETED"

    paths = sorted(r.path.rsplit("/", 1)[-1] for r in github.requests)
    assert paths == ["2", "timeline"], paths
    # Repository, issue, timeline, head commit and the archive's redirect (its download from
    # the archive host is not an API call); nothing file by file.
    assert len(cold) == 5, cold
    assert sum("/tarball/" in p for p in cold) == 1, cold
    assert not [p for p in cold if "/git/" in p or "/readme" in p], cold
    assert github.count(r"/comments$") == 0
    prompt = llm.prompt_text(llm.calls[1])
    assert "Still broken on 3.13." in prompt
    assert "#7" in prompt
    assert "Fix #2" in prompt
    assert README.strip().splitlines()[-1] in prompt
    assert APP_SOURCE.splitlines()[2].strip() in prompt


async def test_status_polls_with_an_etag_get_304_until_the_tutorial_changes(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, llm: FakeOpenAI, repo_name: str
) -> None:
    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url)
    accepted = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    status_url = accepted.json()["status_url"]
    pending = await stack.api.get(status_url)
    assert pending.status_code == 200
    assert pending.headers["cache-control"] == "no-cache"
    body = await wait_finished(stack.api, status_url)
    assert body["concepts"] == sorted(body["concepts"])
    assert body["concepts"]

    done = await stack.api.get(status_url)
    etag = done.headers["etag"]
    assert etag != pending.headers["etag"], "a finished tutorial has a new ETag"
    not_modified = await stack.api.get(status_url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    by_issue = await stack.api.get(
        f"/api/v1/issues/octo-org/{repo_name}/1/tutorial", headers={"If-None-Match": etag}
    )
    assert by_issue.status_code == 304
    other = await stack.api.get(status_url, headers={"If-None-Match": 'W/"something-else"'})
    assert other.status_code == 200
    assert other.json() == done.json()
    again = await stack.api.post("/api/v1/tutorials", json={"issue": f"octo-org/{repo_name}#1"})
    assert again.status_code == 200
    assert again.headers["etag"] == etag, "a resubmission answers with the same representation"
    assert again.json() == done.json()


async def test_a_run_started_outside_the_api_records_its_tutorial(
    make_stack: MakeStack, database_url: str, github: FakeGitHub, repo_name: str
) -> None:
    """An operator may start a run with `temporal workflow start`: nothing is in the database
    for it yet, and the run still records the tutorial it generates."""
    seed_hello_world(github, repo_name)
    stack = await make_stack(database_url)
    ref = make_ref("octo-org", repo_name, 1)
    assert stack.store.get_tutorial(ref.tutorial_id) is None

    handle = await stack.client.start_workflow(
        TutorialWorkflow.run,
        TutorialRequest(ref.key),
        id=ref.workflow_id,
        task_queue=stack.settings.temporal_task_queue,
    )
    outcome = await handle.result()

    assert outcome.generated
    body = (await stack.api.get(f"/api/v1/tutorials/{ref.tutorial_id}")).json()
    assert body["status"] == "COMPLETED", body
    assert body["issue"] == ref.key
    assert body["generation"] == outcome.generation == 1
