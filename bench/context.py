"""Figure: does the final prompt hold the file the fix changed? (HitFile@prompt)

For each issue of the devset (bench/data/swe-bench-lite.dev.jsonl), the repository's tree at
about the issue's version is its release's sdist (bench/_sdists.py), read through the same
snapshot reader and index as a GitHub archive. The prompt is built through the real bundle and
prompt code (context.bundle.build_bundle, llm.prompt.build_prompt), within PROMPT_BUDGET_CHARS.

HitFile@prompt: the share of issues whose final prompt holds a gold file (a non-test file the
merged fix changed): its path and at least one line of its content of 16+ characters that
occurs in no other file of the tree and is not quoted in the issue. "in an excerpt" is stricter:
that line sits in the file's own excerpt, not only in the repository map.

Three systems, in the same run and through the same bundle and prompt code:
  index  - the retrieval index (definitions, code-aware BM25 over chunks and files, fusion)
  paths  - the ranking before it: mentions and path words, 3-5 files, heads
  bm25   - plain BM25 (SQLite FTS5, untuned) over the contents of non-test source files,
           top 5 files, heads

Also: Hit@1/5/10 of each ranking, the median share of the budget the prompt used, and the speed
of the index on the largest tree (build over merely reading and decompressing its archive,
ranking one issue over building, peak memory). Tuning used sympy only: django and xarray are
held out, reported separately.

    .venv/bin/python -m bench.context
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import sqlite3
import statistics
import tarfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._report import Metric, Report, command, figure_main
from bench._sdists import CACHE, Sdists
from issuesight.context.bundle import build_bundle
from issuesight.context.gather import (
    FetchedFile,
    RawContext,
    _choose_files,
    contributing_from_index,
    files_from_index,
    readme_from_index,
)
from issuesight.context.index import SOURCE, RepoIndex
from issuesight.context.references import rank_referenced_files
from issuesight.context.retrieve import rank_files
from issuesight.context.snapshot import read_snapshot
from issuesight.core.settings import Settings
from issuesight.domain.refs import make_ref
from issuesight.llm.localize import localization_prompt
from issuesight.llm.prompt import build_prompt

DEVSET = Path(__file__).resolve().parent / "data" / "swe-bench-lite.dev.jsonl"
TUNED_ON = "sympy/sympy"
KS = (1, 5, 10)
SYSTEMS = ("index", "paths", "bm25")
MIN_LINE = 16
GOAL = 0.90
OVERALL = "all"
HELD_OUT = "held out"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.context", description=__doc__)
    p.add_argument("--limit", type=int, default=0, help="issues, round-robin by repo (0: all)")
    p.add_argument("--repos", default="", help="comma-separated, e.g. sympy/sympy (default all)")
    p.add_argument("--budget", type=int, default=Settings().prompt_budget_chars)
    p.add_argument("--cache", type=Path, default=CACHE, help="sdist cache (outside the repo)")
    p.add_argument("--misses", action="store_true", help="list the issues the index missed")
    return p


# --- the devset -------------------------------------------------------------------------------


def load_instances(repos: set[str] | None, limit: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in DEVSET.read_text().splitlines() if line.strip()]
    if repos:
        rows = [r for r in rows if r["repo"] in repos]
    if limit:
        by_repo: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_repo[row["repo"]].append(row)
        mixed: list[dict[str, Any]] = []
        queues = list(by_repo.values())
        while any(queues) and len(mixed) < limit:
            for queue in queues:
                if queue and len(mixed) < limit:
                    mixed.append(queue.pop(0))
        rows = mixed
    return rows


# --- the baselines ----------------------------------------------------------------------------


class PlainBM25:
    """Untuned BM25 (FTS5's defaults) of the issue's words over non-test source files."""

    def __init__(self, index: RepoIndex) -> None:
        self.paths = [f.path for f, role in zip(index.files, index.roles, strict=True)]
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE f USING fts5(body, content='')")
        self.db.executemany(
            "INSERT INTO f(rowid, body) VALUES (?, ?)",
            [
                (i, f.text)
                for i, (f, role) in enumerate(zip(index.files, index.roles, strict=True))
                if role == SOURCE
            ],
        )

    def rank(self, texts: Sequence[str], limit: int) -> list[str]:
        words = dict.fromkeys(re.findall(r"[A-Za-z0-9]+", " ".join(texts).lower()))
        query = " OR ".join(f'"{w}"' for w in words)
        if not query:
            return []
        rows = self.db.execute(
            "SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT ?", (query, limit)
        ).fetchall()
        return [self.paths[int(r[0])] for r in rows]


def head_files(index: RepoIndex, paths: Iterable[str], reasons: str) -> list[FetchedFile]:
    files = []
    for path in paths:
        source = index.text(path)
        files.append(
            FetchedFile(
                path=path,
                blob_sha=source.blob_sha if source else None,
                text=source.text if source else None,
                reasons=(reasons,),
                line=None,
                explicit=False,
                size=index.sizes.get(path),
            )
        )
    return files


# --- scoring ----------------------------------------------------------------------------------


@dataclass
class Localization:
    """The optional LLM step's cost on this issue: its prompt, and whether the map it would
    choose from holds a gold file (the ceiling of what a model could pick)."""

    prompt_chars: int
    gold_in_map: bool


@dataclass
class Outcome:
    hit_prompt: bool
    hit_excerpt: bool
    ranks: list[str]
    used: float  # share of the budget


@dataclass
class Tally:
    n: int = 0
    prompt: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    excerpt: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    hits: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    used: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, system: str, outcome: Outcome, gold: set[str]) -> None:
        self.prompt[system] += outcome.hit_prompt
        self.excerpt[system] += outcome.hit_excerpt
        for k in KS:
            self.hits[system][k] += bool(gold.intersection(outcome.ranks[:k]))
        self.used[system].append(outcome.used)

    def rate(self, counts: dict[str, int], system: str) -> float:
        return counts[system] / self.n if self.n else 0.0


def unique_lines(index: RepoIndex, gold: Iterable[str]) -> dict[str, set[str]]:
    """Per gold file, its stripped lines of 16+ characters found in no other file."""
    own: dict[str, set[str]] = {}
    for path in gold:
        source = index.text(path)
        if source is not None:
            own[path] = {
                line.strip() for line in source.text.split("\n") if len(line.strip()) >= MIN_LINE
            }
    wanted = set().union(*own.values()) if own else set()
    elsewhere: dict[str, set[str]] = defaultdict(set)
    for source in index.files:
        for line in source.text.split("\n"):
            stripped = line.strip()
            if stripped in wanted:
                elsewhere[stripped].add(source.path)
    return {
        path: {line for line in lines if elsewhere[line] <= {path}} for path, lines in own.items()
    }


def file_section(prompt: str, path: str) -> str:
    start = prompt.find(f"## File {path} (")
    if start < 0:
        return ""
    end = prompt.find("\n## ", start + 1)
    return prompt[start : end if end >= 0 else len(prompt)]


def judge(
    prompt: str, gold: set[str], lines: dict[str, set[str]], issue_text: str
) -> tuple[bool, bool]:
    hit_prompt = hit_excerpt = False
    for path in gold:
        if path not in prompt:
            continue
        mine = [line for line in lines.get(path, ()) if line not in issue_text]
        if any(line in prompt for line in mine):
            hit_prompt = True
            section = file_section(prompt, path)
            hit_excerpt |= any(line in section for line in mine)
    return hit_prompt, hit_excerpt


# --- one tree ---------------------------------------------------------------------------------


def raw_context(row: dict[str, Any], index: RepoIndex, files: list[FetchedFile]) -> RawContext:
    owner, name = row["repo"].split("/")
    number = int(row["id"].rsplit("-", 1)[1])
    return RawContext(
        repo={
            "full_name": row["repo"],
            "html_url": f"https://github.com/{row['repo']}",
            "description": "",
            "language": "Python",
        },
        issue={
            "number": number,
            "title": row["title"],
            "body": row["body"],
            "state": "open",
            "labels": [],
            "user": {"login": "reporter"},
            "created_at": row["created_at"],
            "updated_at": row["created_at"],
            "html_url": f"https://github.com/{owner}/{name}/issues/{number}",
        },
        comments=[],
        comments_total=0,
        commit_sha=row["base_commit"],
        tree_paths=index.paths,
        readme=readme_from_index(index),
        contributing=contributing_from_index(index),
        files=files,
    )


def measure_tree(
    rows: list[dict[str, Any]],
    index: RepoIndex,
    budget: int,
    timings: list[float],
    localizations: list[Localization],
) -> list[tuple[dict[str, Any], dict[str, Outcome]]]:
    baseline = PlainBM25(index)
    golds = {g for row in rows for g in row["gold_files"]}
    lines = unique_lines(index, golds)
    results = []
    for row in rows:
        texts = [row["title"], row["body"]]
        issue_text = row["title"] + "\n" + row["body"]
        owner, name = row["repo"].split("/")
        ref = make_ref(owner, name, int(row["id"].rsplit("-", 1)[1]))
        gold = set(row["gold_files"]) & set(index.file_ids)
        started = time.perf_counter()
        ranked = rank_files(index, texts, limit=max(KS))
        timings.append(time.perf_counter() - started)
        ours, repo_map = files_from_index(index, texts)
        asked = localization_prompt(texts, repo_map)
        localizations.append(Localization(asked.chars, any(f"\n{g}\n" in asked.user for g in gold)))
        candidates = rank_referenced_files(texts, index.paths, limit=max(KS))
        path_files = head_files(index, [c.path for c in _choose_files(candidates)], "path words")
        bm25_ranked = baseline.rank(texts, max(KS))
        bm25_files = head_files(index, bm25_ranked[:5], "BM25 of the issue's words")
        systems = {
            "index": ([r.path for r in ranked], ours, repo_map),
            "paths": ([c.path for c in candidates], path_files, []),
            "bm25": (bm25_ranked, bm25_files, []),
        }
        outcomes = {}
        for system, (ranks, files, entries) in systems.items():
            raw = raw_context(row, index, files)
            raw.repo_map = entries
            prompt = build_prompt(build_bundle(raw, ref, budget_chars=budget))
            text = prompt.system + prompt.user
            hit_prompt, hit_excerpt = judge(text, gold, lines, issue_text)
            outcomes[system] = Outcome(hit_prompt, hit_excerpt, ranks, prompt.chars / budget)
        results.append((row, outcomes))
    return results


@dataclass
class Speed:
    tree: str
    paths: int
    files: int
    read: float
    snapshot: float
    index: float
    memory: int
    peak_rss: int | None


def bare_read(archive: Path) -> float:
    started = time.perf_counter()
    with tarfile.open(archive, "r:*") as opened:
        for member in opened:
            if member.isfile():
                extracted = opened.extractfile(member)
                if extracted is not None:
                    extracted.read()
    return time.perf_counter() - started


def build(archive: Path) -> RepoIndex:
    with archive.open("rb") as stream:
        return RepoIndex(read_snapshot(stream))


def measure_speed(tree: str, archive: Path) -> Speed:
    """In a fresh process, so that peak memory is the index's and not the run's so far."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        speed: Speed = pool.apply(_speed, (tree, archive))
    return speed


def _speed(tree: str, archive: Path) -> Speed:
    read = bare_read(archive)
    _reset_peak_rss()
    before = _rss("VmRSS")
    started = time.perf_counter()
    with archive.open("rb") as stream:
        snapshot = read_snapshot(stream)
    snapshot_time = time.perf_counter() - started
    index = RepoIndex(snapshot)
    index_time = time.perf_counter() - started - snapshot_time
    peak = _rss("VmHWM")
    return Speed(
        tree,
        len(index.paths),
        len(index.files),
        read,
        snapshot_time,
        index_time,
        index.memory_bytes(),
        (peak - before) if peak and before else None,
    )


def _rss(field_name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return


# --- the report -------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> Report:
    report = Report("context", command("bench.context", args, parser()))
    repos = {r.strip() for r in args.repos.split(",") if r.strip()} or None
    rows = load_instances(repos, args.limit)
    sdists = Sdists(args.cache.expanduser())
    by_tree: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_tree[row["source_tree"]["pypi"] + row["source_tree"]["spec"]].append(row)
    archives = {
        tree: sdists.archive(
            tree_rows[0]["source_tree"]["pypi"], tree_rows[0]["source_tree"]["spec"]
        )
        for tree, tree_rows in by_tree.items()
    }
    tallies: dict[str, Tally] = defaultdict(Tally)
    skipped: dict[str, int] = defaultdict(int)
    misses: list[str] = []
    timings: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    localizations: list[Localization] = []
    for tree, archive in archives.items():
        if archive is None:
            skipped["sdist unavailable"] += len(by_tree[tree])
            continue
        index = build(archive)
        sizes[tree] = len(index.paths)
        timings[tree] = []
        measured = measure_tree(by_tree[tree], index, args.budget, timings[tree], localizations)
        for row, outcomes in measured:
            gold = set(row["gold_files"]) & set(index.file_ids)
            if not gold:
                skipped["gold file absent from the sdist"] += 1
                continue
            groups = [row["repo"], OVERALL] + ([HELD_OUT] if row["repo"] != TUNED_ON else [])
            for group in groups:
                tallies[group].n += 1
                for system, outcome in outcomes.items():
                    tallies[group].add(system, outcome, gold)
            if not outcomes["index"].hit_prompt:
                misses.append(f"{row['id']}: {sorted(gold)} ranked {outcomes['index'].ranks[:5]}")
        index.close()
    speed = None
    if sizes:
        largest = max(sizes, key=lambda t: sizes[t])
        largest_archive = archives[largest]
        assert largest_archive is not None
        speed = measure_speed(largest, largest_archive)
        timings_of_largest = timings[largest]
    _metrics(report, tallies, speed, timings_of_largest if speed else [])
    _localization(report, localizations, tallies.get(OVERALL))
    _table(report, tallies)
    for reason, count in skipped.items():
        report.notes.append(f"skipped {count}: {reason}")
    for requirement, why in sdists.failures.items():
        report.notes.append(f"{requirement}: {why}")
    report.notes.append(
        f"tuned on {TUNED_ON} only; '{HELD_OUT}' is every other repository, never tuned on"
    )
    report.notes.append(
        "gold function in the excerpt: not measurable here, the devset lists the files a fix "
        "changed but not its hunks"
    )
    if args.misses:
        report.notes += ["missed: " + m for m in misses]
    return report


def _metrics(
    report: Report, tallies: dict[str, Tally], speed: Speed | None, timings: list[float]
) -> None:
    for group in (OVERALL, HELD_OUT):
        tally = tallies.get(group)
        if tally is None or not tally.n:
            continue
        ours = tally.rate(tally.prompt, "index")
        paths = tally.rate(tally.prompt, "paths")
        bm25 = tally.rate(tally.prompt, "bm25")
        report.metrics.append(
            Metric(
                name=f"HitFile@prompt, {group} ({tally.n} issues), no LLM",
                baseline=f"paths {paths:.3f}, plain BM25 {bm25:.3f}",
                measured=f"{ours:.3f} ({tally.rate(tally.excerpt, 'index'):.3f} in an excerpt)",
                ratio=ours / paths if paths else None,
                goal=f">= {GOAL:.2f}",
                met=ours >= GOAL,
            )
        )
    if speed is not None:
        build_time = speed.snapshot + speed.index
        report.metrics.append(
            Metric(
                name=(
                    f"index build, largest tree ({speed.tree}: {speed.paths} files, "
                    f"{speed.files} indexed)"
                ),
                baseline=f"{speed.read:.2f} s reading and decompressing the archive",
                measured=(
                    f"{build_time:.2f} s (snapshot {speed.snapshot:.2f} s + index "
                    f"{speed.index:.2f} s); index holds {speed.memory / 2**20:.0f} MiB, peak RSS "
                    + (f"+{speed.peak_rss / 2**20:.0f} MiB" if speed.peak_rss else "n/a")
                ),
                ratio=build_time / speed.read,
                goal="<= 3x the read",
                met=build_time <= 3 * speed.read,
            )
        )
        if timings:
            per_issue = statistics.median(timings)
            report.metrics.append(
                Metric(
                    name=f"ranking one issue against the built index ({len(timings)} issues)",
                    baseline=f"{build_time:.2f} s building the index",
                    measured=f"median {per_issue * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms",
                    ratio=per_issue / build_time,
                    goal="<= 1/50 of the build (0.02)",
                    met=per_issue <= build_time / 50,
                )
            )


def _localization(report: Report, localizations: list[Localization], overall: Tally | None) -> None:
    """What RETRIEVAL_LLM=on would cost, and the most it could reach. Its own hit rate needs a
    model, which this machine does not have: it is not measured, and not estimated."""
    if not localizations or overall is None:
        return
    chars = statistics.median(x.prompt_chars for x in localizations)
    ceiling = sum(x.gold_in_map for x in localizations) / len(localizations)
    report.metrics.append(
        Metric(
            name="LLM localization (RETRIEVAL_LLM=on): cost per issue",
            baseline=f"no LLM: HitFile@prompt {overall.rate(overall.prompt, 'index'):.3f}",
            measured=(
                f"one call: median prompt {chars:.0f} characters (about {chars / 4:.0f} tokens), "
                f"output capped at RETRIEVAL_LLM_MAX_TOKENS (400); its map holds a gold file for "
                f"{ceiling:.3f} of issues (the most a model could pick); its own HitFile@prompt "
                "is not measured: no model on this machine"
            ),
            ratio=None,
            goal=">= 0.95 with the step (needs a model to measure)",
            met=None,
        )
    )


def _table(report: Report, tallies: dict[str, Tally]) -> None:
    head = (
        f"{'repository':<16}{'n':>4}  "
        + "  ".join(f"{s + ' prompt':>13}" for s in SYSTEMS)
        + f"  {'excerpt':>8}  "
        + "  ".join(f"{s + ' @1/5/10':>20}" for s in SYSTEMS)
        + f"  {'budget used (median)':>22}"
    )
    report.notes.append("per repository (HitFile@prompt; Hit@k of each ranking):")
    report.notes.append(head)
    order = [*sorted(n for n in tallies if n not in (OVERALL, HELD_OUT)), HELD_OUT, OVERALL]
    for group in order:
        tally = tallies.get(group)
        if tally is None or not tally.n:
            continue
        cells = "  ".join(f"{tally.rate(tally.prompt, s):>13.3f}" for s in SYSTEMS)
        ks = "  ".join(
            f"{'/'.join(f'{tally.hits[s][k] / tally.n:.2f}' for k in KS):>20}" for s in SYSTEMS
        )
        used = "/".join(f"{statistics.median(tally.used[s]):.2f}" for s in SYSTEMS)
        report.notes.append(
            f"{group:<16}{tally.n:>4}  {cells}  {tally.rate(tally.excerpt, 'index'):>8.3f}  "
            f"{ks}  {used:>22}"
        )


if __name__ == "__main__":
    figure_main(run, parser)
