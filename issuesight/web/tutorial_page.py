"""The tutorial page: the issue first, then the context bridge, or its progress, or why it
failed. A pure function of the status read's row (`TutorialView`), so it is rendered once per
version of a tutorial and kept, exactly as the JSON status route keeps its body
(db.renderings): a page read while nothing changed costs what the JSON read costs (bench.web).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from issuesight.db.renderings import Render, RenderedTutorial, RenderingCache
from issuesight.db.tutorials import TutorialView
from issuesight.domain.failures import FailureKind
from issuesight.domain.status import RUNNING_STAGES, Stage, TutorialStatus
from issuesight.web import templating

# What a failure type means for the reader, and whether trying again can help.
FAILURE_EXPLANATIONS: dict[str, tuple[str, bool]] = {
    FailureKind.REPOSITORY_NOT_FOUND: (
        "GitHub says this repository does not exist, or it is private. Check the owner and "
        "the repository name.",
        False,
    ),
    FailureKind.ISSUE_NOT_FOUND: (
        "GitHub has no issue with this number in this repository. Check the number.",
        False,
    ),
    FailureKind.NOT_FOUND: ("GitHub could not find what this reference points to.", False),
    FailureKind.ISSUE_DELETED: ("The issue was deleted on GitHub.", False),
    FailureKind.NOT_AN_ISSUE: (
        "This number is a pull request, not an issue. IssueSight explains issues.",
        False,
    ),
    FailureKind.INVALID_REFERENCE: ("This is not a reference to a GitHub issue.", False),
    FailureKind.BAD_CREDENTIALS: (
        "GitHub refused the server's token (GITHUB_TOKEN). The operator must fix it.",
        False,
    ),
    FailureKind.FORBIDDEN: ("GitHub refused access to this repository.", False),
    FailureKind.INVALID_REQUEST: ("GitHub refused the request as invalid.", False),
    FailureKind.LLM_AUTH: (
        "The language model refused the server's key (OPENAI_API_KEY). The operator must fix it.",
        False,
    ),
    FailureKind.LLM_REJECTED: ("The language model refused the request.", False),
    FailureKind.GITHUB_RATE_LIMITED: ("GitHub's rate limit was spent. Try again later.", True),
    FailureKind.GITHUB_UNAVAILABLE: ("GitHub did not answer properly. Try again in a while.", True),
    FailureKind.LLM_RATE_LIMITED: (
        "The language model was busy (rate limited). Try again later.",
        True,
    ),
    FailureKind.LLM_UNAVAILABLE: (
        "The language model did not answer properly. Try again later.",
        True,
    ),
    FailureKind.LLM_TIMEOUT: ("The language model took too long to answer. Try again later.", True),
    FailureKind.LLM_INVALID_OUTPUT: (
        "The language model kept answering with something that is not a valid tutorial. "
        "Trying again may work.",
        True,
    ),
    FailureKind.TIMEOUT: ("A step took too long. Try again in a while.", True),
}
UNKNOWN_FAILURE = ("Something went wrong while writing the tutorial.", True)


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _File(_Loose):
    path: str
    why: str = ""
    url: str = ""


class _Prerequisite(_Loose):
    concept: str
    why: str = ""


class _Flag(_Loose):
    kind: str = ""
    detail: str = ""


class _Concept(_Loose):
    slug: str
    name: str = ""
    description: str = ""


class StoredTutorial(_Loose):
    """The structured tutorial as stored (tutorial.finalize), read leniently: a field that is
    missing (an older version) is left out of the page rather than failing it."""

    title: str = ""
    summary: str = ""
    junior_friendly_reason: str = ""
    prerequisites: list[_Prerequisite] = []
    architecture_overview: str = ""
    files_to_read: list[_File] = []
    unverified_paths: list[str] = []
    implementation_steps: list[str] = []
    how_to_test: list[str] = []
    questions_for_maintainers: list[str] = []
    red_flags: list[_Flag] = []
    first_comment: str = ""
    concepts: list[_Concept] = []


def _sections(t: StoredTutorial) -> list[tuple[str, str]]:
    """(anchor, heading) of the sections this tutorial has, in reading order."""
    present = [
        ("summary", "Summary", bool(t.summary)),
        ("good-first-issue", "Is this a good first issue?", bool(t.junior_friendly_reason)),
        ("red-flags", "Red flags", bool(t.red_flags)),
        ("learn-first", "Learn these first", bool(t.prerequisites)),
        ("architecture", "How the project fits together", bool(t.architecture_overview)),
        ("files", "Files to read first", bool(t.files_to_read or t.unverified_paths)),
        ("steps", "Implementation steps", bool(t.implementation_steps)),
        ("testing", "How to test", bool(t.how_to_test)),
        ("questions", "Questions to ask the maintainers", bool(t.questions_for_maintainers)),
        ("first-comment", "A first comment you can post", bool(t.first_comment)),
        ("concepts", "Concepts", bool(t.concepts)),
    ]
    return [(anchor, heading) for anchor, heading, shown in present if shown]


def page_context(view: TutorialView, web_url: str = "https://github.com") -> dict[str, Any]:
    """`web_url`: GitHub's web address (Settings.github_web_url: an Enterprise host's too)."""
    c = view.content
    repo, _, number = view.issue_key.partition("#")
    structured: StoredTutorial | None = None
    if c.structured is not None:
        try:
            structured = StoredTutorial.model_validate(c.structured)
        except ValidationError:
            structured = None  # shown from the stored Markdown instead
    explanation, retry_helps = FAILURE_EXPLANATIONS.get(c.failure_type or "", UNKNOWN_FAILURE)
    completed = c.status == TutorialStatus.COMPLETED
    return {
        "account": None,  # kept for every reader: the account goes in its slots per request
        "view": view,
        "c": c,
        "repo": repo,
        "number": number,
        "issue_url": f"{web_url}/{repo}/issues/{number}",
        "commit_url": f"{web_url}/{repo}/tree/{c.commit_sha}" if c.commit_sha else None,
        "t": structured,
        "sections": _sections(structured) if structured else [],
        "completed": completed,
        "running": c.stage in RUNNING_STAGES,
        "regenerating": completed and c.stage in RUNNING_STAGES,
        "regeneration_failed": completed and c.stage == Stage.FAILED,
        "failure_explanation": explanation,
        "retry_helps": retry_helps,
        "concept_names": {k.slug: k.name for k in structured.concepts} if structured else {},
    }


def _key(view: TutorialView) -> Hashable:
    """Everything the page shows that can change without the tutorial being generated anew
    (which moves `generation` and `updated_at`)."""
    c = view.content
    return (
        c.id,
        c.generation,
        c.updated_at,
        c.status,
        c.stage,
        c.stale,
        c.archived_at,
        c.failure_type,
        c.failure_reason,
        c.commit_sha,
        view.issue_title,
        view.issue_state,
        tuple(view.concepts),
        templating.asset_version("app.css"),
        templating.asset_version("app.js"),
    )


@dataclass(frozen=True, slots=True)
class SlottedPage(RenderedTutorial):
    """A kept page as a reader who is not signed in sees it (in the mode it was rendered
    for), and where its account slots are (templating.for_account)."""

    slots: templating.Slots = ()
    open_mode: bool = False


_kept = RenderingCache()


def render_tutorial_page(
    view: TutorialView, *, open_mode: bool = False, web_url: str = "https://github.com"
) -> SlottedPage:
    """The whole page and its ETag. Kept by `_key`: on SQLite the status read hands a view,
    not a row, and rendering Markdown and templates is the page's real cost."""
    key = (_key(view), open_mode, web_url)
    rendered = _kept.get(key)
    if rendered is None:
        marked = templating.render("tutorial.html", **page_context(view, web_url)).encode()
        body, slots = templating.fill_for_anonymous(marked, open_mode=open_mode)
        etag = f'W/"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
        rendered = SlottedPage(body, etag, slots, open_mode)
        _kept.put(key, rendered)
    assert isinstance(rendered, SlottedPage)
    return rendered


@functools.cache
def renderer(*, open_mode: bool, web_url: str) -> Render:
    """One renderer per mode and GitHub address, the same object each time: the status
    readers keep renderings by renderer and row."""
    return functools.partial(render_tutorial_page, open_mode=open_mode, web_url=web_url)
