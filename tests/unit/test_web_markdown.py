"""Model-written Markdown to HTML: raw HTML is text, links only to http(s) and marked as user
content, no image is fetched, headings cannot break the page's outline."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from issuesight.web.markdown import LINK_REL, render, render_inline
from tests.paths import FIXTURES


def test_raw_html_is_text() -> None:
    html = render("<script>alert(1)</script> <img src=x onerror=alert(1)> <iframe src=y>")
    assert "<script" not in html
    assert "<img" not in html
    assert "<iframe" not in html
    assert "&lt;script&gt;" in html


def test_links_only_to_http_with_rel() -> None:
    html = render("[a](https://example.com/x) [b](javascript:alert(1)) [c](/local) [d](//h/x)")
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs == ["https://example.com/x"]
    assert f'rel="{LINK_REL}"' in html
    for word in ("nofollow", "noopener", "ugc"):
        assert word in LINK_REL


def test_images_become_links_and_nothing_is_fetched() -> None:
    html = render("![pixel](https://tracker.example/p.gif) ![x](javascript:alert(1))")
    assert "<img" not in html
    assert '<a href="https://tracker.example/p.gif"' in html
    assert "image: pixel" in html


def test_headings_are_paragraphs() -> None:
    assert "<h1" not in render("# Title\n\nSubtitle\n===")
    assert render_inline("**bold** `code`") == "<strong>bold</strong> <code>code</code>"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def test_garak_payloads_are_inert() -> None:
    payloads = FIXTURES / "adversarial" / "prompt-injection-garak" / "payloads"
    for name in ("web_html_js.json", "markdown_js.json"):
        for payload in json.loads((payloads / name).read_text("utf-8"))["payloads"]:
            for html in (render(payload), render_inline(payload), render(f"[x]({payload})")):
                parsed = _Tags()
                parsed.feed(html)
                for tag, attrs in parsed.tags:
                    assert tag in {"p", "a", "em", "strong", "code", "br"}, (payload, html)
                    for attr, value in attrs:
                        assert attr in {"href", "rel"}, (payload, html)
                        if attr == "href":
                            assert (value or "").startswith(("http://", "https://")), payload


def test_anything_renders() -> None:
    assert render(None) == ""
    assert "42" in render(42)
    assert len(render("x" * 100_000)) < 30_000
