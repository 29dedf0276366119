"""From a validated draft to the tutorial that is stored: files verified against the tree and
pinned to the commit read, concept slugs normalized, observed red flags added, secrets scrubbed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from issuesight.context.bundle import ContextBundle
from issuesight.core.text import REDACTED, scrub
from issuesight.tutorial.concepts import slugify
from issuesight.tutorial.schema import TutorialDraft


class VerifiedFile(BaseModel):
    path: str
    why: str
    url: str


class NormalizedConcept(BaseModel):
    slug: str
    name: str
    description: str
    parent_slug: str | None
    parent_name: str | None


class FinalTutorial(BaseModel):
    draft: TutorialDraft
    files: list[VerifiedFile]
    unverified_paths: list[str]
    concepts: list[NormalizedConcept]
    red_flags: list[dict[str, str]]

    def structured(self) -> dict[str, Any]:
        data = self.draft.model_dump(mode="json")
        data["files_to_read"] = [f.model_dump() for f in self.files]
        data["unverified_paths"] = self.unverified_paths
        data["concepts"] = [c.model_dump() for c in self.concepts]
        data["red_flags"] = self.red_flags
        return data


def finalize(draft: TutorialDraft, bundle: ContextBundle, secrets: Sequence[str]) -> FinalTutorial:
    draft = _scrubbed(draft, secrets)
    files, unverified = _verify_files(draft, bundle)
    return FinalTutorial(
        draft=draft,
        files=files,
        unverified_paths=unverified,
        concepts=_normalize_concepts(draft),
        red_flags=_red_flags(draft, bundle),
    )


def _scrubbed(draft: TutorialDraft, secrets: Sequence[str]) -> TutorialDraft:
    """The draft with secrets and token shapes replaced in every text the model wrote.

    Scrubbing never fails: a configured secret shorter than the marker makes a text longer, so a
    text pushed past its field's limit is cut back to it (before a marker the cut would split).
    Only plain strings are touched: enum values such as the difficulty stay as they are.
    """

    def walk(value: Any) -> Any:
        if isinstance(value, BaseModel):
            return {name: walk(getattr(value, name)) for name in type(value).model_fields}
        if type(value) is str:
            return scrub(value, secrets)
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    data = walk(draft)
    try:
        return TutorialDraft.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        if not all(e["type"] == "string_too_long" for e in errors):
            raise
        for error in errors:
            *path, last = error["loc"]
            container = data
            for key in path:
                container = container[key]
            container[last] = _cut(container[last], int(error["ctx"]["max_length"]))
    return TutorialDraft.model_validate(data)


def _cut(text: str, limit: int) -> str:
    """The first `limit` characters, ending before a marker the cut would split."""
    marker = text.rfind(REDACTED, 0, limit + len(REDACTED) - 1)
    if marker != -1 and marker < limit < marker + len(REDACTED) and text[:marker].strip():
        return text[:marker]
    return text[:limit]


def _verify_files(
    draft: TutorialDraft, bundle: ContextBundle
) -> tuple[list[VerifiedFile], list[str]]:
    tree = set(bundle.tree_paths)
    # A file shown in the prompt links to the window it was shown (#Lstart-Lend at the commit).
    shown = {
        f.path: f.url
        for f in bundle.files
        if f.content is not None and f.url.startswith(bundle.blob_url(f.path) + "#L")
    }
    files: list[VerifiedFile] = []
    unverified: list[str] = []
    seen: set[str] = set()
    for item in draft.files_to_read:
        path = _resolve(item.path, tree)
        if path is None:
            unverified.append(item.path[:200])
            continue
        if path in seen:
            continue
        seen.add(path)
        url = shown.get(path) or bundle.blob_url(path)
        files.append(VerifiedFile(path=path, why=item.why, url=url))
    # Files the issue itself names are worth reading even if the model left them out.
    for excerpt in bundle.files:
        if excerpt.path not in seen and any("named" in r for r in excerpt.reasons):
            seen.add(excerpt.path)
            files.append(
                VerifiedFile(
                    path=excerpt.path,
                    why="The issue refers to this file.",
                    url=shown.get(excerpt.path) or bundle.blob_url(excerpt.path),
                )
            )
    return files, unverified


def _resolve(raw_path: str, tree: set[str]) -> str | None:
    path = raw_path.strip().strip("`").split("#", 1)[0]
    while path.startswith(("./", "/")):
        path = path[2:] if path.startswith("./") else path[1:]
    if ".." in path.split("/"):
        return None
    return path if path in tree else None


def _normalize_concepts(draft: TutorialDraft) -> list[NormalizedConcept]:
    concepts: dict[str, NormalizedConcept] = {}
    for tag in draft.concepts:
        slug = slugify(tag.name)
        if not slug or slug in concepts:
            continue
        parent_slug = slugify(tag.parent) if tag.parent else None
        if parent_slug == slug or not parent_slug:
            parent_slug = None
        concepts[slug] = NormalizedConcept(
            slug=slug,
            name=tag.name[:300],
            description=tag.description,
            parent_slug=parent_slug,
            parent_name=tag.parent[:300] if parent_slug and tag.parent else None,
        )
    return list(concepts.values())


def _red_flags(draft: TutorialDraft, bundle: ContextBundle) -> list[dict[str, str]]:
    flags = [{"kind": "observed", "detail": fact} for fact in bundle.observed_flags]
    flags += [{"kind": f.kind, "detail": f.detail} for f in draft.red_flags]
    return flags
