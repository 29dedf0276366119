"""Concept slugs are the project's, not the model's: one spelling per idea."""

from __future__ import annotations

import re
import unicodedata

MAX_SLUG = 80
_ALIASES = {
    "js": "javascript",
    "ts": "typescript",
    "py": "python",
    "k8s": "kubernetes",
    "postgres": "postgresql",
    "unit-tests": "unit-testing",
    "tests": "testing",
    "regex": "regular-expressions",
    "regexes": "regular-expressions",
    "ci": "continuous-integration",
}


def slugify(name: str) -> str:
    """`HTTP Retries` → `http-retries`; accents folded; empty when nothing usable is left."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    folded = folded.replace("+", " plus ").replace("#", " sharp ")
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    slug = _ALIASES.get(slug, slug)
    return slug[:MAX_SLUG].rstrip("-")
