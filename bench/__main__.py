"""`python -m bench [FIGURE ...] [--quick] [--markdown]`: runs the figures (all by default) one
after another and prints a summary table. Each figure also runs alone, with its own options:
`python -m bench.overhead --help`.

Every figure is a ratio against a baseline measured in the same run; goals are reported as met or
not met, never asserted. `--quick` runs smaller sizes (stated in each figure's command line).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import traceback
from types import ModuleType

from bench import accounts, context, github, llm, overhead, prompt, scaleout, status, web
from bench._report import Report, exit_on_sigterm, print_report, print_summary, verdict
from bench._stack import ROOT

FIGURES: dict[str, ModuleType] = {
    "overhead": overhead,
    "status": status,
    "github": github,
    "llm": llm,
    "scaleout": scaleout,
    "prompt": prompt,
    "web": web,
    "accounts": accounts,
    "context": context,
}
QUICK: dict[str, list[str]] = {
    "overhead": ["--n", "30", "--rounds", "1"],
    "status": ["--duration", "3", "--rounds", "1"],
    "github": [],
    "llm": ["--n", "60", "--faults", "5"],
    "scaleout": ["--n", "60"],
    "prompt": [],
    "web": ["--tutorials", "20", "--rounds", "5"],
    "accounts": ["--n", "150"],
    "context": ["--limit", "40"],
}


def machine() -> list[str]:
    def out(*args: str) -> str:
        try:
            return subprocess.run(args, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return "?"

    memory = next((line for line in out("free", "-h").splitlines() if line.startswith("Mem")), "")
    dirty = " (uncommitted changes)" if out("git", "status", "--porcelain") else ""
    return [
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
        f"nproc: {os.cpu_count()}; memory: {' '.join(memory.split()[1:3])} (total, used)",
        f"python: {platform.python_version()}; {platform.platform()}",
        f"commit: {out('git', 'rev-parse', '--short', 'HEAD')}{dirty}",
        f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


def markdown(reports: list[Report]) -> None:
    print("\n| figure | command | metric | baseline | measured | ratio | goal | met |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in reports:
        for m in r.metrics:
            ratio = "-" if m.ratio is None else f"{m.ratio:.2f}"
            print(
                f"| {r.figure} | `{r.command}` | {m.name} | {m.baseline} | {m.measured} | "
                f"{ratio} | {m.goal} | {verdict(m.met)} |"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("figures", nargs="*", metavar="FIGURE", help=", ".join(FIGURES))
    p.add_argument("--quick", action="store_true", help="smaller sizes")
    p.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = p.parse_args(argv)
    exit_on_sigterm()
    unknown = [f for f in args.figures if f not in FIGURES]
    if unknown:
        p.error(f"unknown figure(s) {unknown}; choose from {list(FIGURES)}")
    for line in machine():
        print(line)
    reports = []
    for name in args.figures or list(FIGURES):
        module = FIGURES[name]
        figure_args = module.parser().parse_args(QUICK[name] if args.quick else [])
        started = time.monotonic()
        try:
            report = module.run(figure_args)
        except Exception as exc:
            traceback.print_exc()
            report = Report(name, f"python -m bench.{name}", error=f"{type(exc).__name__}: {exc}")
        report.notes.append(f"took {time.monotonic() - started:.0f} s")
        print_report(report)
        reports.append(report)
    print_summary(reports)
    if args.markdown:
        markdown(reports)
    return 1 if any(r.error for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
