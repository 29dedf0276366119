"""The renderings cache (db.renderings): least recently used first out, bounded by body bytes."""

from __future__ import annotations

from issuesight.db.renderings import RenderedTutorial, RenderingCache


def _rendered(size: int, tag: str = "x") -> RenderedTutorial:
    return RenderedTutorial(b"b" * size, tag)


def test_the_least_recently_used_rendering_goes_first_when_bytes_run_out() -> None:
    cache = RenderingCache(max_bytes=30)
    cache.put("a", _rendered(10, "a"))
    cache.put("b", _rendered(10, "b"))
    cache.put("c", _rendered(10, "c"))
    assert cache.get("a") is not None  # now the most recently used

    cache.put("d", _rendered(10, "d"))

    assert cache.get("b") is None
    assert [cache.get(key) is not None for key in "acd"] == [True, True, True]
    assert len(cache) == 3


def test_a_rendering_larger_than_the_cache_is_not_kept() -> None:
    cache = RenderingCache(max_bytes=30)
    cache.put("small", _rendered(10))

    cache.put("huge", _rendered(31))

    assert cache.get("huge") is None
    assert cache.get("small") is not None


def test_putting_a_key_twice_counts_its_bytes_once() -> None:
    cache = RenderingCache(max_bytes=30)
    cache.put("a", _rendered(10, "a"))
    cache.put("a", _rendered(10, "a"))
    cache.put("b", _rendered(10, "b"))
    cache.put("c", _rendered(10, "c"))

    assert len(cache) == 3
    assert cache.get("a") is not None
