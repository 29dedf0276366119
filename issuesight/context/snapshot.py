"""A repository's files at one commit, read from a gzip tar archive within fixed limits.

GitHub's archive (`GET /repos/{owner}/{repo}/tarball/{ref}`) and a release's sdist have the
same shape: one top folder (`owner-repo-shortsha/`, `Name-1.2/`) holding the tree. Nothing is
ever extracted to disk: members are read into memory one by one, so a hostile archive cannot
write a file anywhere. It is still checked as if it were extracted (tarfile's own `data_filter`,
the one `extractall` uses), and members it refuses — absolute paths, `..`, links that leave the
folder, device files — are counted and left out, as are members outside the one top folder.

What is kept for retrieval is the text of the files a fix may touch: binaries, files over
`max_file_bytes`, minified and vendored files are listed by path (a tutorial may still name
them) but their content is not read into the index. Every limit is enforced while reading:
members, uncompressed bytes (a gzip bomb stops at `max_unpacked_bytes`), and text kept.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import tarfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from issuesight.core.text import decode_text

log = logging.getLogger(__name__)

# Directories whose content is someone else's code, copied in: listed, never indexed.
VENDORED_DIRS = frozenset(
    {
        "node_modules",
        "bower_components",
        "vendor",
        "vendored",
        "_vendor",
        "third_party",
        "thirdparty",
        "third-party",
        "site-packages",
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
    }
)
# Not code a fix changes, and large: translation catalogs, lock files, pictures as text, data.
DATA_SUFFIXES = frozenset(
    {
        ".po",
        ".pot",
        ".mo",
        ".svg",
        ".lock",
        ".csv",
        ".tsv",
        ".map",
        ".pdf",
        ".ipynb",
        ".sum",
    }
)
DATA_NAMES = frozenset(
    {"package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock", "cargo.lock", "go.sum"}
)
MINIFIED_MARKERS = (".min.js", ".min.css", ".min.mjs", "-min.js", ".bundle.js")
# A text whose lines average more than this is generated or minified, not written by people.
MAX_AVERAGE_LINE = 300
SNIFF_BYTES = 64 * 1024


class ArchiveRefused(Exception):
    """The archive broke a limit or is not an archive: callers fall back to per-file reads."""


@dataclass(frozen=True, slots=True)
class SnapshotLimits:
    max_members: int = 200_000
    max_unpacked_bytes: int = 2 * 1024 * 1024 * 1024
    max_file_bytes: int = 1024 * 1024
    max_text_bytes: int = 256 * 1024 * 1024


@dataclass(slots=True)
class SourceFile:
    path: str
    text: str
    blob_sha: str  # git's own blob id, so a fingerprint matches the tree API's


@dataclass
class Snapshot:
    """Every path of the tree, and the text of the files worth indexing."""

    paths: list[str] = field(default_factory=list)
    files: list[SourceFile] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    unpacked_bytes: int = 0

    def text_bytes(self) -> int:
        return sum(len(f.text) for f in self.files)


def git_blob_sha(data: bytes) -> str:
    """`git hash-object`: what GitHub's tree calls the file's sha (not a security boundary)."""
    header = b"blob %d\0" % len(data)
    return hashlib.sha1(header + data, usedforsecurity=False).hexdigest()


def read_snapshot(fileobj: IO[bytes], limits: SnapshotLimits | None = None) -> Snapshot:
    """Reads a gzip (or plain) tar stream once, front to back, within `limits`.

    Raises ArchiveRefused when the stream is not a tar archive, is cut short, holds more than
    `max_members` members or unpacks to more than `max_unpacked_bytes`.
    """
    limits = limits or SnapshotLimits()
    snapshot = Snapshot()
    try:
        with tarfile.open(fileobj=fileobj, mode="r|*") as archive:
            _read_members(archive, limits, snapshot)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ArchiveRefused(f"the archive could not be read ({type(exc).__name__})") from exc
    snapshot.paths.sort()
    snapshot.files.sort(key=lambda f: f.path)
    return snapshot


def _read_members(archive: tarfile.TarFile, limits: SnapshotLimits, snapshot: Snapshot) -> None:
    top: str | None = None
    members = 0
    text_bytes = 0
    for member in _members(archive):
        members += 1
        if members > limits.max_members:
            raise ArchiveRefused(f"the archive holds more than {limits.max_members} entries")
        snapshot.unpacked_bytes += max(0, member.size)
        if snapshot.unpacked_bytes > limits.max_unpacked_bytes:
            raise ArchiveRefused(
                f"the archive unpacks to more than {limits.max_unpacked_bytes} bytes"
            )
        refusal = _refusal(member)
        if refusal is not None:
            snapshot.skipped[refusal] += 1
            continue
        head, _, rest = member.name.partition("/")
        if top is None:
            top = head
        if head != top or not rest:
            # The one top folder itself, a pax header, or a second top-level entry.
            if head != top:
                snapshot.skipped["outside the top folder"] += 1
            continue
        if not member.isfile():
            if member.issym() or member.islnk():
                snapshot.skipped["link"] += 1
            continue
        path = rest
        snapshot.paths.append(path)
        snapshot.sizes[path] = member.size
        why = _not_indexed(path, member.size, limits)
        if why is None and text_bytes + member.size > limits.max_text_bytes:
            why = "over the index's text budget"
        if why is not None:
            snapshot.skipped[why] += 1
            continue
        data = _read(archive, member)
        reason, text = _classify(data)
        if text is None:
            snapshot.skipped[reason] += 1
            continue
        text_bytes += len(data)
        snapshot.files.append(SourceFile(path, text, git_blob_sha(data)))


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while True:
        member = archive.next()
        if member is None:
            return
        yield member


def _refusal(member: tarfile.TarInfo) -> str | None:
    """Why extracting this member would be unsafe (tar-slip), or None.

    The checks of tarfile's `data_filter` (what `extractall(filter="data")` applies), done on
    the names alone: the filter resolves every name against a real directory with
    `os.path.realpath`, which took half the time of reading Django's archive (bench.context).
    A symlink that stays inside the folder is allowed, and harmless here: links are listed as
    skipped and never followed.
    """
    name = member.name.replace("\\", "/")
    if name.startswith("/") or _has_drive(name):
        return "absolute path"
    if ".." in name.split("/"):
        return "path with '..'"
    if member.issym() or member.islnk():
        target = member.linkname.replace("\\", "/")
        if target.startswith("/") or _has_drive(target):
            return "link to an absolute path"
        # A symlink's target is relative to its directory, a hard link's to the archive root.
        base = posixpath.dirname(name) if member.issym() else ""
        resolved = posixpath.normpath(posixpath.join(base, target))
        top = name.split("/", 1)[0]
        if not resolved.startswith(top + "/"):
            return "link leaving the folder"
    elif not (member.isfile() or member.isdir()):
        return "device or special file"
    return None


def _has_drive(name: str) -> bool:
    return len(name) > 1 and name[1] == ":" and name[0].isalpha()


def _not_indexed(path: str, size: int, limits: SnapshotLimits) -> str | None:
    parts = path.lower().split("/")
    if any(p in VENDORED_DIRS for p in parts[:-1]):
        return "vendored"
    name = parts[-1]
    if name.endswith(MINIFIED_MARKERS):
        return "minified"
    if size > limits.max_file_bytes:
        return "over the file size cap"
    dot = name.rfind(".")
    if (dot > 0 and name[dot:] in DATA_SUFFIXES) or name in DATA_NAMES:
        return "data, not code"
    return None


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    extracted = archive.extractfile(member)
    if extracted is None:
        return b""
    with extracted:
        return extracted.read()


def _classify(data: bytes) -> tuple[str, str | None]:
    text = decode_text(data)
    if text is None:
        return "binary", None
    lines = text.count("\n") + 1
    if len(text) > SNIFF_BYTES // 4 and len(text) / lines > MAX_AVERAGE_LINE:
        return "minified", None
    return "", text
