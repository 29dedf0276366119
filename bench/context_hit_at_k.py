"""Hit@k of the file ranking on real issues, next to a plain BM25 baseline in the same run.

For each SWE-bench Lite dev instance the repository's files at about the issue's version are the
member paths of the release's sdist (downloaded once with `pip download`, cached outside the
repository). An instance is a hit at k when one of its gold files (the non-test files the merged
fix changed) is among the first k files ranked. The baseline ranks files by BM25 of the issue text
against path tokens only, without mention detection.

    .venv/bin/python -m bench.context_hit_at_k --limit 40
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from issuesight.context.references import rank_referenced_files

DEVSET = Path(__file__).resolve().parent / "data" / "swe-bench-lite.dev.jsonl"
CACHE = Path.home() / ".cache" / "issuesight-bench" / "sdists"
KS = (1, 5, 8)
OVERALL = "overall"
NAMES_A_FILE = " names a file"  # instances where the ranking found an explicit mention
NAMES_NONE = " names none"
DOWNLOAD_TIMEOUT = 900  # seconds; a cold Django sdist is ~10 MB


# --- the repository tree at about the version ------------------------------------------


class Sdists:
    """Release file lists from sdists, downloaded once and remembered in CACHE/index.json."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.index_file = cache / "index.json"
        self.trees: dict[str, list[str] | None] = {}
        self.failures: dict[str, str] = {}

    def tree(self, pypi: str, spec: str) -> list[str] | None:
        requirement = f"{pypi}{spec}"
        if requirement not in self.trees:
            archive = self._archive(requirement)
            self.trees[requirement] = None if archive is None else member_paths(archive)
        return self.trees[requirement]

    def _archive(self, requirement: str) -> Path | None:
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


def member_paths(archive: Path) -> list[str]:
    """File members with the top-level `Name-x.y/` directory stripped."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as opened:
            names = [n for n in opened.namelist() if not n.endswith("/")]
    else:
        with tarfile.open(archive) as opened:
            names = [m.name for m in opened.getmembers() if m.isfile()]
    return [name.partition("/")[2] for name in names if "/" in name]


# --- the baseline -------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


class PlainBM25:
    """Okapi BM25 (k1=1.2, b=0.75) of the issue's words against each path's words; nothing else."""

    def __init__(self, tree: Sequence[str]) -> None:
        self.tree = list(tree)
        self.docs = [Counter(_WORD.findall(path.lower())) for path in self.tree]
        self.lengths = [sum(doc.values()) for doc in self.docs]
        self.average = sum(self.lengths) / max(1, len(self.docs))
        self.df: Counter[str] = Counter()
        for doc in self.docs:
            self.df.update(doc.keys())
        self.postings: dict[str, list[int]] = defaultdict(list)
        for index, doc in enumerate(self.docs):
            for term in doc:
                self.postings[term].append(index)

    def rank(self, texts: Sequence[str], limit: int) -> list[str]:
        query = set(_WORD.findall(" ".join(texts).lower()))
        count = len(self.docs)
        scores: dict[int, float] = defaultdict(float)
        for term in query:
            df = self.df.get(term, 0)
            if not df:
                continue
            idf = math.log(1 + (count - df + 0.5) / (df + 0.5))
            for index in self.postings[term]:
                tf = self.docs[index][term]
                norm = 1.2 * (1 - 0.75 + 0.75 * self.lengths[index] / self.average)
                scores[index] += idf * tf * 2.2 / (tf + norm)
        ranked = sorted(scores, key=lambda i: (-scores[i], i))
        return [self.tree[i] for i in ranked[:limit]]


# --- scoring ------------------------------------------------------------------------------------


@dataclass
class Tally:
    instances: int = 0
    hits: dict[str, Counter[int]] = field(
        default_factory=lambda: {"ours": Counter(), "bm25": Counter()}
    )

    def add(self, system: str, ranked: list[str], gold: set[str]) -> None:
        for k in KS:
            if gold.intersection(ranked[:k]):
                self.hits[system][k] += 1

    def rate(self, system: str, k: int) -> float:
        return self.hits[system][k] / self.instances if self.instances else 0.0


def load_instances(devset: Path, repos: set[str] | None, limit: int | None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in devset.read_text().splitlines() if line.strip()]
    if repos:
        rows = [r for r in rows if r["repo"] in repos]
    return interleave(rows)[:limit] if limit is not None else rows


def interleave(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Round-robin over repositories so a --limit sample is not all Django."""
    by_repo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_repo[row["repo"]].append(row)
    queues = list(by_repo.values())
    mixed = []
    while any(queues):
        for queue in queues:
            if queue:
                mixed.append(queue.pop(0))
    return mixed


def run(
    instances: Iterable[dict[str, Any]], sdists: Sdists
) -> tuple[dict[str, Tally], Counter[str]]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    skipped: Counter[str] = Counter()
    baselines: dict[str, PlainBM25] = {}
    for row in instances:
        source = row["source_tree"]
        tree = sdists.tree(source["pypi"], source["spec"])
        if tree is None:
            skipped["sdist unavailable"] += 1
            continue
        gold = set(row["gold_files"]).intersection(tree)
        if not gold:
            skipped["gold file absent from the sdist"] += 1
            continue
        key = f"{source['pypi']}{source['spec']}"
        baseline = baselines.setdefault(key, PlainBM25(tree))
        texts = [row["title"], row["body"]]
        candidates = rank_referenced_files(texts, tree, limit=max(KS))
        ours = [c.path for c in candidates]
        theirs = baseline.rank(texts, max(KS))
        # Split by whether mention detection fired: the keyword fallback carries the rest.
        split = NAMES_A_FILE if any(c.explicit for c in candidates) else NAMES_NONE
        for tally in (tallies[row["repo"]], tallies[OVERALL], tallies[split]):
            tally.instances += 1
            tally.add("ours", ours, gold)
            tally.add("bm25", theirs, gold)
    return tallies, skipped


def report(tallies: dict[str, Tally], skipped: Counter[str], failures: dict[str, str]) -> None:
    header = f"{'repo':<16}{'n':>4}  " + "  ".join(
        f"{'Hit@' + str(k):>7} {'bm25':>6} {'ratio':>6}" for k in KS
    )
    print(header)
    print("-" * len(header))
    summaries = (OVERALL, NAMES_A_FILE, NAMES_NONE)
    names = [*sorted(n for n in tallies if n not in summaries), *summaries]
    for name in names:
        tally = tallies.get(name)
        if tally is None:
            continue
        cells = []
        for k in KS:
            ours, theirs = tally.rate("ours", k), tally.rate("bm25", k)
            ratio = f"{ours / theirs:6.2f}" if theirs else "   n/a"
            cells.append(f"{ours:7.1%} {theirs:6.1%} {ratio}")
        print(f"{name:<16}{tally.instances:>4}  " + "  ".join(cells))
    total_skipped = sum(skipped.values())
    detail = ", ".join(f"{reason}: {count}" for reason, count in skipped.items())
    print(f"skipped: {total_skipped}" + (f" ({detail})" if detail else ""))
    for requirement, why in failures.items():
        print(f"  {requirement}: {why}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=None, help="instances, round-robin by repo")
    parser.add_argument("--repos", default="", help="comma-separated, e.g. django/django")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"sdist cache (default {CACHE})")
    parser.add_argument("--devset", type=Path, default=DEVSET)
    args = parser.parse_args(argv)
    repos = {r.strip() for r in args.repos.split(",") if r.strip()} or None
    instances = load_instances(args.devset, repos, args.limit)
    sdists = Sdists(args.cache.expanduser())
    started = time.monotonic()
    tallies, skipped = run(instances, sdists)
    report(tallies, skipped, sdists.failures)
    print(f"{len(instances)} instances in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
