"""Markdown written by a model (from an untrusted issue) turned into HTML that cannot act.

Two maintained layers, each enough on its own:

1. markdown-it-py (CommonMark) with raw HTML off: `<script>`, `<iframe>`, `onerror=` in the
   text come out as text. Its link validation drops `javascript:`, `vbscript:`, `file:` and
   `data:` targets. Images are not rendered as images: an image becomes a plain link to it, so
   nothing is fetched from another host when the page opens (no tracking pixels).
2. nh3 (Ammonia) then keeps only the tags and attributes listed below, links only to http(s)
   with `rel="nofollow noopener ugc"` (and `noreferrer`), and drops comments.

Headings inside a field become paragraphs: the page's own headings give the outline and the
table of contents, and a model's `# …` must not break their order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

ALLOWED_TAGS = frozenset(
    {"a", "p", "br", "hr", "em", "strong", "code", "pre", "ul", "ol", "li", "blockquote", "s"}
)
LINK_REL = "nofollow noopener noreferrer ugc"
# Longer text than any field may hold (schema: 8000) is cut rather than parsed at length.
MAX_SOURCE = 20_000


def _absolute_http_only(tag: str, attribute: str, value: str) -> str | None:
    """A link leaves only to an absolute http(s) URL: no relative link into this site."""
    if attribute == "href" and not value.lower().startswith(("https://", "http://")):
        return None
    return value


_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={"a": {"href"}, "ol": {"start"}},
    attribute_filter=_absolute_http_only,
    url_schemes={"http", "https"},
    link_rel=LINK_REL,
    strip_comments=True,
)


def _image_as_link(
    self: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    """`![alt](src)` as a link named after its alt text: the reader decides to open it."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    src = token.attrGet("src")
    label = escapeHtml(f"image: {alt}")
    if not isinstance(src, str) or not src:
        return label
    return f'<a href="{escapeHtml(src)}">{label}</a>'


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable(["heading", "lheading", "html_block", "html_inline"])
    md.add_render_rule("image", _image_as_link)
    return md


_md = _markdown()


def render(text: Any) -> Markup:
    """Safe HTML for one model-written field (any value: a non-string shows as text)."""
    source = text if isinstance(text, str) else ("" if text is None else str(text))
    html = _md.render(source[:MAX_SOURCE])
    return Markup(_cleaner.clean(html))  # noqa: S704 - sanitized by nh3 just above


def render_inline(text: Any) -> Markup:
    """As `render`, for a short field shown inside a sentence or a list item: no paragraph."""
    source = text if isinstance(text, str) else ("" if text is None else str(text))
    html = _md.renderInline(source[:MAX_SOURCE])
    return Markup(_cleaner.clean(html))  # noqa: S704 - sanitized by nh3 just above
