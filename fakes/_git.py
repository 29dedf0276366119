"""Git objects for the fake GitHub: real blob and tree hashes, so shas behave like GitHub's.

Blob shas equal `git hash-object`, tree shas equal what git would compute for the same files,
and a commit sha depends on its tree and parent: changing files always yields a new commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

BLOB_MODE = "100644"
TREE_MODE = "040000"


@dataclass(frozen=True)
class TreeEntry:
    name: str
    type: Literal["blob", "tree"]
    sha: str
    size: int | None  # blobs only, as in GitHub's tree listing

    @property
    def mode(self) -> str:
        return BLOB_MODE if self.type == "blob" else TREE_MODE


@dataclass(frozen=True)
class Commit:
    sha: str
    tree_sha: str
    parent: str | None
    message: str
    date: datetime


def _hash_object(kind: bytes, body: bytes) -> str:
    # sha1 is what git itself uses for object ids; not a security boundary here.
    return hashlib.sha1(kind + b" %d\0" % len(body) + body, usedforsecurity=False).hexdigest()


def _git_sort_key(entry: TreeEntry) -> bytes:
    # git orders tree entries by name, comparing a subtree as if its name ended with "/".
    return entry.name.encode() + (b"/" if entry.type == "tree" else b"")


@dataclass
class ObjectStore:
    """Every blob, tree and commit ever written for one repository, so old shas stay readable."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, tuple[TreeEntry, ...]] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)

    def commit(
        self, files: Mapping[str, bytes], *, parent: str | None, message: str, date: datetime
    ) -> Commit:
        tree_sha = self._write_tree(_nest(files))
        header = f"tree {tree_sha}\n" + (f"parent {parent}\n" if parent else "")
        stamp = f"{int(date.timestamp())} +0000"
        body = (
            f"{header}author IssueSight Fake <fake@example.invalid> {stamp}\n"
            f"committer IssueSight Fake <fake@example.invalid> {stamp}\n\n{message}\n"
        )
        sha = _hash_object(b"commit", body.encode())
        commit = Commit(sha=sha, tree_sha=tree_sha, parent=parent, message=message, date=date)
        self.commits[sha] = commit
        return commit

    def _write_tree(self, node: Mapping[str, object]) -> str:
        entries: list[TreeEntry] = []
        for name, child in node.items():
            if isinstance(child, bytes):
                sha = _hash_object(b"blob", child)
                self.blobs[sha] = child
                entries.append(TreeEntry(name, "blob", sha, len(child)))
            else:
                assert isinstance(child, dict)
                entries.append(TreeEntry(name, "tree", self._write_tree(child), None))
        entries.sort(key=_git_sort_key)
        body = b"".join(
            f"{e.mode.lstrip('0')} {e.name}".encode() + b"\0" + bytes.fromhex(e.sha)
            for e in entries
        )
        sha = _hash_object(b"tree", body)
        self.trees[sha] = tuple(entries)
        return sha

    def resolve(self, tree_sha: str, path: str) -> TreeEntry | None:
        """The entry at `path` below a tree; "" is the tree itself."""
        entry = TreeEntry("", "tree", tree_sha, None)
        for part in (p for p in path.split("/") if p):
            if entry.type != "tree":
                return None
            found = [e for e in self.trees[entry.sha] if e.name == part]
            if not found:
                return None
            entry = found[0]
        return entry

    def walk(self, tree_sha: str, *, recursive: bool) -> Iterator[tuple[str, TreeEntry]]:
        """(path, entry) pairs in GitHub's order: each directory directly before its contents."""
        for entry in self.trees[tree_sha]:
            yield entry.name, entry
            if recursive and entry.type == "tree":
                for sub_path, sub in self.walk(entry.sha, recursive=True):
                    yield f"{entry.name}/{sub_path}", sub


def _nest(files: Mapping[str, bytes]) -> dict[str, object]:
    root: dict[str, object] = {}
    for path, data in files.items():
        *dirs, leaf = path.split("/")
        node = root
        for part in dirs:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"{path!r}: {part!r} is both a file and a directory")
            node = child
        if leaf in node:
            raise ValueError(f"{path!r} is both a file and a directory")
        node[leaf] = data
    return root


def normalize_files(files: Mapping[str, str | bytes]) -> dict[str, bytes]:
    """Paths without leading or doubled slashes; text as UTF-8, bytes untouched."""
    out: dict[str, bytes] = {}
    for path, content in files.items():
        parts = [p for p in path.split("/") if p]
        if not parts or any(p in {".", ".."} for p in parts):
            raise ValueError(f"invalid repository path {path!r}")
        out["/".join(parts)] = content.encode() if isinstance(content, str) else content
    return out
