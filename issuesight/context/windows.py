"""Cutting a file down to the parts an issue is about, within a number of characters.

Windows, not heads: a file contributes first the definitions the issue names (exact spans from
`ast` for Python, decorators included), each with the header line of its class and the file's
imports, then the chunks that matched the issue's words, then more of the file around them as
room allows. Lines are never cut in the middle; skipped stretches are marked with `⋮`, and
every window starts with its line numbers, so the model can cite `path#Lstart-Lend`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from issuesight.context.definitions import Definition, Outline, enclosing, outline

MAX_IMPORT_LINES = 25
HEAD_LINES = 12  # what stands for the imports where none were found (docstring, licence)
CLASS_HEADER_LINES = 2
GAP = "⋮"


@dataclass(frozen=True, slots=True)
class Excerpt:
    text: str
    main: tuple[int, int] | None  # the first region shown, for a #Lstart-Lend link
    lines_shown: int
    total_lines: int


def excerpt(
    path: str,
    text: str,
    regions: Sequence[tuple[int, int, str]],
    room: int,
    *,
    file_outline: Outline | None = None,
) -> Excerpt:
    """The parts of `text` worth showing within `room` characters.

    `regions` are (start, end, label) line spans, most important first (retrieve.Region).
    """
    lines = text.split("\n")
    total = len(lines)
    if len(text) + 40 <= room:
        return Excerpt(f"[whole file, {total} lines]\n{text}", (1, total), total, total)
    plan = _Plan(lines, room)
    file_outline = file_outline or outline(path, text)
    definitions = file_outline.definitions
    main: tuple[int, int] | None = None
    for start, end, _ in regions:
        span = _exact_span(definitions, start, end)
        if not plan.fits_some():
            break
        if main is None:
            main = span
            plan.add_context(file_outline, definitions, span[0])
        else:
            plan.add_enclosing_headers(definitions, span[0])
        plan.add(span[0], span[1])
    if main is None:
        plan.add_context(file_outline, definitions, 1)
        main = (1, min(total, HEAD_LINES))
    plan.grow()
    rendered = plan.render()
    while len(rendered) > room and plan.chosen:
        plan.chosen.discard(max(plan.chosen))  # the markers took more than was counted
        rendered = plan.render()
    return Excerpt(rendered, main, plan.shown(), total)


def _exact_span(definitions: Sequence[Definition], start: int, end: int) -> tuple[int, int]:
    """A scanner's span made exact: the innermost parsed definition starting near `start`."""
    chain = enclosing(definitions, start)
    if chain:
        inner = chain[-1]
        # The scanner's start is the `def` line; ast's includes decorators above it.
        if inner.line <= start <= min(inner.end, inner.line + 40):
            return inner.line, inner.end
    return start, max(start, end)


class _Plan:
    """Chosen line intervals within a character budget (markers counted)."""

    def __init__(self, lines: list[str], room: int) -> None:
        self.lines = lines
        self.room = room
        self.chosen: set[int] = set()  # 0-based line numbers
        self.used = 0

    def fits_some(self) -> bool:
        return self.used + 80 < self.room

    def _cost(self, index: int) -> int:
        return len(self.lines[index]) + 1

    def add(self, start: int, end: int) -> None:
        """Adds lines start..end (1-based) in order until the room is spent."""
        for index in range(max(0, start - 1), min(len(self.lines), end)):
            if index in self.chosen:
                continue
            cost = self._cost(index) + (24 if index - 1 not in self.chosen else 0)
            if self.used + cost > self.room:
                return
            self.chosen.add(index)
            self.used += cost

    def add_context(
        self, file_outline: Outline, definitions: Sequence[Definition], line: int
    ) -> None:
        """The file's imports (or head) and the headers of the classes around `line`."""
        if file_outline.imports is not None:
            first, last = file_outline.imports
            self.add(first, min(last, first + MAX_IMPORT_LINES - 1))
        else:
            self.add(1, HEAD_LINES)
        self.add_enclosing_headers(definitions, line)

    def add_enclosing_headers(self, definitions: Sequence[Definition], line: int) -> None:
        for outer in enclosing(definitions, line)[:-1]:
            self.add(outer.line, min(outer.end, outer.line + CLASS_HEADER_LINES - 1))

    def grow(self) -> None:
        """More of the file around what was chosen, a line after and a line before each
        window in turn, until the room is spent."""
        while True:
            edges = []
            for index in sorted(self.chosen):
                if index + 1 < len(self.lines) and index + 1 not in self.chosen:
                    edges.append(index + 1)
                if index - 1 >= 0 and index - 1 not in self.chosen:
                    edges.append(index - 1)
            grown = False
            for index in dict.fromkeys(edges):
                cost = self._cost(index)
                if self.used + cost <= self.room:
                    self.chosen.add(index)
                    self.used += cost
                    grown = True
            if not grown:
                return

    def shown(self) -> int:
        return len(self.chosen)

    def render(self) -> str:
        out: list[str] = []
        previous = None
        total = len(self.lines)
        for index in sorted(self.chosen):
            if previous is None or index != previous + 1:
                if previous is not None:
                    out.append(GAP)
                end = index
                while end + 1 in self.chosen:
                    end += 1
                out.append(f"[lines {index + 1}-{end + 1} of {total}]")
            out.append(self.lines[index])
            previous = index
        return "\n".join(out)
