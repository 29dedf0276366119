"""The repository stands alone: no tracked source reads a folder beside the checkout or an
absolute path on one machine. A fresh clone must pass `make test` (`.ci/run` runs it so)."""

from __future__ import annotations

from tests.paths import BLNS, DEVSET, FIXTURES, ROOT

# Built at run time so this file does not match itself.
# The folder beside the checkout that CI machines have and users do not, however it is reached.
FORBIDDEN = (".." + "/" + "sha" + "red", "/" + "wo" + "rk/", "parents[2] / " + '"sha' + "red")


def _sources() -> list[str]:
    """Every source, build and CI file of the project (not the copied fixtures' own data)."""
    files = [ROOT / "Makefile", ROOT / ".ci" / "run", ROOT / "pyproject.toml", ROOT / "alembic.ini"]
    for folder in ("issuesight", "tests", "bench", "fakes", "migrations"):
        files += (ROOT / folder).rglob("*.py")
    return sorted(str(f.relative_to(ROOT)) for f in files)


def test_no_source_reads_outside_the_checkout() -> None:
    sources = _sources()
    assert "tests/paths.py" in sources
    offenders = [
        f"{path}: {needle}"
        for path in sources
        for needle in FORBIDDEN
        if needle in (ROOT / path).read_text(encoding="utf-8", errors="replace")
    ]
    assert offenders == []


def test_the_data_the_suite_uses_is_in_the_checkout() -> None:
    for path in (BLNS, DEVSET, FIXTURES / "README.md", ROOT / "bench" / "data" / "README.md"):
        assert path.is_file(), path
        assert path.resolve().is_relative_to(ROOT)
