"""Release sdists as stand-ins for a repository's tree at an issue's version.

Each devset instance names a PyPI release (`source_tree`) whose sdist holds the repository's
files at about the issue's version. They are downloaded once with `pip download` into a cache
outside the repository (never committed) and remembered in CACHE/index.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CACHE = Path.home() / ".cache" / "issuesight-bench" / "sdists"
DOWNLOAD_TIMEOUT = 900  # seconds; a cold Django sdist is ~10 MB


class Sdists:
    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.index_file = cache / "index.json"
        self.failures: dict[str, str] = {}

    def archive(self, pypi: str, spec: str) -> Path | None:
        requirement = f"{pypi}{spec}"
        index = self._read_index()
        known = index.get(requirement)
        if known and (self.cache / known).is_file():
            return self.cache / known
        archive = self._download(requirement)
        if archive is not None:
            index[requirement] = archive.name
            self.index_file.write_text(json.dumps(index, indent=1, sort_keys=True))
        return archive

    def _read_index(self) -> dict[str, str]:
        if not self.index_file.is_file():
            return {}
        data: dict[str, str] = json.loads(self.index_file.read_text())
        return data

    def _download(self, requirement: str) -> Path | None:
        self.cache.mkdir(parents=True, exist_ok=True)
        print(f"  downloading the sdist of {requirement} ...", file=sys.stderr, flush=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        command += ["--disable-pip-version-check", requirement, "-d", str(self.cache)]
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            self.failures[requirement] = "pip download timed out"
            return None
        archive = _saved_archive(done.stdout)
        if done.returncode != 0 or archive is None:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            self.failures[requirement] = f"pip download failed: {last}"
            return None
        return archive


def _saved_archive(pip_output: str) -> Path | None:
    for line in pip_output.splitlines():
        for marker in ("Saved ", "File was already downloaded "):
            if line.strip().startswith(marker):
                return Path(line.strip()[len(marker) :])
    return None
