"""Retrieval on small hand-made trees: which files an issue that names no file is about, which
parts of them reach the prompt, and the bad input it must survive. (On real issues:
bench.context.)"""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace

import pytest

from fakes._archive import Entry, tar_gz
from issuesight.context.bundle import FINGERPRINT_FILES, build_bundle, fingerprint
from issuesight.context.definitions import outline, python_outline, scan_definitions
from issuesight.context.gather import RawContext, files_from_index
from issuesight.context.index import RepoIndex, role_of
from issuesight.context.retrieve import identifiers, rank_files
from issuesight.context.snapshot import read_snapshot
from issuesight.context.windows import excerpt
from issuesight.domain.refs import make_ref
from issuesight.llm.prompt import build_prompt
from tests.paths import BLNS

TOP = "acme-shop-abcdef0"

QUERY_PY = (
    '''"""Lazy database lookups."""

import itertools
from shop.db import connections


class BaseIterable:
    def __iter__(self):
        raise NotImplementedError


class QuerySet:
    """A lazy collection of rows."""

    def __init__(self, model=None):
        self.model = model

'''
    + "".join(f"    def helper_{i}(self):\n        return {i}\n\n" for i in range(150))
    + '''    def bulk_create(self, objs, batch_size=None, ignore_conflicts=False):
        """Inserts each of the objects in batches of batch_size."""
        ops = connections["default"].ops
        max_batch_size = ops.bulk_batch_size(["pk"], objs)
        batch_size = min(batch_size, max_batch_size) if batch_size else max_batch_size
        return list(itertools.islice(objs, batch_size))

    def delete(self):
        return 0
'''
)

BULK_CREATE = (
    QUERY_PY.split("\n").index(
        "    def bulk_create(self, objs, batch_size=None, ignore_conflicts=False):"
    )
    + 1
)
BULK_CREATE_END = BULK_CREATE + 5

FILES = {
    "README.md": "# Shop\nA tiny ORM used by the retrieval tests.\n",
    "shop/__init__.py": "",
    "shop/models/__init__.py": "from shop.models.query import QuerySet\n",
    "shop/models/query.py": QUERY_PY,
    "shop/models/base.py": "class Model:\n    def delete(self):\n        return 1\n\n"
    "    def save(self, force_insert=False):\n        return None\n",
    "shop/db/__init__.py": "connections = {}\n",
    "shop/db/operations.py": "class Operations:\n"
    "    def bulk_batch_size(self, fields, objs):\n        return len(objs)\n",
    "shop/forms/widgets.py": "class Select:\n    template_name = 'select.html'\n",
    "tests/test_query.py": "from shop.models.query import QuerySet\n\n"
    + "".join(
        f"def test_bulk_create_{i}():\n    QuerySet().bulk_create([], batch_size={i})\n\n"
        for i in range(30)
    ),
    "docs/ref/querysets.txt": "bulk_create(objs, batch_size=None)\n" * 20,
    "web/static/users.js": "export function getUserName(user) {\n  return user.name;\n}\n"
    "export function getUserAge(user) {\n  return user.age;\n}\n",
}


@pytest.fixture(scope="module")
def index() -> RepoIndex:
    return _index(FILES)


def _index(files: dict[str, str]) -> RepoIndex:
    entries = [Entry(f"{TOP}/")] + [Entry(f"{TOP}/{p}", t.encode()) for p, t in files.items()]
    return RepoIndex(read_snapshot(io.BytesIO(tar_gz(entries))))


def _top(index: RepoIndex, title: str, body: str = "", n: int = 1) -> list[str]:
    return [r.path for r in rank_files(index, [title, body])[:n]]


# -- ranking -----------------------------------------------------------------------------------


def test_a_method_the_issue_names_finds_its_file_not_the_tests_that_call_it(
    index: RepoIndex,
) -> None:
    ranked = rank_files(index, ["bulk_create ignores batch_size", "It inserts everything."])
    assert ranked[0].path == "shop/models/query.py"
    assert any("defines" in r and "bulk_create" in r for r in ranked[0].reasons)
    assert ranked[0].regions[0].label == "function QuerySet.bulk_create"
    # The tests that call it 30 times are still there, below: down-weighted, not dropped.
    assert "tests/test_query.py" in [r.path for r in ranked]


def test_a_qualified_name_prefers_its_class(index: RepoIndex) -> None:
    assert _top(index, "QuerySet.delete() returns 0 instead of the count") == [
        "shop/models/query.py"
    ]
    assert _top(index, "Model.delete() should return the count") == ["shop/models/base.py"]


def test_camel_case_names(index: RepoIndex) -> None:
    assert _top(index, "getUserName returns undefined for guests") == ["web/static/users.js"]


def test_a_traceback_frame_outranks_words(index: RepoIndex) -> None:
    body = (
        "bulk_create crashes:\n```\nTraceback (most recent call last):\n"
        '  File "/venv/lib/python3.12/site-packages/shop/db/operations.py", line 3, in '
        "bulk_batch_size\nTypeError: object of type 'generator' has no len()\n```"
    )
    ranked = rank_files(index, ["Crash with a generator", body])
    assert ranked[0].path == "shop/db/operations.py"
    assert ranked[0].explicit
    assert ranked[0].line == 3


def test_prose_words_reach_code_through_bm25(index: RepoIndex) -> None:
    assert _top(index, "Select widget template", "the select template name is wrong") == [
        "shop/forms/widgets.py"
    ]


def test_identifiers_are_code_shaped_words_only() -> None:
    found = {
        i.name
        for i in identifiers(
            [
                "Calling bulk_create() on a QuerySet",
                "The widget breaks. `save` too, and models.Model.delete; see __init__.",
            ]
        )
    }
    assert found == {"bulk_create", "QuerySet", "save", "delete", "__init__"}


def test_roles_from_paths() -> None:
    assert role_of("src/shop/query.py") == "source"
    assert role_of("tests/test_query.py") == "test"
    assert role_of("shop/query_test.go") == "test"
    assert role_of("docs/index.rst") == "doc"
    assert role_of("examples/demo.py") == "example"
    assert role_of("Makefile") == "other"


def test_hostile_issue_text_never_breaks_the_query(index: RepoIndex) -> None:
    texts = [
        'NEAR("a" "b") AND OR NOT * ^ - : " \' ( ) { } [ ] bulk_create',
        "\x00\ufffd" * 1000 + "\u202e" + "a" * 10_000,
    ]
    assert rank_files(index, texts)[0].path == "shop/models/query.py"
    naughty_strings = [s for s in json.loads(BLNS.read_text()) if isinstance(s, str)]
    assert naughty_strings
    for naughty in naughty_strings:
        for ranked in rank_files(index, [naughty, naughty]):
            assert ranked.path in index.paths


def test_a_megabyte_issue_ranks_quickly(index: RepoIndex) -> None:
    body = "bulk_create " + "lorem ipsum dolor_sit amet QuerySetLike " * 30_000
    started = time.monotonic()
    ranked = rank_files(index, ["Huge log", body])
    assert ranked
    # A guard against a pathological path, not a timing test (bench.context measures speed).
    assert time.monotonic() - started < 10


def test_no_texts_or_an_empty_tree() -> None:
    assert rank_files(_index({"a.py": "x = 1\n"}), ["", ""]) == []
    assert rank_files(_index({}), ["bulk_create"]) == []


# -- definitions -------------------------------------------------------------------------------


def test_the_scanner_nests_python_definitions() -> None:
    found = [
        (d.qualname, d.kind, d.line, d.end, d.depth) for d in scan_definitions("q.py", QUERY_PY)
    ]
    # A scanner's end is where the next definition starts: blank lines before it included.
    assert ("BaseIterable", "class", 7, 11, 0) in found
    assert ("BaseIterable.__iter__", "function", 8, 11, 1) in found
    assert ("QuerySet.bulk_create", "function", BULK_CREATE, BULK_CREATE_END + 1, 1) in found
    assert found[-1][:2] == ("QuerySet.delete", "function")


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        ("a.js", "class Cart {\n  total() {}\n}\nfunction addItem(x) {}\n", {"Cart", "addItem"}),
        ("a.ts", "export const price = (x: number) => x * 2;\n", {"price"}),
        ("a.go", "type Cart struct{}\n\nfunc (c *Cart) Add(x int) {}\n", {"Cart", "Add"}),
        ("a.rs", "pub struct Cart;\nimpl Cart {\n    pub fn add(&self) {}\n}\n", {"Cart", "add"}),
        ("a.rb", "module Shop\n  class Cart\n    def add(x)\n    end\n  end\nend\n", {"add"}),
        (
            "A.java",
            "public class Cart {\n    public int total(int a) {\n        return a;\n    }\n}\n",
            {"Cart", "total"},
        ),
        ("notes.md", "def looks_like_code(): pass\n", set()),
    ],
)
def test_the_scanner_knows_other_languages(path: str, text: str, expected: set[str]) -> None:
    assert expected <= {d.name for d in scan_definitions(path, text)}
    if not expected:
        assert scan_definitions(path, text) == []


def test_ast_outline_has_exact_spans_decorators_and_imports() -> None:
    text = (
        "import os\nfrom a import b\n\n\nclass A:\n    @property\n    def x(self):\n"
        "        return 1\n\n    def y(self):\n        pass\n"
    )
    parsed = python_outline(text)
    assert parsed is not None
    assert parsed.imports == (1, 2)
    spans = {d.qualname: (d.line, d.end) for d in parsed.definitions}
    assert spans == {"A": (5, 11), "A.x": (6, 8), "A.y": (10, 11)}
    # Python 2, or a template named .py: the scanner stands in.
    assert python_outline("print 'hello'\ndef f():\n    pass\n") is None
    assert [
        d.name for d in outline("old.py", "print 'hello'\ndef f():\n    pass\n").definitions
    ] == ["f"]


# -- windows and the bundle --------------------------------------------------------------------


def test_the_excerpt_shows_the_named_method_with_its_class_and_imports() -> None:
    cut = excerpt(
        "shop/models/query.py",
        QUERY_PY,
        [(BULK_CREATE, BULK_CREATE_END, "function QuerySet.bulk_create")],
        900,
    )
    assert len(cut.text) <= 900
    assert "    def bulk_create(self, objs, batch_size=None, ignore_conflicts=False):" in cut.text
    assert "        return list(itertools.islice(objs, batch_size))" in cut.text
    assert "class QuerySet:" in cut.text
    assert "import itertools" in cut.text
    assert "def helper_3(self)" not in cut.text  # not the head of the file
    assert cut.main == (BULK_CREATE, BULK_CREATE_END)
    assert cut.text.startswith("[lines 1-")
    assert "⋮" in cut.text


def test_a_file_that_fits_is_shown_whole() -> None:
    cut = excerpt("a.py", "x = 1\n", [(1, 1, "line 1")], 1000)
    assert cut.text == "[whole file, 2 lines]\nx = 1\n"


def test_code_gets_the_room_the_issue_leaves_and_a_map_follows(index: RepoIndex) -> None:
    files, repo_map = files_from_index(index, ["bulk_create ignores batch_size", ""])
    raw = RawContext(
        repo={"full_name": "acme/shop", "html_url": "https://github.com/acme/shop"},
        issue={"title": "bulk_create ignores batch_size", "body": "It inserts everything."},
        comments=[],
        comments_total=0,
        commit_sha="c" * 40,
        tree_paths=index.paths,
        files=files[:2],
        repo_map=repo_map,
    )
    bundle = build_bundle(raw, make_ref("acme", "shop", 1), budget_chars=6_000)
    prompt = build_prompt(bundle)

    assert prompt.chars <= 6_000
    first = bundle.files[0]
    assert first.path == "shop/models/query.py"
    assert first.url.endswith(
        f"/blob/{'c' * 40}/shop/models/query.py#L{BULK_CREATE}-L{BULK_CREATE_END}"
    )
    assert "def bulk_create(" in (first.content or "")
    # The map names files beyond the excerpts, with their definitions.
    assert bundle.repo_map
    assert not {line for line in bundle.repo_map if not line.startswith(" ")} & {
        f.path for f in bundle.files
    }
    assert "## Repository map" in prompt.user
    # Every ranked file is in the prompt, as an excerpt or in the map: the room allowed it.
    mapped = {line for line in bundle.repo_map if not line.startswith(" ")}
    assert mapped | {f.path for f in bundle.files} == {path for path, _ in repo_map}


def test_only_the_best_ranked_and_named_files_are_in_the_fingerprint(index: RepoIndex) -> None:
    files, _ = files_from_index(index, ["bulk_create ignores batch_size", ""])
    assert len(files) > FINGERPRINT_FILES

    def digest(changed: int, *, named: bool = False) -> str:
        edited = [
            replace(f, blob_sha="0" * 40, explicit=f.explicit or named) if i == changed else f
            for i, f in enumerate(files)
        ]
        raw = RawContext(
            repo={}, issue={"title": "t"}, comments=[], comments_total=0, commit_sha="c" * 40
        )
        raw.files = edited
        return fingerprint(raw)

    unchanged = digest(-1)
    assert digest(0) != unchanged  # the best-ranked file changed: a new question
    assert digest(FINGERPRINT_FILES) == unchanged  # an edit further down is not
    assert digest(FINGERPRINT_FILES, named=True) != unchanged  # unless the issue names it


def test_an_issue_with_hundreds_of_thousands_of_distinct_words(index: RepoIndex) -> None:
    """More distinct words than SQLite takes parameters in one statement (32,766 by default,
    250,000 in Debian's build): only the issue's most frequent words are looked up."""
    comments = [" ".join(f"w{c}x{i}" for i in range(20_000)) for c in range(15)]
    ranked = rank_files(index, ["bulk_create ignores batch_size", "", *comments])
    assert ranked[0].path == "shop/models/query.py"
