"""Concept slugs: one spelling per idea, whatever the model wrote."""

from __future__ import annotations

import re

import pytest

from issuesight.tutorial.concepts import MAX_SLUG, slugify


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("HTTP Retries", "http-retries"),
        ("http retries", "http-retries"),
        ("  Python   Decorators!! ", "python-decorators"),
        ("async/await", "async-await"),
        ("Node.js", "node-js"),
        ("snake_case", "snake-case"),
        ("--leading and trailing--", "leading-and-trailing"),
        ("Café crème", "cafe-creme"),
        ("naïve Bayes", "naive-bayes"),
        ("Ångström", "angstrom"),
        ("\ufb01le systems", "file-systems"),  # the 'fi' ligature folds to ASCII
        ("C++", "c-plus-plus"),
        ("C#", "c-sharp"),
        ("F#", "f-sharp"),
        ("C", "c"),
        ("JS", "javascript"),
        ("js", "javascript"),
        ("TS", "typescript"),
        ("py", "python"),
        ("K8s", "kubernetes"),
        ("Postgres", "postgresql"),
        ("Unit Tests", "unit-testing"),
        ("unit-tests", "unit-testing"),
        ("Tests", "testing"),
        ("Regex", "regular-expressions"),
        ("regexes", "regular-expressions"),
        ("CI", "continuous-integration"),
        ("Post gres", "post-gres"),
        ("JS frameworks", "js-frameworks"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_different_spellings_share_a_slug() -> None:
    spellings = ["HTTP caching", "http-caching", " Http  Caching ", "HTTP_Caching", "http caching!"]
    assert {slugify(s) for s in spellings} == {"http-caching"}


def test_cpp_csharp_and_c_are_distinct() -> None:
    assert len({slugify("C"), slugify("C++"), slugify("C#")}) == 3


@pytest.mark.parametrize("name", ["", "   ", "!!!", "日本語", "ПРИВЕТ", "🚀", "---"])
def test_nothing_usable_gives_an_empty_slug(name: str) -> None:
    assert slugify(name) == ""


@pytest.mark.parametrize("name", ["a" * 500, "word " * 100, "x-" * 100, "ab " * 60])
def test_length_cap_without_trailing_hyphen(name: str) -> None:
    slug = slugify(name)
    assert 0 < len(slug) <= MAX_SLUG
    assert not slug.endswith("-")
    assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug)


def test_slugs_use_only_safe_characters() -> None:
    names = ["<script>alert(1)</script>", "../../etc/passwd", "a\x00b", "DROP TABLE; --", "$(rm)"]
    for name in names:
        slug = slugify(name)
        assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug), (name, slug)
    assert slugify("<script>alert(1)</script>") == "script-alert-1-script"
