"""Markdown for people. Every string from the model is escaped: no raw HTML, no script links."""

from __future__ import annotations

import html
import re

from issuesight.context.bundle import ContextBundle
from issuesight.tutorial.finalize import FinalTutorial

# A Markdown link or image target that is not plain http(s) or a relative path.
_UNSAFE_LINK = re.compile(r"\]\(\s*(?!https?://)[a-zA-Z][a-zA-Z0-9+.-]*:", re.IGNORECASE)


def safe_text(text: str) -> str:
    escaped = html.escape(text, quote=False)
    return _UNSAFE_LINK.sub(lambda m: m.group(0).replace("](", "]\\("), escaped)


def _inline(text: str) -> str:
    return " ".join(safe_text(text).split())


def render_markdown(final: FinalTutorial, bundle: ContextBundle) -> str:
    d = final.draft
    friendly = "yes" if d.junior_friendly else "not really"
    lines = [
        f"# {_inline(d.title)}",
        "",
        f"*Issue [{bundle.issue_key}]({bundle.issue_url}) · difficulty: **{d.difficulty.value}** · "
        f"junior-friendly: **{friendly}***",
        "",
        safe_text(d.summary),
        "",
        "## Is this a good first issue?",
        "",
        safe_text(d.junior_friendly_reason),
    ]
    if final.red_flags:
        lines += ["", "## Red flags", ""]
        lines += [f"- **{_inline(f['kind'])}**: {_inline(f['detail'])}" for f in final.red_flags]
    if d.prerequisites:
        lines += ["", "## Learn these first", ""]
        lines += [f"- **{_inline(p.concept)}**: {_inline(p.why)}" for p in d.prerequisites]
    lines += ["", "## How the project fits together", "", safe_text(d.architecture_overview)]
    if final.files:
        lines += ["", "## Files to read first", ""]
        lines += [f"- [`{f.path}`]({f.url}): {_inline(f.why)}" for f in final.files]
    lines += ["", "## Implementation steps", ""]
    lines += [f"{i}. {_inline(step)}" for i, step in enumerate(d.implementation_steps, 1)]
    lines += ["", "## How to test", ""]
    lines += [f"- {_inline(step)}" for step in d.how_to_test]
    if d.questions_for_maintainers:
        lines += ["", "## Questions to ask the maintainers", ""]
        lines += [f"- {_inline(q)}" for q in d.questions_for_maintainers]
    lines += ["", "## A first comment you can post", ""]
    lines += ["> " + line for line in safe_text(d.first_comment).splitlines() or [""]]
    if final.concepts:
        lines += ["", "## Concepts", ""]
        lines.append(", ".join(f"`{c.slug}`" for c in final.concepts))
    commit = bundle.commit_sha[:12] if bundle.commit_sha else "unknown"
    lines += ["", f"<sub>Context read at commit {commit} of {bundle.repo_full_name}.</sub>", ""]
    return "\n".join(lines)
