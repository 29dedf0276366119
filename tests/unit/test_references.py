"""Which files an issue is about: mention shapes, tree matching, ordering and hostile input."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from issuesight.context import references
from issuesight.context.references import FileCandidate, rank_referenced_files
from tests.paths import BLNS, DEVSET

TREE = [
    "README.rst",
    "setup.py",
    "Makefile",
    "django/__init__.py",
    "django/db/__init__.py",
    "django/db/models/__init__.py",
    "django/db/models/base.py",
    "django/db/models/query.py",
    "django/db/models/query_utils.py",
    "django/db/models/sql/__init__.py",
    "django/db/models/sql/compiler.py",
    "django/db/models/sql/query.py",
    "django/db/models/fields/__init__.py",
    "django/db/backends/utils.py",
    "django/forms/__init__.py",
    "django/forms/fields.py",
    "django/forms/widgets.py",
    "django/contrib/admin/utils.py",
    "django/contrib/admin/options.py",
    "django/utils/__init__.py",
    "django/utils/autoreload.py",
    "django/utils/functional.py",
    "django/utils/html.py",
    "django/template/autoreload.py",
    "django/template/utils.py",
    "django/core/files/utils.py",
    "django/core/handlers/base.py",
    "django/views/debug.py",
    "django/views/generic/base.py",
    "docs/ref/models/querysets.txt",
    "docs/ref/utils.txt",
    "tests/queries/tests.py",
    "tests/apps/models.py",
    "tests/utils_tests/test_autoreload.py",
    "tests/forms_tests/widget_tests/test_widget.py",
    "src/app/main.py",
    "src/lib/thing.js",
    "src/lib/other.js",
    "cmd/server/main.go",
    "crates/core/src/parser.rs",
    "sympy/__init__.py",
    "sympy/core/__init__.py",
    "sympy/core/basic.py",
    "sympy/core/numbers.py",
    "sympy/printing/latex.py",
    "sympy/printing/mathematica.py",
    "sympy/printing/tests/test_latex.py",
    "sympy/parsing/mathematica.py",
    "doc/src/modules/printing/latex.rst",
]


def rank(*texts: str, tree: list[str] | None = None, limit: int = 8) -> list[FileCandidate]:
    return rank_referenced_files(list(texts), TREE if tree is None else tree, limit=limit)


def paths(*texts: str, tree: list[str] | None = None, limit: int = 8) -> list[str]:
    return [c.path for c in rank(*texts, tree=tree, limit=limit)]


def explicit_paths(*texts: str, tree: list[str] | None = None) -> list[str]:
    return [c.path for c in rank(*texts, tree=tree) if c.explicit]


def by_path(candidates: list[FileCandidate]) -> dict[str, FileCandidate]:
    return {c.path: c for c in candidates}


# --- mention shapes -----------------------------------------------------------------------------

PY_TRACEBACK = """Traceback (most recent call last):
  File "/home/me/proj/app/views.py", line 12, in index
    qs = Thing.objects.filter(x=1)
  File "/usr/lib/python3.8/site-packages/django/db/models/query.py", line 904, in filter
    return self._filter_or_exclude(False, *args, **kwargs)
  File "/usr/lib/python3.8/site-packages/django/db/models/sql/query.py", line 1351, in add_q
    clause, _ = self._add_q(q_object, self.used_aliases)
  File "/usr/lib/python3.8/threading.py", line 870, in run
TypeError: boom
"""


def test_python_traceback_frames_match_by_suffix_with_their_line() -> None:
    found = by_path(rank("Filter crashes", PY_TRACEBACK))
    query = found["django/db/models/query.py"]
    assert query.explicit
    assert query.line == 904
    assert "named in a traceback" in query.reasons
    assert found["django/db/models/sql/query.py"].line == 1351


def test_innermost_project_frame_of_a_python_traceback_ranks_first() -> None:
    assert paths("Filter crashes", PY_TRACEBACK)[:2] == [
        "django/db/models/sql/query.py",
        "django/db/models/query.py",
    ]
    top = rank("Filter crashes", PY_TRACEBACK)[0]
    assert "innermost project frame of a stack trace" in top.reasons


def test_innermost_frame_follows_the_traceback_not_the_file() -> None:
    reversed_trace = """Traceback (most recent call last):
  File "/venv/site-packages/django/db/models/sql/query.py", line 1351, in add_q
  File "/venv/site-packages/django/db/models/query.py", line 904, in filter
ValueError
"""
    assert paths("", reversed_trace)[0] == "django/db/models/query.py"


def test_frames_of_other_libraries_and_the_users_project_are_ignored() -> None:
    found = explicit_paths("", PY_TRACEBACK)
    assert "django/utils/functional.py" not in found
    celery = 'File "/usr/lib/python3/site-packages/celery/utils/functional.py", line 3, in f'
    assert explicit_paths("", celery) == []


def test_javascript_stack_innermost_frame_is_the_first() -> None:
    body = """TypeError: x is undefined
    at parse (src/lib/thing.js:10:5)
    at run (src/lib/other.js:3:1)
"""
    found = rank("crash", body)
    assert [c.path for c in found[:2]] == ["src/lib/thing.js", "src/lib/other.js"]
    assert found[0].line == 10
    assert "named in a stack trace" in found[0].reasons


@pytest.mark.parametrize(
    ("text", "path", "line"),
    [
        ("panic: boom\n\tcmd/server/main.go:123 +0x1d", "cmd/server/main.go", 123),
        (
            "thread 'main' panicked at crates/core/src/parser.rs:10:3",
            "crates/core/src/parser.rs",
            10,
        ),
        ("error at parser.rs:10:3", "crates/core/src/parser.rs", 10),
        ("/projects/django/django/forms/widgets.py:145: Warning", "django/forms/widgets.py", 145),
        (
            "It fails at django/db/backends/utils.py, line 378, in f",
            "django/db/backends/utils.py",
            378,
        ),
    ],
)
def test_path_and_line_stack_frames(text: str, path: str, line: int) -> None:
    top = rank("", text)[0]
    assert (top.path, top.line, top.explicit) == (path, line, True)


def test_paths_in_backticks_and_code_blocks_say_so() -> None:
    found = by_path(rank("", "See `django/forms/widgets.py`.\n```\nsrc/app/main.py\n```\n"))
    assert "named in backticks" in found["django/forms/widgets.py"].reasons
    assert "named in a code block" in found["src/app/main.py"].reasons


def test_bare_relative_path_with_a_slash_and_an_extension() -> None:
    top = rank("", "The bug is in src/app/main.py, I think.")[0]
    assert top.path == "src/app/main.py"
    assert top.explicit
    assert "named as a path" in top.reasons


def test_bare_file_name_with_one_match() -> None:
    assert explicit_paths("Fix numberformat", "latex.py drops brackets") == [
        "sympy/printing/latex.py"
    ]


def test_github_blob_url_gives_path_and_line_and_is_never_fetched() -> None:
    url = "https://github.com/django/django/blob/3.1/django/utils/html.py#L10-L20"
    top = rank("", f"Look at {url} please")[0]
    assert (top.path, top.line, top.explicit) == ("django/utils/html.py", 10, True)
    assert "linked by a GitHub URL" in top.reasons


def test_blob_url_with_a_slashed_branch_name() -> None:
    url = "https://github.com/o/r/blob/feature/fix-x/django/views/debug.py?plain=1#L7"
    top = rank("", url)[0]
    assert (top.path, top.line) == ("django/views/debug.py", 7)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("django.db.models.query is slow", "django/db/models/query.py"),
        ("sympy.core.basic.Basic.atoms() is wrong", "sympy/core/basic.py"),
        ("Calling django.views.debug.technical_500_response", "django/views/debug.py"),
        ("`sympy.parsing.mathematica.parse_mathematica` fails", "sympy/parsing/mathematica.py"),
    ],
)
def test_dotted_module_paths(text: str, path: str) -> None:
    top = rank("", text)[0]
    assert (top.path, top.explicit) == (path, True)
    assert "named as a module" in top.reasons


def test_dotted_package_resolves_to_its_init() -> None:
    assert explicit_paths("", "django.db.models.Q is odd") == ["django/db/models/__init__.py"]


def test_dotted_names_are_absolute_imports_not_suffixes() -> None:
    # A user's `apps.models` is not the repository's tests/apps/models.py; `qs.query` is no file.
    assert explicit_paths("", "from apps.models import App\nqs.query.where and self.query") == []


def test_import_statements() -> None:
    body = ">>> from django.views.debug import SafeExceptionReporterFilter\n"
    top = rank("", body)[0]
    assert (top.path, top.explicit) == ("django/views/debug.py", True)
    assert "imported in the issue" in top.reasons


def test_diff_headers_name_the_file() -> None:
    diff = (
        "diff --git a/django/forms/fields.py b/django/forms/fields.py\n--- a/django/forms/fields.py"
    )
    assert explicit_paths("", diff) == ["django/forms/fields.py"]


def test_windows_paths() -> None:
    body = r'File "D:\Anaconda3\envs\x\lib\site-packages\django\db\models\query.py", line 302'
    top = rank("", body)[0]
    assert (top.path, top.line) == ("django/db/models/query.py", 302)


def test_dotless_file_names() -> None:
    assert explicit_paths("", "the Makefile target fails") == ["Makefile"]


# --- matching against the tree ------------------------------------------------------------------


def test_suffix_matches_a_src_layout() -> None:
    tree = ["src/a/b/c.py", "src/a/b/d.py", "tests/test_c.py"]
    assert explicit_paths("", "a/b/c.py breaks", tree=tree) == ["src/a/b/c.py"]
    ci = 'File "/home/runner/build/r/r/src/a/b/c.py", line 3, in f'
    assert explicit_paths("", ci, tree=tree) == ["src/a/b/c.py"]


def test_relative_tail_of_a_path_matches_fully() -> None:
    top = rank("", "see db/models/query.py")[0]
    assert (top.path, top.explicit) == ("django/db/models/query.py", True)
    assert "path partly matches" not in top.reasons


def test_relative_path_with_other_directories_matches_weakly() -> None:
    weak = rank("", "see old/models/query.py")[0]
    strong = rank("", "see django/db/models/query.py")[0]
    assert weak.path == strong.path == "django/db/models/query.py"
    assert "path partly matches" in weak.reasons
    assert weak.score < strong.score


def test_ambiguous_file_name_is_spread_not_picked() -> None:
    found = by_path(rank("", "query.py is broken"))
    first, second = found["django/db/models/query.py"], found["django/db/models/sql/query.py"]
    assert first.explicit
    assert second.explicit
    assert "file name shared by 2 files" in first.reasons
    # Equal evidence; only the keyword tie-break may separate them, and only a little.
    assert abs(first.score - second.score) < 0.3


def test_common_file_names_are_dropped_rather_than_guessed() -> None:
    # utils.py and __init__.py each name more files than MAX_SPREAD: none of them is explicit.
    assert explicit_paths("", "utils.py and __init__.py are involved") == []


def test_matching_ignores_case_but_returns_the_tree_spelling() -> None:
    tree = ["Docs/README.MD", "pkg/Widget.py"]
    assert explicit_paths("", "pkg/widget.py", tree=tree) == ["pkg/Widget.py"]


# --- ordering -----------------------------------------------------------------------------------


def test_explicit_mentions_outrank_keyword_matches() -> None:
    found = rank("SQLCompiler get_order_by drops ordering of sql query", "see fields.py")
    assert found[0].path == "django/forms/fields.py"
    assert found[0].explicit
    assert all(not c.explicit for c in found[1:])
    assert "django/db/models/sql/compiler.py" in [c.path for c in found]


def test_title_and_body_outrank_comments() -> None:
    found = rank("", "see django/forms/widgets.py", "no, django/views/debug.py")
    assert [c.path for c in found[:2]] == ["django/forms/widgets.py", "django/views/debug.py"]
    assert "mentioned in a comment" in found[1].reasons


def test_repeated_mentions_add_up_a_little() -> None:
    body = "django/forms/widgets.py " * 3 + "django/views/debug.py"
    found = by_path(rank("", body))
    widgets, debug = found["django/forms/widgets.py"], found["django/views/debug.py"]
    assert widgets.score > debug.score
    assert widgets.score - debug.score < debug.score  # a little, not threefold
    assert "mentioned 3 times" in widgets.reasons


def test_scores_descend_and_paths_are_unique() -> None:
    found = rank("SQL query", PY_TRACEBACK + " query.py `django/db/models/query.py` ")
    scores = [c.score for c in found]
    assert scores == sorted(scores, reverse=True)
    assert len({c.path for c in found}) == len(found)


def test_limit() -> None:
    assert len(rank("SQL query compiler model field", PY_TRACEBACK, limit=2)) == 2
    assert rank("anything", PY_TRACEBACK, limit=0) == []
    assert rank("anything", PY_TRACEBACK, limit=-1) == []
    assert len(rank("query", limit=100)) <= len(TREE)


# --- keyword fallback ---------------------------------------------------------------------------


def test_keyword_fallback_when_no_file_is_named() -> None:
    top = rank("SQLCompiler.get_order_by() drops a multiline RawSQL ordering", "")[0]
    assert top.path == "django/db/models/sql/compiler.py"
    assert not top.explicit
    assert top.reasons[0].startswith("path words match the issue")
    assert top.score < 1.0


def test_keyword_fallback_prefers_source_over_tests_and_docs() -> None:
    found = paths("The latex printer drops parentheses", "")
    assert found[0] == "sympy/printing/latex.py"
    assert found.index("sympy/printing/tests/test_latex.py") > 0


def test_tests_named_explicitly_are_kept() -> None:
    found = rank("", "sympy/printing/tests/test_latex.py fails on Windows")
    assert (found[0].path, found[0].explicit) == ("sympy/printing/tests/test_latex.py", True)


def test_camel_case_and_package_init_in_keywords() -> None:
    assert paths("FilePathField path should accept a callable", "")[0] in {
        "django/db/models/fields/__init__.py",
        "django/forms/fields.py",
    }


def test_no_texts_or_no_tree() -> None:
    assert rank_referenced_files([], TREE) == []
    assert rank_referenced_files(["", ""], TREE) == []
    assert rank_referenced_files(["django/forms/widgets.py"], []) == []


# --- hostile input ------------------------------------------------------------------------------


def _assert_within_tree(found: list[FileCandidate], tree: list[str]) -> None:
    allowed = set(tree)
    assert all(c.path in allowed for c in found)
    assert len({c.path for c in found}) == len(found)


@pytest.mark.parametrize(
    "text",
    [
        "../../etc/passwd",
        "../../../../etc/shadow.txt and /etc/passwd",
        "..\\..\\windows\\system32\\config\\sam.ini",
        "file:///etc/passwd.py",
        "django/db/models/\x00query.py",
        "\x00\x00\x00",
        "django/db/models/qu\u200bery.py",
        "\u202edjango/forms/widgets.py",
        "C:",
        ":::",
        ".py",
        "/.py:1:2:3",
        "a" * 5000 + ".py",
        "\ud800.py",
        'File "", line 0, in ?',
    ],
)
def test_hostile_paths_never_escape_the_tree(text: str) -> None:
    for texts in ([text], ["", text], ["", "", text]):
        _assert_within_tree(rank_referenced_files(texts, TREE), TREE)


def test_traversal_cannot_reach_outside_files() -> None:
    assert explicit_paths("", "../../etc/passwd and ../../../etc/hosts.txt") == []


def test_big_list_of_naughty_strings() -> None:
    strings = [s for s in json.loads(BLNS.read_text()) if isinstance(s, str)]
    assert strings
    tree = TREE + strings[:200]  # naughty strings as tree paths too: returned only as given
    for naughty in strings:
        for texts in ([naughty], ["", naughty], ["t", "b", naughty], [naughty] * 3):
            _assert_within_tree(rank_referenced_files(texts, TREE), TREE)
        _assert_within_tree(rank_referenced_files([naughty, naughty], tree), tree)


def _big_tree() -> list[str]:
    return [f"pkg{i % 50}/sub{i % 7}/module_{i}.py" for i in range(10_000)] + TREE


def _megabyte_of(pieces: list[str]) -> str:
    body = []
    size = 0
    index = 0
    while size < 1_000_000:
        piece = pieces[index % len(pieces)]
        body.append(piece)
        size += len(piece)
        index += 7
    return "".join(body)


HOSTILE_PIECES = [
    "query ",
    "a/b/c ",
    "x.y.z ",
    "`a.py` ",
    "```\n",
    "django/db/models/query.py:12:3 ",
    'File "/x/site-packages/django/db/models/sql/query.py", line 3, in f\n',
    "Traceback (most recent call last):\n",
    "https://github.com/a/b/blob/main/django/utils/html.py#L3 ",
    "from django.db import models\n",
    "SQLCompilerXMLHttpRequest ",
    "\x00",
    "é/ü.py ",
    "../../etc/passwd ",
    "::: ",
    "\\\\\\ ",
]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_megabyte_of(HOSTILE_PIECES), id="mixed"),
        pytest.param("a" * 1_000_000, id="one-token"),
        pytest.param("a." * 500_000, id="dots"),
        pytest.param("/a" * 500_000, id="slashes"),
        pytest.param("`a" * 500_000, id="backticks"),
        pytest.param("a:1:" * 250_000, id="colons"),
        pytest.param('File "' * 170_000, id="frame-openers"),
        pytest.param("AB" * 500_000, id="capitals"),
        pytest.param("from a import " * 70_000, id="imports"),
    ],
)
def test_megabyte_body_finishes_quickly(body: str) -> None:
    tree = _big_tree()
    rank_referenced_files(["warm"], tree)  # index building is not what this measures
    started = time.perf_counter()
    found = rank_referenced_files(["A title", body, body[:100_000]], tree)
    elapsed = time.perf_counter() - started
    # Generous: it takes well under a second; this only guards against catastrophic backtracking.
    assert elapsed < 10
    _assert_within_tree(found, tree)


def test_mentions_beyond_the_cap_are_not_considered() -> None:
    junk = " ".join(f"junk{i}.py" for i in range(references.MAX_MENTIONS + 10))
    assert explicit_paths("", junk + " django/forms/widgets.py") == []
    assert explicit_paths("", "django/forms/widgets.py " + junk) == ["django/forms/widgets.py"]


def test_duplicate_and_empty_tree_entries() -> None:
    tree = ["a/b.py", "a/b.py", "", "a/c.py"]
    found = rank_referenced_files(["", "a/b.py and b.py"], tree)
    assert [c.path for c in found if c.explicit] == ["a/b.py"]
    _assert_within_tree(found, tree)


# --- real issues --------------------------------------------------------------------------------

# Instances whose gold file the issue names, and how: traceback, path:line, diff, module, etc.
DEVSET_CASES = {
    "django__django-13028": 1351,  # traceback through query.py into sql/query.py
    "django__django-11019": 145,  # /projects/django/django/forms/widgets.py:145: Warning
    "django__django-12453": None,  # a diff
    "django__django-14382": None,  # "line 77 of django/core/management/templates.py"
    "django__django-15347": None,  # from django.contrib.messages.storage.cookie import ...
    "django__django-15789": None,  # django.utils.html.json_script in the title
    "django__django-16046": None,  # numberformat.py in the title
    "sympy__sympy-12454": 1112,  # relative traceback
    "sympy__sympy-13480": 590,  # Windows traceback
    "sympy__sympy-24102": None,  # sympy.parsing.mathematica, next to sympy/printing/mathematica.py
}


def _devset_rows() -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in DEVSET.read_text().splitlines() if line.strip()]
    return {row["id"]: row for row in rows if row["id"] in DEVSET_CASES}


def _distractors(gold: str) -> list[str]:
    """Files a sloppy matcher would confuse with `gold`: same name, tests, docs, siblings."""
    directory, _, name = gold.rpartition("/")
    stem = name.removesuffix(".py")
    top = directory.partition("/")[0]
    last = directory.rpartition("/")[2]
    return [
        f"{directory}/__init__.py",
        f"{directory}/{stem}_utils.py",
        f"{directory}/base_{name}",
        f"{top}/contrib/other/{stem}s.py",
        f"{top}/{stem}.py.bak",
        f"tests/{last}/{name}",  # same name: the file name alone would be ambiguous
        f"tests/{last}/test_{name}",
        f"{top}/{last}/tests/test_{name}",
        f"docs/ref/{stem}.txt",
    ]


@pytest.mark.parametrize(("instance", "line"), sorted(DEVSET_CASES.items()))
def test_real_issue_names_its_gold_file(instance: str, line: int | None) -> None:
    row = _devset_rows()[instance]
    gold: list[str] = row["gold_files"]
    tree = sorted({*TREE, *gold, *(d for g in gold for d in _distractors(g))})
    top = rank_referenced_files([str(row["title"]), str(row["body"])], tree)[0]
    assert top.path in gold
    assert top.explicit
    assert top.line == line
