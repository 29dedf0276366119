"""Repository archives as GitHub serves them: a gzip tar with one top folder
`owner-repo-shortsha/`, a pax global header whose comment is the commit's sha (as `git archive`
writes it), files with mode 0644 and the commit's date as their time.

`tar_gz` also builds the hostile archives tests need (absolute paths, `..`, links, devices):
entries are taken as given.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ._git import ObjectStore


@dataclass(frozen=True)
class Entry:
    """One tar member: a file (data), a directory, or a link (`link` is its target)."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    link: str = ""
    mode: int = 0o644


def repository_entries(objects: ObjectStore, tree_sha: str, top: str) -> Iterator[Entry]:
    yield Entry(f"{top}/", kind=tarfile.DIRTYPE, mode=0o775)
    for path, entry in objects.walk(tree_sha, recursive=True):
        if entry.type == "tree":
            yield Entry(f"{top}/{path}/", kind=tarfile.DIRTYPE, mode=0o775)
        else:
            yield Entry(f"{top}/{path}", objects.blobs[entry.sha])


def tar_gz(entries: Iterable[Entry], *, comment: str = "", mtime: int = 0, level: int = 1) -> bytes:
    """A gzip tar of `entries`, in order, as given (nothing is normalized or checked)."""
    raw = io.BytesIO()
    pax = {"comment": comment} if comment else {}
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT, pax_headers=pax) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = entry.kind
            info.mode = entry.mode
            info.mtime = mtime
            info.uname = info.gname = "root"
            if entry.kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = entry.link
                tar.addfile(info)
            elif entry.kind == tarfile.REGTYPE:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                tar.addfile(info)
    return gzip.compress(raw.getvalue(), compresslevel=level, mtime=mtime)
