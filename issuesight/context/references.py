"""Which repository files an issue is about: the files it names first, path keywords after.

Pure and offline: the issue's texts and the repository's blob paths in, ranked candidates out.
Issue text is hostile (megabyte logs, traversal paths, NUL bytes, odd unicode), so no regular
expression here has nested or unbounded overlapping quantifiers that could backtrack
catastrophically, the number of mentions considered is capped, and a candidate is only ever a
path taken from the tree as given.

Two tiers, explicit before keyword:

* Explicit mentions: traceback frames, ``path:line`` stack frames, GitHub blob URLs, paths,
  bare file names, dotted module paths and import statements, resolved against the tree by
  path suffix (absolute site-packages paths, ``a/b/c.py`` for ``src/a/b/c.py``) or by file name
  (weaker, and spread over the files sharing it or dropped when too many do).
* Keyword fallback: a small BM25 over path tokens (directories, file stem split on ``_ - .`` and
  camelCase) so issues that name no file still get candidates, preferring source over tests/docs.
"""

from __future__ import annotations

import bisect
import heapq
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["FileCandidate", "PathTree", "path_tree", "rank_referenced_files"]

MAX_MENTIONS = 4000  # across all texts; a log pasted whole must not cost more than its head
MAX_TOKEN_LENGTH = 1024  # longer "paths" are noise (minified code, base64), not file names
MAX_SPREAD = 3  # a file name shared by more files than this says nothing about which one
KEYWORD_CHARS_PER_TEXT = 200_000  # the head of a huge paste carries all its vocabulary
MAX_REASONS = 6


@dataclass(frozen=True, slots=True)
class FileCandidate:
    path: str  # a path that exists in the given tree, exactly as the tree spells it
    score: float  # higher is more relevant
    reasons: tuple[str, ...]  # human-readable, short
    line: int | None  # first line number the issue mentions for this file, if any
    explicit: bool  # True when the issue text names the file (not only keyword similarity)


def rank_referenced_files(
    texts: Sequence[str],
    tree_paths: Sequence[str],
    *,
    limit: int = 8,
    tree: PathTree | None = None,
    keywords: bool = True,
) -> list[FileCandidate]:
    """Rank tree paths by how clearly `texts` ([title, body, comments...]) point at them.

    `tree`, from path_tree(tree_paths), saves rebuilding the path indexes for every issue;
    `keywords=False` leaves out the path-word fallback (explicit mentions only).
    """
    if limit <= 0:
        return []
    tree = tree or _tree_for(tuple(tree_paths))
    if not tree.paths:
        return []
    mentions = _extract_mentions(texts)
    memo: dict[_ResolutionKey, _Resolution] = {}  # a pasted log repeats the same frames
    resolved = [(m, tree.resolve(m, memo)) for m in mentions]
    _mark_deepest_frames(resolved)
    evidence = _collect_evidence(resolved, tree)
    keyword = _keyword_scores(texts, tree) if keywords else _NO_HITS
    return _merge(evidence, keyword, tree, limit)


# --- mentions ---------------------------------------------------------------------------------

TRACEBACK = "traceback"  # File "x.py", line 3
FRAME = "frame"  # x.js:10:5, as in most non-Python stack traces
URL = "url"
PATH = "path"
NAME = "name"
MODULE = "module"
IMPORT = "import"


def word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_PY_FRAME = re.compile(r'File "([^"\n]{1,1024})", line ([0-9]{1,9})')
_TRACEBACK_HEADER = re.compile(r"Traceback \(most recent call last\)")
_BLOB_URL = re.compile(
    r"(?:https?://)?(?:www\.)?github\.com/[\w.\-]{1,100}/[\w.\-]{1,100}/(?:blob|blame|raw|tree)/"
    r"([^\s\"'<>()\[\]`]{1,2000})"
)
# File names without a dot that are still obviously files.
_DOTLESS_NAMES = frozenset(
    {"makefile", "dockerfile", "jenkinsfile", "gemfile", "rakefile", "procfile", "vagrantfile"}
)
# A maximal run of path characters holding a `.`, `/` or `\`, or a dot-less file name. The
# lookbehind starts matches only at a run's first character and the possessive `*+` never gives
# back, so a long run without a separator is scanned once, not once per starting position.
_PATH_CHARS = r"[\w.\-/\\~+@:]"
_TOKEN = re.compile(
    rf"(?<!{_PATH_CHARS})(?:[\w\-~+@:]*+[./\\]{_PATH_CHARS}*"
    rf"|(?i:{'|'.join(sorted(_DOTLESS_NAMES))})(?!{_PATH_CHARS}))"
)
_LINE_AFTER = re.compile(r"[\"']?,? line ([0-9]{1,9})")
_FENCE = re.compile(r"^[ \t]{0,3}(?:`{3,}|~{3,})", re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]{1,500}`")
_FROM_IMPORT = re.compile(
    r"^[ \t>.]{0,12}from[ \t]+([A-Za-z_][\w.]{0,200})[ \t]+import[ \t]+\(?([\w \t,]{1,500})",
    re.MULTILINE,
)
_PLAIN_IMPORT = re.compile(r"^[ \t>.]{0,12}import[ \t]+([A-Za-z_][\w.]{0,200})", re.MULTILINE)
_IDENTIFIER = re.compile(r"[A-Za-z_]\w{0,100}")

# Extensions that make a bare word a file name (`query.py`) rather than an attribute (`qs.query`).
_FILE_EXTENSIONS = word_set(
    """py pyi pyx pxd ipynb js jsx mjs cjs ts tsx vue svelte go rs java kt kts scala groovy c h cc
    cpp cxx hpp hh hxx m mm swift rb erb php cs fs vb lua pl pm r jl dart ex exs erl hrl hs ml mli
    clj cljs elm sh bash zsh fish ps1 bat cmd sql html htm jinja j2 css scss sass less json jsonc
    yaml yml toml ini cfg conf xml md rst txt po proto graphql gql gradle cmake mk tex lock tf
    properties env csv"""
)
_SOURCE_EXTENSIONS = word_set(
    """py pyi pyx pxd js jsx mjs cjs ts tsx vue svelte go rs java kt kts scala groovy c h cc cpp
    cxx hpp hh hxx m mm swift rb php cs fs vb lua pl pm r jl dart ex exs erl hrl hs ml mli clj
    cljs elm sh"""
)
# Directories that sit above a package in a checkout but not in site-packages.
_SOURCE_ROOTS = frozenset({"src", "lib", "source", "python", "py", "pkg", "packages", "lib64"})


@dataclass(slots=True)
class _Mention:
    kind: str
    parts: tuple[str, ...]  # lower-cased path components, or module names for MODULE/IMPORT
    text_index: int
    offset: int
    line: int | None = None
    absolute: bool = False  # came from someone's machine: only its tail can be the repository's
    code: str | None = None  # "backticks" or "a code block"
    trace: int = 0  # Python frames: how many "Traceback" headers precede it
    group: int = 0  # frames of one stack trace share a group
    deepest: bool = False


@dataclass(slots=True)
class _Budget:
    left: int = MAX_MENTIONS

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _extract_mentions(texts: Sequence[str]) -> list[_Mention]:
    budget = _Budget()
    mentions: list[_Mention] = []
    for index, text in enumerate(texts):
        if budget.left <= 0:
            break
        if text:
            mentions.extend(_TextScan(text, index, budget).mentions())
    return mentions


class _TextScan:
    """All mentions in one text, each counted once even where two shapes overlap."""

    def __init__(self, text: str, index: int, budget: _Budget) -> None:
        self.text = text
        self.index = index
        self.budget = budget
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.code = _code_spans(text)
        self.claimed: list[tuple[int, int]] = []  # by shapes more specific than a bare token

    def mentions(self) -> list[_Mention]:
        found = self._python_frames()
        found += self._blob_urls()
        found += self._imports()
        found += self._tokens()
        _group_frames(found, self.newlines)
        found.sort(key=lambda m: m.offset)
        return found

    def _python_frames(self) -> list[_Mention]:
        headers = [m.start() for m in _TRACEBACK_HEADER.finditer(self.text)]
        found = []
        for match in _PY_FRAME.finditer(self.text):
            parts, absolute = _path_parts(match.group(1))
            if not parts or not self.budget.take():
                continue
            self.claimed.append(match.span())
            line = int(match.group(2))
            mention = _Mention(TRACEBACK, parts, self.index, match.start(), line, absolute)
            mention.trace = bisect.bisect_right(headers, match.start())
            found.append(mention)
        return found

    def _blob_urls(self) -> list[_Mention]:
        found = []
        for match in _BLOB_URL.finditer(self.text):
            self.claimed.append(match.span())
            target, _, anchor = match.group(1).partition("#")
            target = target.partition("?")[0]
            # The first segment is the ref; a ref with slashes only leaves extra leading
            # components, which suffix matching ignores.
            parts, _ = _path_parts(target.partition("/")[2])
            if parts and _has_file_name(parts[-1]) and self.budget.take():
                line = _anchor_line(anchor)
                found.append(_Mention(URL, parts, self.index, match.start(), line=line))
        return found

    def _imports(self) -> list[_Mention]:
        found = []
        for match in _FROM_IMPORT.finditer(self.text):
            self.claimed.append(match.span())
            base = tuple(match.group(1).strip(".").split("."))
            names = _IDENTIFIER.findall(match.group(2))[:20] or [""]
            for name in names:
                parts = (*base, name) if name else base
                found += self._import_mention(parts, match.start())
        for match in _PLAIN_IMPORT.finditer(self.text):
            self.claimed.append(match.span())
            found += self._import_mention(
                tuple(match.group(1).strip(".").split(".")), match.start()
            )
        return found

    def _import_mention(self, parts: tuple[str, ...], offset: int) -> list[_Mention]:
        if len(parts) < 2 or not all(parts) or not self.budget.take():
            return []
        code = self.code.kind_at(offset)
        return [_Mention(IMPORT, parts, self.index, offset, code=code)]

    def _tokens(self) -> list[_Mention]:
        claimed = _disjoint(self.claimed)
        found = []
        for match in _TOKEN.finditer(self.text):
            if self.budget.left <= 0:
                break
            token = match.group()
            if len(token) > MAX_TOKEN_LENGTH or _inside(claimed, match.start()):
                continue
            mention = self._classify(token, match.start(), match.end())
            if mention is not None and self.budget.take():
                found.append(mention)
        return found

    def _classify(self, token: str, start: int, end: int) -> _Mention | None:
        if "://" in token:
            return None  # a URL that is not a GitHub blob: nothing in this repository
        core, line = _split_line_suffix(token)
        kind = FRAME if line is not None else PATH
        if line is None:
            after = _LINE_AFTER.match(self.text, end)
            line = int(after.group(1)) if after else None
        code = self.code.kind_at(start)
        if "/" in core or "\\" in core:
            parts, absolute = _path_parts(core)
            if not parts or not _has_file_name(parts[-1]):
                return None
            return _Mention(kind, parts, self.index, start, line, absolute, code)
        if _has_file_name(core.lower()):
            kind = FRAME if kind == FRAME else NAME
            return _Mention(kind, (core.lower(),), self.index, start, line, code=code)
        modules = tuple(core.split("."))
        if len(modules) >= 2 and all(_IDENTIFIER.fullmatch(p) for p in modules):
            return _Mention(MODULE, modules, self.index, start, code=code)
        return None


def _split_line_suffix(token: str) -> tuple[str, int | None]:
    """`a/b.go:12:5:` -> (`a/b.go`, 12); also drops sentence punctuation and drive letters."""
    core = token.rstrip(".,:;-")
    numbers: list[str] = []
    while len(numbers) < 2:
        head, sep, tail = core.rpartition(":")
        if not sep or not tail.isascii() or not tail.isdigit() or len(tail) > 9:
            break
        numbers.append(tail)
        core = head
    if len(core) >= 2 and core[1] == ":" and core[0].isascii() and core[0].isalpha():
        core = core[2:]  # C:\Users\...
    core = core.partition(":")[0]  # `path.py:function` and other annotations after a colon
    line = int(numbers[-1]) if numbers else None
    return core.rstrip(".,;-"), line


def _path_parts(raw: str) -> tuple[tuple[str, ...], bool]:
    """Lower-cased components without empty, `.` or `..` parts, and whether it looked absolute."""
    path = raw.replace("\\", "/").strip()
    absolute = path.startswith(("/", "~", "{")) or (len(path) > 1 and path[1] == ":")
    lowered = path.lower()
    absolute = absolute or "site-packages" in lowered or "dist-packages" in lowered
    parts = tuple(p for p in lowered.split("/") if p.strip(". \t"))
    return parts, absolute


def _has_file_name(name: str) -> bool:
    if name in _DOTLESS_NAMES:
        return True
    stem, dot, extension = name.rpartition(".")
    if not dot:
        return False
    if not stem:
        return len(extension) > 1  # dotfiles such as .gitignore
    return extension in _FILE_EXTENSIONS


def _anchor_line(anchor: str) -> int | None:
    digits = anchor[1:].partition("-")[0] if anchor.startswith("L") else ""
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 10 else None


def _group_frames(mentions: list[_Mention], newlines: list[int]) -> None:
    """Frames on nearby lines form one trace; Python traces also split at each header."""
    last: dict[tuple[str, int], tuple[int, int]] = {}  # (kind, trace) -> (row, group)
    groups = 0
    for mention in sorted(mentions, key=lambda m: m.offset):
        if mention.kind not in (TRACEBACK, FRAME):
            continue
        row = bisect.bisect_right(newlines, mention.offset)
        key = (mention.kind, mention.trace)
        previous = last.get(key)
        # A traceback prints a frame every second line; a wider gap starts another trace.
        if previous is None or row - previous[0] > 4:
            groups += 1
            previous = (row, groups)
        last[key] = (row, previous[1])
        mention.group = previous[1]


def _disjoint(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


class _CodeSpans:
    def __init__(self, blocks: list[tuple[int, int]], inline: list[tuple[int, int]]) -> None:
        self.blocks = blocks
        self.inline = inline

    def kind_at(self, offset: int) -> str | None:
        if _inside(self.inline, offset):
            return "backticks"
        if _inside(self.blocks, offset):
            return "a code block"
        return None


def _inside(spans: list[tuple[int, int]], offset: int) -> bool:
    at = bisect.bisect_right(spans, (offset, math.inf)) - 1
    return at >= 0 and spans[at][1] > offset


def _code_spans(text: str) -> _CodeSpans:
    fences = [m.start() for m in _FENCE.finditer(text)]
    # Fences pair up in order; an unclosed one runs to the end, as GitHub renders it.
    blocks = [
        (fences[i], fences[i + 1] if i + 1 < len(fences) else len(text))
        for i in range(0, len(fences), 2)
    ]
    inline = [m.span() for m in _INLINE_CODE.finditer(text)]
    return _CodeSpans(blocks, inline)


# --- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Resolution:
    indexes: tuple[int, ...]
    quality: float  # 1.0: the path itself; lower for partial paths and bare names
    note: str | None = None
    package: bool = False


_NOTHING = _Resolution((), 0.0)
_ResolutionKey = tuple[bool, tuple[str, ...], bool]


class _Tree:
    def __init__(self, paths: Sequence[str]) -> None:
        self.paths: list[str] = list(dict.fromkeys(p for p in paths if p))
        self.parts = [tuple(p.lower().split("/")) for p in self.paths]
        self.by_name: dict[str, list[int]] = {}
        self.by_tail: dict[tuple[str, str], list[int]] = {}
        for index, parts in enumerate(self.parts):
            self.by_name.setdefault(parts[-1], []).append(index)
            if len(parts) >= 2:
                self.by_tail.setdefault(_tail(parts), []).append(index)
        language = _main_extension(self.parts)
        self.source_factor = [_source_factor(parts, language) for parts in self.parts]
        self._keywords: _KeywordIndex | None = None

    @property
    def keywords(self) -> _KeywordIndex:
        if self._keywords is None:
            self._keywords = _KeywordIndex(self.parts)
        return self._keywords

    def resolve(self, mention: _Mention, memo: dict[_ResolutionKey, _Resolution]) -> _Resolution:
        module = mention.kind in (MODULE, IMPORT)
        key = (module, mention.parts, mention.absolute)
        if key not in memo:
            if module:
                memo[key] = self._resolve_module(mention.parts)
            else:
                memo[key] = self._resolve_path(mention.parts, mention.absolute)
        return memo[key]

    def _resolve_path(self, parts: tuple[str, ...], absolute: bool) -> _Resolution:
        matched, common = self._best_suffix(parts)
        if not matched:
            return _NOTHING
        if len(parts) == 1:
            return _spread(matched, 0.6, None)
        if common == 1:
            # The directories disagree: someone else's file of that name, or a moved one.
            return _NOTHING if absolute else _spread(matched, 0.3, "same file name elsewhere")
        if all(self._whole_match(i, parts, common, absolute) for i in matched):
            return _spread(matched, 1.0, None)
        if absolute:
            return _NOTHING  # another package's file with the same tail: celery/utils/functional.py
        return _spread(matched, 0.5, "path partly matches")

    def _whole_match(self, index: int, parts: tuple[str, ...], common: int, absolute: bool) -> bool:
        tree_parts = self.parts[index]
        if common == len(tree_parts):
            return True  # the tree path is the tail of the mention (site-packages, a/ b/ in diffs)
        if common == len(parts) and not absolute:
            return True  # a relative mention of the path's tail: `db/models/query.py`
        return all(p in _SOURCE_ROOTS for p in tree_parts[: len(tree_parts) - common])

    def _best_suffix(self, parts: tuple[str, ...]) -> tuple[list[int], int]:
        if len(parts) >= 2:
            candidates = self.by_tail.get(_tail(parts), [])
            if candidates:
                lengths = [(_common_tail(parts, self.parts[i]), i) for i in candidates]
                best = max(length for length, _ in lengths)
                return [i for length, i in lengths if length == best], best
        return self.by_name.get(parts[-1], []), 1

    def _resolve_module(self, modules: tuple[str, ...]) -> _Resolution:
        """`sympy.core.basic.Basic` -> sympy/core/basic.py: the longest prefix that is a file."""
        lowered = tuple(m.lower() for m in modules)
        for end in range(len(lowered), 1, -1):
            prefix = lowered[:end]
            module = self._anchored((*prefix[:-1], prefix[-1] + ".py"))
            if module:
                return _spread(module, 1.0, None)
            package = self._anchored((*prefix, "__init__.py"))
            if package:
                return _Resolution(*_spread_fields(package, 1.0), package=True)
        return _NOTHING

    def _anchored(self, parts: tuple[str, ...]) -> list[int]:
        """Paths that are `parts` from the top, or from below a source root such as src/.

        Dotted names are absolute imports: `apps.models` in someone's project is not the
        repository's tests/apps/models.py.
        """
        matched = []
        for index in self.by_tail.get(_tail(parts), []):
            tree_parts = self.parts[index]
            above = tree_parts[: len(tree_parts) - len(parts)]
            if tree_parts[len(above) :] == parts and all(p in _SOURCE_ROOTS for p in above):
                matched.append(index)
        return matched


def _tail(parts: tuple[str, ...]) -> tuple[str, str]:
    return parts[-2], parts[-1]


def _spread(indexes: list[int], quality: float, note: str | None) -> _Resolution:
    kept, quality = _spread_fields(indexes, quality)
    if len(indexes) > 1 and kept:
        note = note or f"file name shared by {len(indexes)} files"
    return _Resolution(kept, quality, note)


def _spread_fields(indexes: list[int], quality: float) -> tuple[tuple[int, ...], float]:
    if len(indexes) > MAX_SPREAD:
        return (), 0.0
    return tuple(indexes), quality / len(indexes)


def _common_tail(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    count = 0
    for x, y in zip(reversed(a), reversed(b), strict=False):
        if x != y:
            break
        count += 1
    return count


def path_tree(paths: Sequence[str]) -> PathTree:
    """The path indexes of a tree, built whole (the keyword index too), to keep and reuse."""
    tree = _Tree(paths)
    _ = tree.keywords
    return tree


@lru_cache(maxsize=2)
def _tree_for(paths: tuple[str, ...]) -> _Tree:
    # The same tree is ranked against for every issue of a repository (and by the benchmark);
    # building its indexes is the expensive part on 100k-path trees.
    return _Tree(paths)


_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs", "e2e"})
_DOC_DIRS = frozenset({"doc", "docs", "documentation", "example", "examples", "benchmarks"})


def _main_extension(all_parts: list[tuple[str, ...]]) -> str:
    counts: dict[str, int] = {}
    for parts in all_parts:
        extension = parts[-1].rpartition(".")[2]
        if extension in _SOURCE_EXTENSIONS:
            counts[extension] = counts.get(extension, 0) + 1
    return max(counts, key=lambda e: counts[e]) if counts else ""


def _source_factor(parts: tuple[str, ...], language: str) -> float:
    """Keyword fallback prefers the code a fix changes over the tests and docs around it.

    Source in the repository's main language comes first: in a Python project the vendored
    JavaScript and the templates are rarely what an issue is about.
    """
    stem, _, extension = parts[-1].rpartition(".")
    is_test = (
        any(p in _TEST_DIRS for p in parts[:-1])
        or stem.startswith("test_")
        or stem.endswith(("_test", "_tests", ".test", ".spec"))
        or stem in ("tests", "conftest")
    )
    if is_test or any(p in _DOC_DIRS for p in parts[:-1]):
        return 0.3
    factor = 1.0 if extension == language else 0.7 if extension in _SOURCE_EXTENSIONS else 0.5
    if stem[:1].isdigit():
        factor *= 0.6  # numbered files are generated or one-off: migrations, versioned scripts
    return factor


PathTree = _Tree


# --- explicit evidence ------------------------------------------------------------------------

_KIND_WEIGHT = {
    TRACEBACK: 3.0,
    FRAME: 3.0,
    URL: 3.0,
    PATH: 2.5,
    NAME: 2.0,
    MODULE: 2.0,
    IMPORT: 1.0,
}
_KIND_REASON = {
    TRACEBACK: "named in a traceback",
    FRAME: "named in a stack trace",
    URL: "linked by a GitHub URL",
    PATH: "named as a path",
    NAME: "named by file name",
    MODULE: "named as a module",
    IMPORT: "imported in the issue",
}
DEEPEST_FRAME_BONUS = 1.5
CODE_BONUS = 0.5
COMMENT_FACTOR = 0.5
PACKAGE_FACTOR = 0.75  # `django.db` names a package; its __init__.py is rarely where the bug is
REPEAT_FACTOR = 0.5


def _mark_deepest_frames(resolved: list[tuple[_Mention, _Resolution]]) -> None:
    """In a trace through several project frames, the innermost is usually where the bug is.

    Python prints the innermost call last; most other runtimes (JS, Go, Rust, Java) print it first.
    """
    traces: dict[tuple[int, str, int], list[_Mention]] = {}
    for mention, resolution in resolved:
        if mention.kind in (TRACEBACK, FRAME) and resolution.quality >= 0.5:
            key = (mention.text_index, mention.kind, mention.group)
            traces.setdefault(key, []).append(mention)
    for frames in traces.values():
        if len({f.parts for f in frames}) > 1:
            innermost = frames[-1] if frames[0].kind == TRACEBACK else frames[0]
            innermost.deepest = True


@dataclass(slots=True)
class _Evidence:
    scores: list[float] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    line: int | None = None
    in_title_or_body: bool = False

    def add(self, score: float, reasons: Iterable[str], line: int | None) -> None:
        self.scores.append(score)
        for reason in reasons:
            if reason not in self.reasons:
                self.reasons.append(reason)
        if self.line is None:
            self.line = line

    def total(self) -> float:
        ordered = sorted(self.scores, reverse=True)
        # Repetition adds up a little, never more than half again the best mention.
        return ordered[0] + REPEAT_FACTOR * min(sum(ordered[1:]), ordered[0])


def _collect_evidence(
    resolved: list[tuple[_Mention, _Resolution]], tree: _Tree
) -> dict[int, _Evidence]:
    evidence: dict[int, _Evidence] = {}
    for mention, resolution in resolved:
        if not resolution.indexes:
            continue
        score = _mention_score(mention, resolution)
        reasons = _mention_reasons(mention, resolution)
        for index in resolution.indexes:
            entry = evidence.setdefault(index, _Evidence())
            entry.add(score, reasons, mention.line)
            entry.in_title_or_body |= mention.text_index <= 1
    for entry in evidence.values():
        if not entry.in_title_or_body:
            entry.reasons.append("mentioned in a comment")
        if len(entry.scores) > 1:
            entry.reasons.append(f"mentioned {len(entry.scores)} times")
    return evidence


def _mention_score(mention: _Mention, resolution: _Resolution) -> float:
    score = _KIND_WEIGHT[mention.kind]
    if mention.deepest:
        score += DEEPEST_FRAME_BONUS
    if mention.code is not None and mention.kind in (PATH, NAME, MODULE):
        score += CODE_BONUS
    if resolution.package:
        score *= PACKAGE_FACTOR
    if mention.text_index >= 2:
        score *= COMMENT_FACTOR
    return score * resolution.quality


def _mention_reasons(mention: _Mention, resolution: _Resolution) -> list[str]:
    reasons = [_KIND_REASON[mention.kind]]
    if mention.text_index == 0:
        reasons.append("named in the title")
    if mention.deepest:
        reasons.append("innermost project frame of a stack trace")
    if mention.code is not None and mention.kind != IMPORT:
        reasons.append(f"named in {mention.code}")
    if resolution.note:
        reasons.append(resolution.note)
    return reasons


# --- keyword fallback -------------------------------------------------------------------------

_WORD_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_QUERY_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
STOP_WORDS = word_set(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can cannot could did do does doing done down during each eg
    either else etc even ever every few for from further get gets got had has have having he her
    here hers him his how however i ie if in into is it its itself just let like may me might more
    most much must my need no nor not now of off on once one only or other our ours out over own
    per please same see seem seems she should since so some still such than that the their them
    then there these they this those though through thus to too under until up upon us use used
    using very via want was way we well were what when where whether which while who whom whose
    why will with within without would yet you your yours
    self cls def return import none true false elif lambda pass raise yield print kwargs args
    line lines call last recent traceback error exception issue bug problem thanks hi hello
    expected actual result results code example work works working think know something
    www com org github usr site packages dist venv virtualenv home users"""
)
K1 = 1.2
B = 0.75
TITLE_WEIGHT = 3.0
BODY_WEIGHT = 1.0
COMMENT_WEIGHT = 0.5
STEM_WEIGHT = 2.0  # a word in the file name says more than the same word in a directory
MAX_COMMON_SHARE = 0.5  # words in more than half the paths (the project's own name) say nothing


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _split_words(token: str) -> list[str]:
    """`SQLCompiler` -> sql, compiler; `get_order_by` -> get, order, by; plus the whole word."""
    words = [w.lower() for w in _WORD_PART.findall(token)]
    whole = token.lower()
    if len(words) > 1 and whole.isalnum():
        words.append(whole)  # camelCase written as one word elsewhere: numberFormat, numberformat
    return [_stem(w) for w in words if len(w) > 1 and not w.isdigit() and w not in STOP_WORDS]


@lru_cache(maxsize=65536)
def _component_words(component: str) -> tuple[str, ...]:
    return tuple(_split_words(component[:200]))


def _path_terms(parts: tuple[str, ...]) -> dict[str, float]:
    directories, name = list(parts[:-1]), parts[-1]
    stem = name.rpartition(".")[0] or name
    if stem in ("__init__", "index", "mod", "main") and directories:
        stem = directories.pop()  # a package's __init__.py stands for the package
    terms: dict[str, float] = {}
    for directory in directories:
        for word in _component_words(directory):
            terms[word] = terms.get(word, 0.0) + 1.0
    for word in _component_words(stem):
        terms[word] = terms.get(word, 0.0) + STEM_WEIGHT
    return terms


class _KeywordIndex:
    """BM25 over path words, with document frequencies computed over this tree."""

    def __init__(self, all_parts: list[tuple[str, ...]]) -> None:
        self.postings: dict[str, list[tuple[int, float]]] = {}
        self.lengths: list[float] = []
        for index, parts in enumerate(all_parts):
            terms = _path_terms(parts)
            self.lengths.append(sum(terms.values()))
            for term, weight in terms.items():
                self.postings.setdefault(term, []).append((index, weight))
        self.count = len(all_parts)
        self.average_length = (sum(self.lengths) / self.count) if self.count else 1.0

    def idf(self, term: str) -> float:
        postings = self.postings.get(term)
        if not postings or (len(postings) > MAX_COMMON_SHARE * self.count and self.count >= 10):
            return 0.0
        df = len(postings)
        return math.log(1.0 + (self.count - df + 0.5) / (df + 0.5))

    def score(self, query: dict[str, float]) -> dict[int, tuple[float, list[tuple[float, str]]]]:
        scores: dict[int, tuple[float, list[tuple[float, str]]]] = {}
        for term, query_weight in query.items():
            idf = self.idf(term)
            if idf <= 0.0:
                continue
            for index, tf in self.postings[term]:
                norm = K1 * (1.0 - B + B * self.lengths[index] / self.average_length)
                gain = idf * query_weight * tf * (K1 + 1.0) / (tf + norm)
                total, terms = scores.get(index, (0.0, []))
                terms.append((gain, term))
                scores[index] = (total + gain, terms)
        return scores


def _query_terms(texts: Sequence[str]) -> dict[str, float]:
    counts: dict[str, float] = {}
    for index, text in enumerate(texts):
        weight = TITLE_WEIGHT if index == 0 else BODY_WEIGHT if index == 1 else COMMENT_WEIGHT
        for token in _QUERY_WORD.findall(text[:KEYWORD_CHARS_PER_TEXT]):
            counts[token] = counts.get(token, 0.0) + weight
    query: dict[str, float] = {}
    for token, weight in counts.items():
        for word in _component_words(token) if len(token) <= 100 else ():
            query[word] = query.get(word, 0.0) + weight
    # Saturate: a word repeated through a log should not drown out the title.
    return {
        word: 1.0 + math.log(weight) if weight > 1 else weight for word, weight in query.items()
    }


@dataclass(frozen=True, slots=True)
class _KeywordHits:
    scores: dict[int, float]  # in [0, 1]: the best path scores 1 before the source factor
    gains: dict[int, list[tuple[float, str]]]  # per path, what each query word added

    def terms(self, index: int) -> tuple[str, ...]:
        return tuple(term for _, term in sorted(self.gains[index], reverse=True)[:3])


_NO_HITS = _KeywordHits({}, {})


def _keyword_scores(texts: Sequence[str], tree: _Tree) -> _KeywordHits:
    query = _query_terms(texts)
    if not query:
        return _NO_HITS
    raw = tree.keywords.score(query)
    if not raw:
        return _NO_HITS
    best = max(total for total, _ in raw.values())
    factor = tree.source_factor
    scores = {index: total / best * factor[index] for index, (total, _) in raw.items()}
    return _KeywordHits(scores, {index: gains for index, (_, gains) in raw.items()})


# --- merging ----------------------------------------------------------------------------------

KEYWORD_TIEBREAK = 0.25  # among explicit mentions, the one whose path also fits the words wins
KEYWORD_CEILING = 0.99  # keyword-only candidates stay below every explicit one (which are > 1)


def _merge(
    evidence: dict[int, _Evidence], keyword: _KeywordHits, tree: _Tree, limit: int
) -> list[FileCandidate]:
    explicit = []
    for index, entry in evidence.items():
        hit = keyword.scores.get(index)
        score = 1.0 + entry.total() + (KEYWORD_TIEBREAK * hit if hit is not None else 0.0)
        reasons = tuple(entry.reasons[:MAX_REASONS])
        explicit.append(FileCandidate(tree.paths[index], score, reasons, entry.line, True))
    explicit.sort(key=lambda c: (-c.score, c.path))
    if len(explicit) >= limit:
        return explicit[:limit]
    # Only the best keyword hits become candidates: a common word matches thousands of paths.
    best = heapq.nsmallest(
        limit - len(explicit),
        (i for i in keyword.scores if i not in evidence),
        key=lambda i: (-keyword.scores[i], tree.paths[i]),
    )
    implicit = [
        FileCandidate(
            tree.paths[index],
            KEYWORD_CEILING * keyword.scores[index],
            ("path words match the issue: " + ", ".join(keyword.terms(index)),),
            None,
            False,
        )
        for index in best
    ]
    return explicit + implicit
