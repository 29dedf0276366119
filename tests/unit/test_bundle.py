"""build_bundle on hand-made raw context: budget, priorities, observed flags, scrubbing and the
fingerprint that decides whether a tutorial must be regenerated."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from issuesight.context.bundle import (
    FIXED_OVERHEAD,
    LEFT_OUT,
    PER_ITEM_OVERHEAD,
    ContextBundle,
    build_bundle,
    earlier_fingerprint,
    fingerprint,
)
from issuesight.context.gather import FetchedFile, RawContext
from issuesight.core.text import REDACTED
from issuesight.domain.refs import make_ref

REF = make_ref("octo-org", "hello-world", 42)
NOW = datetime(2025, 6, 1, tzinfo=UTC)
SECRET = "configured-secret-value-123"
GHP = "ghp_" + "Z9y8X7w6V5" * 4


_DEFAULT: Any = object()


def _comment(i: int, body: str | None = _DEFAULT, **extra: Any) -> dict[str, Any]:
    return {
        "id": 1000 + i,
        "body": f"comment {i:03d} " + ("c" * 200) if body is _DEFAULT else body,
        "user": {"login": f"user{i}"},
        "created_at": f"2025-01-{1 + i % 28:02d}T00:00:00Z",
        "updated_at": f"2025-01-{1 + i % 28:02d}T00:00:00Z",
        **extra,
    }


def _file(path: str, text: str | None = "print('hi')\n", **extra: Any) -> FetchedFile:
    values: dict[str, Any] = {
        "path": path,
        "blob_sha": "sha-" + path,
        "text": text,
        "reasons": ("named as a path",),
        "line": None,
        "explicit": True,
        "size": None if text is None else len(text),
    }
    values.update(extra)
    return FetchedFile(**values)


def _raw(**overrides: Any) -> RawContext:
    issue = {
        "number": 42,
        "title": "Crash when the config file is empty",
        "body": "Steps to reproduce: run `hello` with an empty config.",
        "state": "open",
        "locked": False,
        "labels": [{"name": "bug"}, {"name": "good first issue"}],
        "assignees": [],
        "user": {"login": "reporter"},
        "created_at": "2025-05-01T10:00:00Z",
        "updated_at": "2025-05-20T10:00:00Z",
        "html_url": "https://github.com/octo-org/hello-world/issues/42",
    }
    issue.update(overrides.pop("issue", {}))
    values: dict[str, Any] = {
        "repo": {
            "full_name": "octo-org/hello-world",
            "description": "A friendly greeter",
            "language": "Python",
            "html_url": "https://github.com/octo-org/hello-world",
        },
        "issue": issue,
        "comments": [_comment(i) for i in range(3)],
        "comments_total": 3,
        "commit_sha": "0123456789abcdef0123456789abcdef01234567",
        "tree_paths": ["README.md", "src/hello/__init__.py", "src/hello/cli.py", "tests/t.py"],
        "readme": ("README.md", "# Hello\nA greeter.\n"),
        "contributing": ("CONTRIBUTING.md", "Run the tests first.\n"),
        "files": [_file("src/hello/cli.py")],
        "linked_pull_requests": [],
    }
    values.update(overrides)
    if "comments" in overrides and "comments_total" not in overrides:
        values["comments_total"] = len(values["comments"])
    return RawContext(**values)


def _build(raw: RawContext, budget: int = 60_000, **kwargs: Any) -> ContextBundle:
    kwargs.setdefault("now", NOW)
    return build_bundle(raw, REF, budget_chars=budget, **kwargs)


def _kept_chars(bundle: ContextBundle) -> int:
    return (
        len(bundle.issue_title)
        + len(bundle.issue_body)
        + len(bundle.readme or "")
        + len(bundle.contributing or "")
        + sum(len(f.content or "") for f in bundle.files)
        + sum(len(c.body) for c in bundle.comments)
    )


# -- shape -------------------------------------------------------------------------------------


def test_small_issue_is_kept_whole() -> None:
    raw = _raw()
    bundle = _build(raw)
    assert bundle.issue_key == "octo-org/hello-world#42"
    assert bundle.repo_full_name == "octo-org/hello-world"
    assert bundle.repo_language == "Python"
    assert bundle.issue_title == "Crash when the config file is empty"
    assert bundle.issue_body == raw.issue["body"]
    assert bundle.issue_body_truncated is False
    assert bundle.labels == ["bug", "good first issue"]
    assert bundle.author == "reporter"
    assert [c.body for c in bundle.comments] == [c["body"] for c in raw.comments]
    assert [c.author for c in bundle.comments] == ["user0", "user1", "user2"]
    assert bundle.comments_omitted == 0
    assert bundle.readme == "# Hello\nA greeter.\n"
    assert bundle.contributing_path == "CONTRIBUTING.md"
    assert bundle.files[0].content == "print('hi')\n"
    assert bundle.files[0].url == (
        "https://github.com/octo-org/hello-world/blob/"
        "0123456789abcdef0123456789abcdef01234567/src/hello/cli.py"
    )
    assert bundle.tree_outline == ["README.md", "src/", "tests/"]
    assert bundle.observed_flags == []
    assert bundle.budget_chars == 60_000
    assert bundle.blob_url("x.py").endswith("/blob/0123456789abcdef0123456789abcdef01234567/x.py")


def test_binary_file_gets_a_note_and_no_content() -> None:
    bundle = _build(_raw(files=[_file("logo.png", text=None)]))
    assert bundle.files[0].content is None
    assert bundle.files[0].note == "binary or too large to show"


def test_file_with_line_is_windowed_around_it() -> None:
    lines = [f"line {i}" for i in range(1, 20_001)]
    raw = _raw(files=[_file("big.py", text="\n".join(lines), line=12_345)])
    bundle = _build(raw, budget=20_000)
    content = bundle.files[0].content
    assert content is not None
    assert "line 12345" in content.split("\n")
    assert content.startswith("[lines ")
    assert "line 1\n" not in content


def test_null_body_and_string_or_dict_labels() -> None:
    raw = _raw(
        issue={"body": None, "labels": ["plain", {"name": "dict"}, {"no": "name"}, 7, None]},
        comments=[_comment(0, body=None)],
    )
    bundle = _build(raw)
    assert bundle.issue_body == ""
    assert bundle.labels == ["plain", "dict"]
    assert bundle.comments[0].body == ""
    assert "the issue has no description: scope may be vague" in bundle.observed_flags


def test_missing_commit_and_user_fall_back() -> None:
    raw = _raw(commit_sha=None, issue={"user": None, "html_url": None}, repo={})
    bundle = _build(raw)
    assert bundle.commit_sha is None
    assert bundle.author == ""
    assert bundle.repo_url == "https://github.com/octo-org/hello-world"
    assert bundle.issue_url == REF.html_url
    assert (
        bundle.files[0].url == "https://github.com/octo-org/hello-world/blob/HEAD/src/hello/cli.py"
    )
    comment_without_user = _comment(0)
    comment_without_user["user"] = None
    bundle = _build(_raw(comments=[comment_without_user]))
    assert bundle.comments[0].author == "ghost"


# -- budget and priority -----------------------------------------------------------------------


def _huge_raw(n_comments: int = 400, body_size: int = 300_000) -> RawContext:
    body = "BODY-HEAD " + ("lorem ipsum " * (body_size // 12)) + " BODY-TAIL"
    comments = [_comment(i, body=f"COMMENT-{i:03d} " + "w" * 900) for i in range(n_comments)]
    return _raw(
        issue={"title": "T" * 2_000, "body": body},
        comments=comments,
        readme=("README.md", "README-START " + "r" * 200_000),
        contributing=("CONTRIBUTING.md", "CONTRIB-START " + "k" * 200_000),
        files=[_file(f"src/f{i}.py", text=f"FILE-{i}-START " + "z" * 100_000) for i in range(5)],
    )


@pytest.mark.parametrize("budget", [4_000, 8_000, 20_000, 60_000, 250_000])
def test_kept_text_stays_within_the_budget(budget: int) -> None:
    raw = _huge_raw()
    bundle = _build(raw, budget=budget)
    assert _kept_chars(bundle) <= budget
    if budget >= 20_000:
        # The fixed overhead stays reserved for instructions and headings (a comment may
        # overshoot its share by at most one minimal excerpt).
        reserve = FIXED_OVERHEAD + PER_ITEM_OVERHEAD * len(raw.files)
        assert _kept_chars(bundle) <= budget - reserve + 400
    assert len(bundle.issue_title) == 500
    assert bundle.issue_body_truncated is True
    assert bundle.comments_total == 400
    assert bundle.comments_omitted == 400 - len(bundle.comments)


def test_priority_issue_readme_files_before_old_comments() -> None:
    raw = _huge_raw()
    bundle = _build(raw, budget=20_000)
    # The question and its latest state: the head and the tail of the body.
    assert bundle.issue_body.startswith("BODY-HEAD ")
    assert bundle.issue_body.endswith(" BODY-TAIL")
    assert "characters omitted" in bundle.issue_body
    assert bundle.readme is not None
    assert bundle.readme.startswith("README-START")
    assert bundle.contributing is not None
    assert bundle.contributing.startswith("CONTRIB-START")
    # Code gets what the rest leaves, the best-ranked file the most; a named file that gets
    # no room keeps its heading with a note.
    assert [f.path for f in bundle.files] == [f"src/f{i}.py" for i in range(5)]
    shown = [f for f in bundle.files if f.content is not None]
    assert len(shown) >= 2
    for i, f in enumerate(bundle.files):
        if f.content is not None:
            assert f.content.startswith(f"FILE-{i}-START")
        else:
            assert f.note == LEFT_OUT
    sizes = [len(f.content or "") for f in bundle.files]
    assert sizes == sorted(sizes, reverse=True)
    # Comments get at most their share: some, not all, and the newest ones.
    assert 0 < len(bundle.comments) < 400
    kept_ids = [int(c.body.split()[0].split("-")[1]) for c in bundle.comments]
    assert kept_ids == list(range(400 - len(kept_ids), 400))


def test_comments_newest_kept_in_chronological_order() -> None:
    comments = [_comment(i, body=f"C{i:03d} " + "q" * 1_500) for i in range(100)]
    bundle = _build(_raw(comments=comments), budget=20_000)
    bodies = [c.body for c in bundle.comments]
    assert 0 < len(bodies) < 100
    assert bodies[-1].startswith("C099 ")
    numbers = [int(b[1:4]) for b in bodies]
    assert numbers == sorted(numbers)
    assert numbers == list(range(100 - len(numbers), 100))
    assert bundle.comments_omitted == 100 - len(numbers)


def test_a_wall_of_logs_comment_is_capped() -> None:
    log_comment = _comment(1, body="LOG-START " + "e" * 100_000 + " LOG-END")
    bundle = _build(_raw(comments=[_comment(0), log_comment]), budget=200_000)
    wall = bundle.comments[-1]
    assert wall.truncated is True
    assert len(wall.body) <= 6_000
    assert wall.body.startswith("LOG-START")
    assert wall.body.endswith("LOG-END")
    assert bundle.comments[0].body == _comment(0)["body"]
    assert bundle.comments[0].truncated is False


def test_unused_comment_room_goes_back_to_the_body() -> None:
    body = "HEAD " + "b" * 60_000 + " TAIL"
    with_room = _build(_raw(issue={"body": body}, comments=[]), budget=60_000)
    crowded = _build(
        _raw(issue={"body": body}, comments=[_comment(i, "x" * 5_000) for i in range(50)]),
        budget=60_000,
    )
    assert len(with_room.issue_body) > len(crowded.issue_body)
    assert with_room.issue_body.endswith(" TAIL")
    assert crowded.issue_body.endswith(" TAIL")


# -- observed flags ----------------------------------------------------------------------------


def test_no_flags_for_a_fresh_open_issue() -> None:
    assert _build(_raw()).observed_flags == []


def test_all_observed_flags_together() -> None:
    raw = _raw(
        issue={
            "assignees": [{"login": "alice"}, {"login": "bob"}],
            "state": "closed",
            "locked": True,
            "updated_at": "2024-01-01T00:00:00Z",
            "body": "   \n",
        },
        linked_pull_requests=[
            {"number": 7, "state": "open", "title": "Fix it", "merged": False},
            {"number": 3, "state": "closed", "title": "Old try", "merged": False},
        ],
    )
    flags = _build(raw).observed_flags
    assert flags == [
        "already assigned to @alice, @bob",
        "open pull request #7 references this issue",
        "the issue is closed",
        "the conversation is locked",
        "no activity since 2024-01-01",
        "the issue has no description: scope may be vague",
    ]


@pytest.mark.parametrize(
    ("updated_at", "stale"),
    [
        ("2025-05-31T00:00:00Z", False),
        ("2024-12-04T00:00:00Z", False),  # 179 days before NOW
        ("2024-12-02T00:00:00Z", True),  # 181 days before NOW
        ("2020-01-01T00:00:00+00:00", True),
        ("not a date", False),
        (None, False),
    ],
)
def test_stale_uses_the_now_argument(updated_at: str | None, stale: bool) -> None:
    flags = _build(_raw(issue={"updated_at": updated_at})).observed_flags
    assert any(f.startswith("no activity since") for f in flags) is stale


def test_stale_depends_on_now_not_the_clock() -> None:
    raw = _raw(issue={"updated_at": "2025-05-20T10:00:00Z"})
    later = datetime(2026, 1, 1, tzinfo=UTC)
    assert _build(raw, now=later).observed_flags == ["no activity since 2025-05-20"]
    assert _build(raw, now=NOW).observed_flags == []


def test_merged_or_closed_pull_requests_are_not_flagged() -> None:
    raw = _raw(
        linked_pull_requests=[{"number": 9, "state": "closed", "title": "t", "merged": True}]
    )
    bundle = _build(raw)
    assert bundle.observed_flags == []
    assert bundle.linked_pull_requests[0].merged is True


# -- secrets -----------------------------------------------------------------------------------


def test_secrets_are_scrubbed_from_every_text_field() -> None:
    leak = f"{SECRET} and {GHP}"
    raw = _raw(
        repo={"full_name": "octo-org/hello-world", "description": f"desc {leak}"},
        issue={
            "title": f"title {leak}",
            "body": f"body {leak}",
            "labels": [f"label {SECRET}", {"name": f"dict {GHP}"}],
            "user": {"login": f"u{SECRET}"},
        },
        comments=[
            _comment(0, body=f"comment {leak}", user={"login": f"c{SECRET}"}),
            _comment(1, body="x" * 20_000 + leak),
        ],
        readme=("README.md", f"readme {leak}"),
        contributing=("CONTRIBUTING.md", f"contributing {leak}"),
        files=[_file("a.py", text=f"key = '{leak}'"), _file("b.py", text=f"{leak}\n" * 3, line=2)],
    )
    bundle = _build(raw, secrets=[SECRET])
    dumped = bundle.model_dump_json()
    assert SECRET not in dumped
    assert GHP not in dumped
    assert bundle.issue_title == f"title {REDACTED} and {REDACTED}"
    assert bundle.issue_body == f"body {REDACTED} and {REDACTED}"
    assert bundle.repo_description == f"desc {REDACTED} and {REDACTED}"
    assert bundle.labels == [f"label {REDACTED}", f"dict {REDACTED}"]
    assert bundle.comments[0].body == f"comment {REDACTED} and {REDACTED}"
    assert bundle.readme == f"readme {REDACTED} and {REDACTED}"
    assert bundle.contributing == f"contributing {REDACTED} and {REDACTED}"
    assert bundle.files[0].content == f"key = '{REDACTED} and {REDACTED}'"
    assert bundle.author == f"u{REDACTED}"
    assert bundle.comments[0].author == f"c{REDACTED}"


def test_linked_pull_request_titles_are_scrubbed() -> None:
    raw = _raw(
        linked_pull_requests=[
            {"number": 5, "state": "open", "title": f"Use {SECRET} / {GHP}", "merged": False}
        ]
    )
    bundle = _build(raw, secrets=[SECRET])
    assert SECRET not in bundle.linked_pull_requests[0].title
    assert GHP not in bundle.linked_pull_requests[0].title


def test_assignee_logins_in_observed_flags_are_scrubbed() -> None:
    raw = _raw(issue={"assignees": [{"login": f"a{SECRET}"}, {"login": GHP}, {"login": None}]})
    bundle = _build(raw, secrets=[SECRET])
    assert bundle.observed_flags == [f"already assigned to @a{REDACTED}, @{REDACTED}"]
    assert SECRET not in bundle.model_dump_json()
    assert GHP not in bundle.model_dump_json()


def test_several_open_pull_requests_make_one_flag() -> None:
    prs = [{"number": n, "state": "open", "title": "t", "merged": False} for n in range(1, 14)]
    flags = _build(_raw(linked_pull_requests=prs)).observed_flags
    assert flags == [
        "open pull requests #1, #2, #3, #4, #5, #6, #7, #8, #9, #10 and 3 more reference this issue"
    ]
    assert _build(_raw(linked_pull_requests=prs[:2])).observed_flags == [
        "open pull requests #1, #2 reference this issue"
    ]


def test_blob_urls_percent_encode_the_path() -> None:
    path = "docs/my file (1)#2?.md"
    raw = _raw(tree_paths=[path], files=[_file(path)])
    bundle = _build(raw)
    expected = (
        "https://github.com/octo-org/hello-world/blob/"
        "0123456789abcdef0123456789abcdef01234567/docs/my%20file%20%281%29%232%3F.md"
    )
    assert bundle.files[0].url == expected
    assert bundle.blob_url(path) == expected
    assert bundle.files[0].path == path


def test_a_short_budget_keeps_the_body_and_leaves_files_out_with_a_note() -> None:
    raw = _raw(
        repo={"full_name": "octo-org/hello-world", "description": "d" * 1_000},
        issue={"title": "t" * 500, "body": "BODY " + "b" * 2_000},
        files=[_file(f"src/f{i}.py", text="z" * 10_000) for i in range(5)],
    )
    bundle = _build(raw, budget=4_000)
    assert bundle.issue_body.startswith("BODY ")
    assert len(bundle.issue_body) <= 400
    assert len(bundle.issue_body) >= 350
    assert all(f.content is None and f.note for f in bundle.files)


def test_nul_bytes_and_crlf_are_cleaned() -> None:
    raw = _raw(issue={"title": "a\x00b", "body": "x\r\ny\x00"}, comments=[_comment(0, "p\x00q")])
    bundle = _build(raw)
    assert bundle.issue_title == "ab"
    assert bundle.issue_body == "x\ny"
    assert bundle.comments[0].body == "pq"


# -- fingerprint -------------------------------------------------------------------------------


def test_fingerprint_is_stable_and_in_the_bundle() -> None:
    raw = _raw()
    assert fingerprint(raw) == fingerprint(copy.deepcopy(raw))
    assert _build(raw).fingerprint == fingerprint(raw)
    assert len(fingerprint(raw)) == 64


def _tweak_issue(**changes: Any) -> Any:
    def apply(raw: RawContext) -> None:
        raw.issue.update(changes)

    return apply


def _set_reactions(raw: RawContext) -> None:
    raw.issue["reactions"] = {"+1": 12, "heart": 3}
    raw.comments[0]["reactions"] = {"+1": 1}


def _reorder_labels(raw: RawContext) -> None:
    raw.issue["labels"] = list(reversed(raw.issue["labels"]))


def _labels_as_strings(raw: RawContext) -> None:
    raw.issue["labels"] = [label["name"] for label in raw.issue["labels"]]


def _touch_comment(raw: RawContext) -> None:
    raw.comments[1]["updated_at"] = "2025-05-30T00:00:00Z"


def _reorder_comments(raw: RawContext) -> None:
    raw.comments.reverse()


def _new_comment_author_login(raw: RawContext) -> None:
    raw.comments[0]["user"] = {"login": "renamed"}


@pytest.mark.parametrize(
    "change",
    [
        _tweak_issue(assignees=[{"login": "alice"}]),
        _tweak_issue(updated_at="2025-05-30T00:00:00Z"),
        _tweak_issue(comments=17),
        _set_reactions,
        _reorder_labels,
        _labels_as_strings,
        _tweak_issue(body="Steps to reproduce: run `hello` with an empty config.\x00"),
        _touch_comment,
        _reorder_comments,
    ],
    ids=[
        "assignees",
        "updated_at",
        "comment-count",
        "reactions",
        "label-order",
        "label-shape",
        "nul-byte",
        "comment-updated_at",
        "comment-order",
    ],
)
def test_fingerprint_ignores(change: Any) -> None:
    raw = _raw()
    before = fingerprint(raw)
    changed = copy.deepcopy(raw)
    change(changed)
    assert fingerprint(changed) == before


def _edit_comment(raw: RawContext) -> None:
    raw.comments[1]["body"] = "edited"
    raw.comments[1]["updated_at"] = "2025-05-30T00:00:00Z"


def _edit_comment_body_only(raw: RawContext) -> None:
    raw.comments[1]["body"] = "edited silently"


def _new_comment(raw: RawContext) -> None:
    raw.comments.append(_comment(3))


def _new_blob(raw: RawContext) -> None:
    raw.files[0].blob_sha = "a-different-sha"


def _new_file(raw: RawContext) -> None:
    raw.files.append(_file("src/other.py"))


def _add_label(raw: RawContext) -> None:
    raw.issue["labels"].append({"name": "help wanted"})


@pytest.mark.parametrize(
    "change",
    [
        _tweak_issue(title="A different title"),
        _tweak_issue(body="A different body"),
        _tweak_issue(body=None),
        _tweak_issue(state="closed"),
        _add_label,
        _edit_comment,
        _edit_comment_body_only,
        _new_comment,
        _new_blob,
        _new_file,
    ],
    ids=[
        "title",
        "body",
        "body-null",
        "state",
        "label",
        "comment-edit",
        "comment-body",
        "new-comment",
        "blob-sha",
        "new-file",
    ],
)
def test_fingerprint_changes_with(change: Any) -> None:
    raw = _raw()
    before = fingerprint(raw)
    changed = copy.deepcopy(raw)
    change(changed)
    assert fingerprint(changed) != before


def test_the_earlier_fingerprint_is_the_formula_stored_tutorials_carry() -> None:
    """Tutorials stored before comments were fingerprinted by id and text carry the earlier
    digest; a refresh that still matches it is unchanged (no paid regeneration for a new
    formula). It saw a comment's updated_at, the current one does not."""
    raw = _raw()
    assert raw.comments
    assert earlier_fingerprint(raw) != fingerprint(raw)
    assert earlier_fingerprint(raw) == earlier_fingerprint(copy.deepcopy(raw))
    touched = copy.deepcopy(raw)
    _touch_comment(touched)
    assert earlier_fingerprint(touched) != earlier_fingerprint(raw)
    assert fingerprint(touched) == fingerprint(raw)


def test_fingerprint_changes_when_a_pull_request_is_opened_for_the_issue() -> None:
    from issuesight.context.bundle import fingerprint
    from issuesight.context.gather import RawContext

    issue = {"title": "t", "body": "b", "state": "open", "labels": []}
    quiet = RawContext(repo={}, issue=issue, comments=[], comments_total=0, commit_sha=None)
    busy = RawContext(repo={}, issue=issue, comments=[], comments_total=0, commit_sha=None)
    busy.linked_pull_requests = [{"number": 7, "state": "open", "title": "fix", "merged": False}]
    assert fingerprint(quiet) != fingerprint(busy)
