"""The concept hierarchy and the tutorials that teach each concept."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from issuesight.api import responses
from issuesight.api.deps import ConceptReadsDep, TutorialSearchDep
from issuesight.api.schemas import (
    ConceptPublic,
    ConceptRef,
    ConceptTree,
    ConceptTreeNode,
    TutorialPage,
    TutorialSummary,
)
from issuesight.db.search import Sort, TutorialQuery

router = APIRouter(prefix="/concepts", tags=["concepts"])
# Slugs are the project's own (tutorial.concepts.slugify): lower-case words joined by hyphens.
SLUG_PATTERN = "^[a-z0-9]+(-[a-z0-9]+)*$"
Slug = Annotated[str, Path(max_length=80, pattern=SLUG_PATTERN)]


@router.get("", response_model=ConceptTree)
async def list_concepts(concepts: ConceptReadsDep) -> ConceptTree:
    """Every concept, roots first, each with its children and how many tutorials (not
    archived) it tags. A concept with several parents appears under each."""
    roots = await run_in_threadpool(concepts.tree)
    return ConceptTree(concepts=[ConceptTreeNode.from_node(node) for node in roots])


@router.get(
    "/{slug}",
    response_model=ConceptPublic,
    name="get_concept",
    responses=responses.not_found("No concept with this slug"),
)
async def get_concept(
    slug: Slug,
    request: Request,
    concepts: ConceptReadsDep,
    search: TutorialSearchDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ConceptPublic:
    """A concept, its parents and children, and a page of the tutorials tagged with it,
    easiest first."""
    detail = await run_in_threadpool(concepts.concept, slug)
    if detail is None:
        raise HTTPException(status_code=404, detail=f"No concept {slug!r}")
    query = TutorialQuery(concept=slug, sort=Sort.EASIEST, limit=limit, offset=offset)
    hits, total = await run_in_threadpool(search.search, query)

    def ref(slug: str, name: str, tutorials: int) -> ConceptRef:
        return ConceptRef(
            slug=slug,
            name=name,
            tutorials=tutorials,
            url=str(request.url_for("get_concept", slug=slug)),
        )

    return ConceptPublic(
        slug=detail.slug,
        name=detail.name,
        description=detail.description,
        parents=[ref(p.slug, p.name, p.tutorials) for p in detail.parents],
        children=[ref(c.slug, c.name, c.tutorials) for c in detail.children],
        tutorials=TutorialPage(
            items=[
                TutorialSummary.from_hit(
                    hit, str(request.url_for("get_tutorial", tutorial_id=hit.id))
                )
                for hit in hits
            ],
            total=total,
            limit=limit,
            offset=offset,
        ),
    )
