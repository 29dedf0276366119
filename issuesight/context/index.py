"""The retrieval index of one repository at one commit: definitions and code-aware BM25.

Built once per (repository, commit) from a Snapshot and shared by every issue of it:

* definitions (definitions.scan_definitions): every class, function and method with its
  dotted name (`Class.method`), file and line span, looked up by name;
* lexical: SQLite FTS5 (its own BM25, in C) over two granularities, chunks (a function, a
  method, a class header, the code between definitions) and whole files. Tokens are
  code-aware: snake_case splits at `_` (FTS5's unicode61 tokenizer does that), camelCase at
  its humps (split here before indexing); the query asks for a compound identifier as a
  phrase (`bulk_create` -> "bulk create"), so the whole identifier still counts as one term.
  A chunk's name column holds its qualified name, a file's path column its path words, and
  BM25 weighs them above the body.

Nothing here reads the network or the disk; bench.context measures the build against merely
reading and decompressing the same archive.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from issuesight.context.definitions import Definition, language_of, scan_definitions
from issuesight.context.references import PathTree, path_tree
from issuesight.context.snapshot import Snapshot, SourceFile

# Splits camelCase humps (QuerySet -> Query Set, HTTPResponse -> HTTPResponse stays one word
# until its lower-case tail: HTTP Response) without touching snake_case, which FTS5 splits.
_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# A chunk longer than this many lines is cut in pieces: BM25 favours short documents, and a
# 2,000-line class body is not one topic.
MAX_CHUNK_LINES = 120
# Files without definitions (docs, configuration, templates) are chunked by lines.
PLAIN_CHUNK_LINES = 60
# Terms looked up per statement (SQLite caps the parameters of one statement).
VOCABULARY_BATCH = 500
# Column weights for bm25(): name/path words say more than the same word in a body.
CHUNK_WEIGHTS = (2.0, 1.0)
FILE_WEIGHTS = (3.0, 1.0)

TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs", "e2e", "t"})
DOC_DIRS = frozenset({"doc", "docs", "documentation", "man", "site", "website"})
EXAMPLE_DIRS = frozenset({"example", "examples", "samples", "demo", "demos", "benchmarks", "bench"})
DOC_SUFFIXES = frozenset({".md", ".rst", ".txt", ".adoc", ".rdoc", ".html", ".htm"})

SOURCE = "source"
TEST = "test"
DOC = "doc"
EXAMPLE = "example"
OTHER = "other"
# Files whose definitions are scanned and whose chunks are indexed; tests and docs are found
# as whole files only. They are rarely what a fix changes (ranking down-weights them anyway)
# and were half of Django's text: indexing them as chunks too cost a third of the build time
# for no measured gain (bench.context).
CHUNKED_ROLES = frozenset({SOURCE, EXAMPLE})


def split_humps(text: str) -> str:
    return _HUMP.sub(" ", text)


def role_of(path: str) -> str:
    """What a file is for, from its path alone: tests, docs and examples rank below source."""
    parts = path.lower().split("/")
    name = parts[-1]
    stem = name.rpartition(".")[0] or name
    directories = parts[:-1]
    if (
        any(p in TEST_DIRS for p in directories)
        or stem.startswith(("test_", "tests_"))
        or stem.endswith(("_test", "_tests", ".test", ".spec", "_spec"))
        or stem in ("tests", "conftest", "test")
    ):
        return TEST
    if any(p in EXAMPLE_DIRS for p in directories):
        return EXAMPLE
    suffix = PurePosixPath(name).suffix
    if any(p in DOC_DIRS for p in directories) or suffix in DOC_SUFFIXES:
        return DOC
    if language_of(path) is not None:
        return SOURCE
    return OTHER


@dataclass(frozen=True, slots=True)
class Chunk:
    file: int  # index into RepoIndex.files
    definition: int  # index into RepoIndex.definitions, -1 for code between definitions
    start: int  # 1-based first line
    end: int  # 1-based last line, inclusive


@dataclass(frozen=True, slots=True)
class IndexedDefinition:
    file: int
    definition: Definition


class RepoIndex:
    """Read-only once built; queries are serialized on one SQLite connection."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.paths: list[str] = snapshot.paths
        self.sizes = snapshot.sizes
        self.files: list[SourceFile] = snapshot.files
        self.skipped = dict(snapshot.skipped)
        self.file_ids: dict[str, int] = {f.path: i for i, f in enumerate(self.files)}
        self.roles: list[str] = [role_of(f.path) for f in self.files]
        self.definitions: list[IndexedDefinition] = []
        # Per file, the slice of `definitions` it owns (they are stored in file order).
        self.file_definitions: list[tuple[int, int]] = []
        self.by_name: dict[str, list[int]] = {}
        self.chunks: list[Chunk] = []
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._build()
        # Mentions of paths, frames and modules resolve against every path, indexed once.
        self.path_tree: PathTree = path_tree(self.paths)

    # ---- building ---------------------------------------------------------------------------

    def _build(self) -> None:
        db = self._db
        db.execute("CREATE VIRTUAL TABLE chunk_fts USING fts5(name, body, content='')")
        db.execute("CREATE VIRTUAL TABLE file_fts USING fts5(path, body, content='')")
        db.execute("CREATE VIRTUAL TABLE chunk_vocab USING fts5vocab(chunk_fts, 'row')")
        db.execute("CREATE VIRTUAL TABLE file_vocab USING fts5vocab(file_fts, 'row')")
        chunk_rows: list[tuple[int, str, str]] = []
        file_rows: list[tuple[int, str, str]] = []
        for file_id, source in enumerate(self.files):
            file_rows.append((file_id, path_words(source.path), source.text))
            first = len(self.definitions)
            if self.roles[file_id] not in CHUNKED_ROLES:
                self.file_definitions.append((first, first))
                continue
            lines = source.text.split("\n")
            for chunk, name in self._chunks_of(file_id, source, len(lines)):
                body = "\n".join(lines[chunk.start - 1 : chunk.end])
                chunk_rows.append((len(self.chunks), name, body))
                self.chunks.append(chunk)
            self.file_definitions.append((first, len(self.definitions)))
        db.executemany("INSERT INTO file_fts(rowid, path, body) VALUES (?, ?, ?)", file_rows)
        db.executemany("INSERT INTO chunk_fts(rowid, name, body) VALUES (?, ?, ?)", chunk_rows)
        db.execute("INSERT INTO chunk_fts(chunk_fts) VALUES ('optimize')")
        db.execute("INSERT INTO file_fts(file_fts) VALUES ('optimize')")
        self.file_count = len(self.files)
        self.chunk_count = len(self.chunks)

    def _chunks_of(
        self, file_id: int, source: SourceFile, line_count: int
    ) -> Iterable[tuple[Chunk, str]]:
        definitions = scan_definitions(source.path, source.text)
        first_id = len(self.definitions)
        for offset, definition in enumerate(definitions):
            self.definitions.append(IndexedDefinition(file_id, definition))
            self.by_name.setdefault(definition.name.lower(), []).append(first_id + offset)
        # Chunk boundaries: definitions at depth 0 and 1 (functions, classes, methods).
        starts = [(d.line, first_id + i) for i, d in enumerate(definitions) if d.depth <= 1]
        if not starts:
            for start in range(1, line_count + 1, PLAIN_CHUNK_LINES):
                end = min(line_count, start + PLAIN_CHUNK_LINES - 1)
                yield Chunk(file_id, -1, start, end), ""
            return
        boundaries = [(1, -1), *starts] if starts[0][0] > 1 else starts
        for i, (start, definition_id) in enumerate(boundaries):
            end = boundaries[i + 1][0] - 1 if i + 1 < len(boundaries) else line_count
            if end < start:
                continue
            name = ""
            if definition_id >= 0:
                qualname = self.definitions[definition_id].definition.qualname
                split = split_humps(qualname)
                # Both spellings: `QuerySet` matches the word queryset, and "query set".
                name = qualname if split == qualname else f"{qualname} {split}"
            for piece in range(start, end + 1, MAX_CHUNK_LINES):
                yield (
                    Chunk(file_id, definition_id, piece, min(end, piece + MAX_CHUNK_LINES - 1)),
                    name,
                )

    # ---- queries ----------------------------------------------------------------------------

    def text(self, path: str) -> SourceFile | None:
        file_id = self.file_ids.get(path)
        return None if file_id is None else self.files[file_id]

    def definitions_of(self, path: str) -> list[Definition]:
        file_id = self.file_ids.get(path)
        if file_id is None:
            return []
        first, end = self.file_definitions[file_id]
        return [d.definition for d in self.definitions[first:end]]

    def document_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks hold each (single-word, lower-case) term."""
        found: dict[str, int] = {}
        for start in range(0, len(terms), VOCABULARY_BATCH):
            batch = list(terms[start : start + VOCABULARY_BATCH])
            marks = ",".join("?" * len(batch))
            with self._lock:
                rows = self._db.execute(
                    f"SELECT term, doc FROM chunk_vocab WHERE term IN ({marks})",  # noqa: S608
                    batch,
                ).fetchall()
            found.update((str(term), int(doc)) for term, doc in rows)
        return found

    def search_chunks(self, query: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, score) best first; `query` is an FTS5 expression (see retrieve.py)."""
        return self._search("chunk_fts", CHUNK_WEIGHTS, query, limit)

    def search_files(self, query: str, limit: int) -> list[tuple[int, float]]:
        return self._search("file_fts", FILE_WEIGHTS, query, limit)

    def _search(
        self, table: str, weights: tuple[float, float], query: str, limit: int
    ) -> list[tuple[int, float]]:
        if not query:
            return []
        # bm25() is lower for better matches; negated so that higher is better everywhere.
        sql = (
            f"SELECT rowid, -bm25({table}, {weights[0]}, {weights[1]}) AS score "  # noqa: S608
            f"FROM {table} WHERE {table} MATCH ? ORDER BY score DESC LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, (query, limit)).fetchall()
        return [(int(rowid), float(score)) for rowid, score in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def memory_bytes(self) -> int:
        """About what the index holds: the texts plus SQLite's pages."""
        with self._lock:
            pages = self._db.execute("PRAGMA page_count").fetchone()[0]
            size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return int(pages) * int(size) + sum(len(f.text) for f in self.files)


def path_words(path: str) -> str:
    """A path as words for the path column: separators and humps split."""
    return split_humps(re.sub(r"[/._\-]+", " ", path))
