"""What every figure prints: the command, the baseline, the measurement, the ratio, the goal and
whether it was met. Goals are reported, never asserted."""

from __future__ import annotations

import argparse
import math
import shlex
import signal
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn


@dataclass
class Metric:
    name: str
    baseline: str
    measured: str
    ratio: float | None
    goal: str
    met: bool | None  # None: no goal, or it could not be judged


@dataclass
class Report:
    figure: str
    command: str
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def command(module: str, args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The exact command that reproduces a figure, with every option spelled out."""
    parts = [".venv/bin/python", "-m", module]
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        value = getattr(args, action.dest)
        if isinstance(action, argparse.BooleanOptionalAction):
            parts.append(action.option_strings[0 if value else 1])
        elif isinstance(value, tuple | list):
            parts += [action.option_strings[-1], ",".join(str(v) for v in value)]
        else:
            parts += [action.option_strings[-1], str(value)]
    return shlex.join(parts)


def verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT MET", None: "-"}[met]


def fmt_ratio(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"


def print_report(report: Report) -> None:
    print(f"\n== {report.figure} " + "=" * max(0, 88 - len(report.figure)))
    print(f"command:     {report.command}")
    if report.error:
        print(f"ERROR:       {report.error}")
    for m in report.metrics:
        print(f"-- {m.name}")
        print(f"   baseline:    {m.baseline}")
        print(f"   measurement: {m.measured}")
        print(f"   ratio:       {fmt_ratio(m.ratio)}")
        print(f"   goal:        {m.goal}  -> {verdict(m.met)}")
    for note in report.notes:
        print(f"note: {note}")
    sys.stdout.flush()


def print_summary(reports: Sequence[Report]) -> None:
    rows = [("figure", "metric", "baseline", "measured", "ratio", "goal", "met")]
    for r in reports:
        if r.error:
            rows.append((r.figure, "ERROR", "", r.error[:60], "", "", ""))
        for m in r.metrics:
            ratio, met = fmt_ratio(m.ratio), verdict(m.met)
            rows.append((r.figure, m.name, m.baseline, m.measured, ratio, m.goal, met))
    widths = [min(48, max(len(row[i]) for row in rows)) for i in range(len(rows[0]))]
    print("\n== summary " + "=" * 80)
    for n, row in enumerate(rows):
        print(" | ".join(cell[: widths[i]].ljust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            print("-+-".join("-" * w for w in widths))


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the dev server, workers and databases are cleaned up."""

    def stop(signum: int, _frame: object) -> NoReturn:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def figure_main(
    run: Callable[[argparse.Namespace], Report], parser: Callable[[], argparse.ArgumentParser]
) -> None:
    """`python -m bench.<figure>`: run one figure with its options and print its report."""
    exit_on_sigterm()
    print_report(run(parser().parse_args()))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
