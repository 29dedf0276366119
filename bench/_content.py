"""Hand-made issue contexts (no GitHub needed) and COMPLETED tutorials written through
TutorialStore."""

from __future__ import annotations

import uuid
from typing import Any

from fakes import FakeOpenAI
from fakes.scenarios import APP_SOURCE, CONTRIBUTING, README
from issuesight.activities.store import StoreActivities
from issuesight.context.bundle import build_bundle
from issuesight.context.gather import FetchedFile, RawContext
from issuesight.db.tutorials import TutorialStore
from issuesight.domain.refs import IssueRef, make_ref
from issuesight.workflows.contracts import CompleteInput

COMMIT = "a" * 40
README_END = "README-END-MARKER"
FILE_END = "FILE-END-MARKER"
ISSUE_START, ISSUE_END = "ISSUE-START-MARKER", "ISSUE-END-MARKER"
REPRO = "I can reproduce this on 3.12. "


def comment_marker(index: int) -> str:
    return f"COMMENT-{index:04d}-MARKER"


def make_raw(
    ref: IssueRef, *, body_chars: int, comments: int, comment_chars: int = 600
) -> RawContext:
    """An issue of about `body_chars` characters with `comments` comments, in a repository with a
    README, a CONTRIBUTING guide and one source file the issue refers to."""
    filler = "The greeting breaks when the name is missing; see src/hello/app.py line 3. "
    middle = (filler * (body_chars // len(filler) + 1))[: max(0, body_chars - 40)]
    body = f"{ISSUE_START} {middle} {ISSUE_END}"
    notes = [
        {
            "id": 10_000 + i,
            "user": {"login": f"user{i % 17}"},
            "created_at": f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "updated_at": f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "body": f"{comment_marker(i)} " + REPRO * (comment_chars // len(REPRO)),
        }
        for i in range(comments)
    ]
    repo = {
        "id": 1,
        "full_name": ref.repo_full_name,
        "html_url": f"https://github.com/{ref.repo_full_name}",
        "description": "A tiny greeting library",
        "language": "Python",
        "default_branch": "main",
    }
    issue = {
        "id": 2,
        "number": ref.number,
        "title": "greet() crashes when name is None",
        "body": body,
        "state": "open",
        "labels": [{"name": "good first issue"}],
        "assignees": [],
        "user": {"login": "octocat"},
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-06-01T00:00:00Z",
        "comments": comments,
    }
    source = APP_SOURCE + f"# {FILE_END}\n"
    return RawContext(
        repo=repo,
        issue=issue,
        comments=notes,
        comments_total=comments,
        commit_sha=COMMIT,
        tree_paths=["CONTRIBUTING.md", "README.md", "src/hello/__init__.py", "src/hello/app.py"],
        readme=("README", README + f"\n{README_END}\n"),
        contributing=("CONTRIBUTING.md", CONTRIBUTING),
        files=[
            FetchedFile(
                path="src/hello/app.py",
                blob_sha="b" * 40,
                text=source,
                reasons=("named in the issue",),
                line=None,
                explicit=True,
                size=len(source),
            )
        ],
    )


def seed_completed(
    store: TutorialStore, count: int, *, budget_chars: int = 60_000
) -> list[uuid.UUID]:
    """`count` COMPLETED tutorials through the same TutorialStore calls a generation makes; the
    last step is the real complete_tutorial activity (finalize, render, concepts)."""
    draft: dict[str, Any] = FakeOpenAI().default_tutorial(None)  # type: ignore[arg-type]
    finish = StoreActivities(store, secrets=())
    repo = f"bench-status-{uuid.uuid4().hex[:8]}"
    ids = []
    for number in range(1, count + 1):
        ref = make_ref("octo-org", repo, number)
        raw = make_raw(ref, body_chars=1_500, comments=3)
        bundle = build_bundle(raw, ref, budget_chars=budget_chars)
        run_id = str(uuid.uuid4())
        store.register_submission(ref)
        store.begin_generation(ref.tutorial_id, 1)
        store.save_context(
            ref,
            repo=raw.repo,
            issue=raw.issue,
            bundle=bundle.model_dump(mode="json"),
            commit_sha=raw.commit_sha,
            fingerprint=bundle.fingerprint,
            run_id=run_id,
        )
        usage = {"prompt_chars": 9_000, "prompt_tokens": 2_250, "completion_tokens": 600}
        store.save_draft(ref.tutorial_id, run_id, draft, usage | {"model": "gpt-4o-mini"})
        finish.complete_tutorial(CompleteInput(ref.key, run_id))
        ids.append(ref.tutorial_id)
    return ids
