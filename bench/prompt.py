"""Figure 6, prompt: prompt characters for issues from 1 KB to 1 MB with 1 to 500 comments,
against the configured budget (PROMPT_BUDGET_CHARS); and whether the README, the issue's head
and tail and the referenced file were kept while older comments were dropped.

No servers: a hand-made RawContext goes through context.bundle.build_bundle and
llm.prompt.build_prompt, as fetch_issue_context and generate_tutorial_draft do.

    .venv/bin/python -m bench.prompt --budget 60000
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from bench._content import (
    FILE_END,
    ISSUE_END,
    ISSUE_START,
    README_END,
    comment_marker,
    make_raw,
)
from bench._report import Metric, Report, command, figure_main
from issuesight.context.bundle import build_bundle
from issuesight.core.settings import Settings
from issuesight.domain.refs import make_ref
from issuesight.llm.prompt import build_prompt

BODY_SIZES = (1_000, 10_000, 100_000, 1_000_000)
COMMENT_COUNTS = (1, 10, 100, 500)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.prompt", description=__doc__)
    budget = Settings(_env_file=None).prompt_budget_chars
    p.add_argument("--budget", type=int, default=budget, help="PROMPT_BUDGET_CHARS")
    return p


@dataclass
class Case:
    body: int
    comments: int
    raw_chars: int
    prompt_chars: int
    kept_comments: int
    priority_kept: bool  # README, issue head and tail, the referenced file
    newest_kept: bool  # the comments kept are the newest ones
    ms: float


def measure(body: int, comments: int, budget: int) -> Case:
    ref = make_ref("octo-org", "hello-world", 1)
    raw = make_raw(ref, body_chars=body, comments=comments)
    started = time.perf_counter()
    prompt = build_prompt(build_bundle(raw, ref, budget_chars=budget))
    ms = (time.perf_counter() - started) * 1000
    text = prompt.system + prompt.user
    kept = [i for i in range(comments) if comment_marker(i) in text]
    raw_chars = len(raw.issue["body"]) + sum(len(c["body"]) for c in raw.comments)
    raw_chars += len(raw.readme[1]) if raw.readme else 0
    raw_chars += len(raw.contributing[1]) if raw.contributing else 0
    raw_chars += sum(len(f.text or "") for f in raw.files)
    return Case(
        body=body,
        comments=comments,
        raw_chars=raw_chars,
        prompt_chars=prompt.chars,
        kept_comments=len(kept),
        priority_kept=all(m in text for m in (README_END, FILE_END, ISSUE_START, ISSUE_END)),
        newest_kept=kept == list(range(comments - len(kept), comments)),
        ms=ms,
    )


def run(args: argparse.Namespace) -> Report:
    report = Report("prompt", command("bench.prompt", args, parser()))
    cases = [measure(b, c, args.budget) for b in BODY_SIZES for c in COMMENT_COUNTS]
    largest = max(cases, key=lambda c: c.prompt_chars)
    dropping = [c for c in cases if c.kept_comments < c.comments]
    ordered = [c for c in dropping if c.priority_kept and c.newest_kept]
    report.metrics += [
        Metric(
            name="largest prompt (characters) / configured budget",
            baseline=f"budget {args.budget} characters",
            measured=f"{largest.prompt_chars} characters (body {largest.body}, "
            f"{largest.comments} comments, {largest.raw_chars} characters of input)",
            ratio=largest.prompt_chars / args.budget,
            goal="<= 1.00 (bounded by the budget)",
            met=largest.prompt_chars <= args.budget,
        ),
        Metric(
            name="cases dropping comments that kept README, issue head+tail, file, newest",
            baseline=f"{len(dropping)} of {len(cases)} cases dropped older comments",
            measured=f"{len(ordered)} kept all of them, and only the newest comments",
            ratio=len(ordered) / len(dropping) if dropping else None,
            goal="all",
            met=len(ordered) == len(dropping),
        ),
    ]
    report.notes.append("body chars | comments | input chars | prompt chars | comments kept | ms")
    report.notes += [
        f"{c.body:>10} | {c.comments:>8} | {c.raw_chars:>11} | {c.prompt_chars:>12} | "
        f"{c.kept_comments:>13} | {c.ms:.1f}"
        + ("" if c.priority_kept else "  README/issue/file LOST")
        for c in cases
    ]
    return report


if __name__ == "__main__":
    figure_main(run, parser)
