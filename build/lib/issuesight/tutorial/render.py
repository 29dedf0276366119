"""Markdown for people. Every string from the model is escaped: no raw HTML, no script links."""

from __future__ import annotations

import html
import re
import string
from urllib.parse import quote

from issuesight.context.bundle import ContextBundle
from issuesight.tutorial.finalize import FinalTutorial

# A Markdown link target that is not plain http(s) or a relative path, after the `](` of an
# inline link or image, or the `]:` of a link reference definition (which may sit anywhere a
# paragraph starts: in a list item, a block quote, after a line break).
_UNSAFE_LINK = re.compile(
    r"\](?P<opener>[(:])(?P<target>\s*(?!https?://)[a-zA-Z][a-zA-Z0-9+.-]*:)", re.IGNORECASE
)
# Characters kept as they are in a link destination; the rest (spaces, parentheses, angle
# brackets, backslashes, backticks, control characters…) are percent-encoded.
_URL_SAFE = ":/?#@!$&'*+,;=%~[]"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_text(text: str) -> str:
    """HTML escaped; links and link definitions to other schemes than http(s) broken.

    A backslash between the `]` and the `(` or `:` leaves the text readable but makes it no
    link and no definition, whatever precedes the bracket.
    """
    escaped = html.escape(text, quote=False)
    return _UNSAFE_LINK.sub(lambda m: f"]\\{m['opener']}{m['target']}", escaped)


def safe_url(url: str) -> str:
    """A link destination that cannot end the link early or leave it (percent-encoded)."""
    return quote(url, safe=_URL_SAFE)


def code_span(text: str) -> str:
    """`text` shown verbatim, whatever it holds: no HTML, no Markdown, no line break.

    The fence is longer than any run of backticks in the text. A code span shows entities
    literally, so a text with `<`, `>` or `&` is written as escaped plain text instead.
    """
    text = _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode(), text)
    if any(c in text for c in "<>&"):
        return escape_markdown(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def escape_markdown(text: str) -> str:
    """Plain text that renders as itself: HTML characters as entities, other ASCII
    punctuation backslash-escaped, control characters shown as escapes."""
    text = _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode(), text)
    out = []
    for char in text:
        if char in "<>&":
            out.append(html.escape(char))
        elif char in string.punctuation:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _inline(text: str) -> str:
    return " ".join(safe_text(text).split())


def render_markdown(final: FinalTutorial, bundle: ContextBundle) -> str:
    d = final.draft
    friendly = "yes" if d.junior_friendly else "not really"
    issue_link = f"[{bundle.issue_key}]({safe_url(bundle.issue_url)})"
    lines = [
        f"# {_inline(d.title)}",
        "",
        f"*Issue {issue_link} · difficulty: **{d.difficulty.value}** · "
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
        lines += [
            f"- [{code_span(f.path)}]({safe_url(f.url)}): {_inline(f.why)}" for f in final.files
        ]
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
        lines.append(", ".join(code_span(c.slug) for c in final.concepts))
    commit = bundle.commit_sha[:12] if bundle.commit_sha else "unknown"
    lines += ["", f"<sub>Context read at commit {commit} of {bundle.repo_full_name}.</sub>", ""]
    return "\n".join(lines)
