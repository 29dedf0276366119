"""Which repositories IssueSight may publish anything of: the one rule (issue #15 §1).

Everything IssueSight records from a repository ends up public (tutorials, issue titles on the
project pages and in search), so a repository that is not public is refused unless its owner is
in ALLOWED_PRIVATE_OWNERS. Every path in (a tutorial's context, a tracked repository's sync, a
webhook delivery) asks this module, and a refused repository fails exactly as a missing one
does: same failure kind, same sentence, so nothing tells outsiders which private repositories
exist or that the token can read them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from issuesight.domain.failures import FailureKind
from issuesight.github.cache import SharedReads
from issuesight.github.client import parse_json
from issuesight.github.errors import GitHubError

log = logging.getLogger(__name__)


def is_public(repository: Mapping[str, Any]) -> bool:
    """Public only when GitHub says so: `private` false and, where given, `visibility` public
    (`internal` repositories of an Enterprise are private to outsiders)."""
    if repository.get("private") is not False:
        return False
    visibility = repository.get("visibility")
    return visibility is None or visibility == "public"


def may_publish(
    repository: Mapping[str, Any], allowed_private_owners: frozenset[str], *, owner: str
) -> bool:
    """A repository document (the REST API's, or a webhook payload's `repository`) may be
    published: public, or its owner (GitHub's login, else `owner`) is allowed (lower-case)."""
    if is_public(repository):
        return True
    owner_doc = repository.get("owner")
    login = owner_doc.get("login") if isinstance(owner_doc, Mapping) else None
    owner_login = str(login or owner).lower()
    if owner_login in allowed_private_owners:
        return True
    log.info("private repository refused", extra={"owner": owner_login})
    return False


def repository_missing(owner: str, repo: str, *, status: int | None = 404) -> GitHubError:
    """The failure of a missing repository, and of a refused private one: the same words."""
    return GitHubError(
        f"Repository {owner}/{repo} was not found on GitHub (it does not exist, or it is "
        "private and the configured token cannot see it)",
        kind=FailureKind.REPOSITORY_NOT_FOUND,
        status=status,
    )


async def fetch_publishable_repository(
    reads: SharedReads,
    owner: str,
    repo: str,
    *,
    allowed_private_owners: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The repository document, through the shared cache; a missing repository and one that
    may not be published both raise `repository_missing`."""
    what = f"repository {owner}/{repo}"
    try:
        content = await reads.get(f"/repos/{owner}/{repo}", what=what)
        data = parse_json(content or b"", what)
    except GitHubError as exc:
        if exc.kind == FailureKind.NOT_FOUND:
            raise repository_missing(owner, repo, status=exc.status) from exc
        raise
    if not isinstance(data, dict):
        raise GitHubError(
            "GitHub sent an unexpected repository document",
            kind=FailureKind.GITHUB_UNAVAILABLE,
        )
    if not may_publish(data, allowed_private_owners, owner=owner):
        raise repository_missing(owner, repo)
    return data
