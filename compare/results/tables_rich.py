"""One task's table for a terminal: methods across, sizes down, long texts and a legend below.

Methods are the columns and each n a row (with n@99, AULC, OOD accuracy and failures under them)
because a task has a few methods but many sizes: the quick preset's 3 methods × 7 sizes fit 80
columns this way, and would need 150 the other way round. Nothing is cut or replaced by a
placeholder: programs, mechanism summaries and the specs the methods were given are listed in full
under the table beside their method, with a legend of the mechanism codes shown; where even the
columns do not fit, the interval goes under its mean, and then the methods are split over several
tables, each with the row labels. Headers and titles break only after ``,`` or ``:`` of a spec,
never inside a word.

This module knows nothing of summaries (:mod:`compare.results.tables` hands it strings), so that it
stays a renderer and imports no other module of dlps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

#: Header cells are wrapped to at least this width, so that a short column does not stack a label.
MIN_HEADER = 12


@dataclass(frozen=True)
class Part:
    """One column of the declared columns, as the strings of one task's table (a cell per method).

    ``below`` is the heading of the list under the table where this part's texts go (long texts), or
    None for a row of the table."""

    header: str
    cells: list[str]
    below: str | None = None


def wrap_spec(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken only after ``,`` ``:`` or a space (a
    piece longer than ``width`` stays whole: a line too long beats a word cut in two)."""
    lines = [""]
    for piece in re.split(r"(?<=[,: ])", text):
        if lines[-1] and len(lines[-1]) + len(piece.rstrip()) > width:
            lines.append("")
        lines[-1] += piece
    return [line.rstrip() for line in lines]


def _stacked(cell: str) -> str:
    return cell.replace(" [", "\n[")


def _common_at(cells: Sequence[str]) -> str | None:
    """The `` @N`` all non-empty cells of a row end with (then said once, in the row's label)."""
    ends = {m.group(0) if (m := re.search(r" @\d+$", c)) else None for c in cells if c}
    return ends.pop() if len(ends) == 1 and None not in ends else None


class RichTaskTable:
    """One task's table (a rich renderable: the width is known only when printed)."""

    def __init__(self, task: str, methods: Sequence[str], given: Sequence[str], parts: Sequence[Part],
                 legend: Sequence[tuple[str, str]] = (), caption: str = "") -> None:
        self.task, self.methods, self.caption, self.legend = task, list(methods), caption, list(legend)
        self.rows: list[tuple[str, list[str]]] = []
        self.below: list[tuple[str, list[tuple[str, str]]]] = []
        for part in parts:
            if part.below is not None:
                entries = [(m, c) for m, c in zip(self.methods, part.cells, strict=True) if c]
                if entries:
                    self.below.append((part.below, entries))
                continue
            at = _common_at(part.cells)
            cells = [c.removesuffix(at) for c in part.cells] if at else list(part.cells)
            self.rows.append((part.header + (f" @n={at[2:]}" if at else ""), cells))
        # The spec each method was given, where its label had to be shorter (the resolved spec with
        # every default is in --format json): first, since it says what the columns are.
        specs = [(m, g) for m, g in zip(self.methods, given, strict=True) if g and g != m]
        if specs:
            self.below.insert(0, ("methods, as given", specs))

    def _columns(self, stacked: bool) -> list[tuple[str, list[str]]]:
        """(header, cells) per method, the row labels first."""
        fix = _stacked if stacked else (lambda c: c)
        columns = [("", [label for label, _ in self.rows])]
        for i, method in enumerate(self.methods):
            cells = [fix(cells[i]) for _, cells in self.rows]
            columns.append((method, cells))
        return columns

    def tables(self, width: int) -> list[Any]:
        """The table in as few parts as fit ``width`` (all methods in one where they fit)."""
        from rich.cells import cell_len
        from rich.table import Table

        def cells_width(cells: Sequence[str]) -> int:
            return max((cell_len(line) for c in cells for line in c.split("\n")), default=0)

        def header(column: tuple[str, list[str]]) -> str:
            return "\n".join(wrap_spec(column[0], max(cells_width(column[1]), MIN_HEADER)))

        def natural(column: tuple[str, list[str]]) -> int:
            # Text plus padding on both sides and one rule: what the default box needs.
            return max(cells_width(column[1]), cells_width([header(column)])) + 3

        columns = self._columns(stacked=False)
        if sum(map(natural, columns)) + 1 > width:
            columns = self._columns(stacked=True)
        first, rest = columns[0], columns[1:]
        chunks: list[list[tuple[str, list[str]]]] = [[]]
        used = 1 + natural(first)
        for column in rest:
            if chunks[-1] and used + natural(column) > width:
                chunks.append([])
                used = 1 + natural(first)
            chunks[-1].append(column)
            used += natural(column)
        out = []
        for chunk in chunks:
            table = Table()
            table.add_column(first[0], justify="left", no_wrap=True)
            for column in chunk:
                # fold, not ellipsis: in a terminal too narrow even for this, text breaks, never hides.
                table.add_column(header(column), justify="right", overflow="fold")
            for i in range(len(first[1])):
                table.add_row(first[1][i], *(column[1][i] for column in chunk))
            out.append(table)
        return out

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Any]:
        from rich.table import Table
        from rich.text import Text

        width = options.max_width
        yield Text("\n".join(wrap_spec(self.task, width)), style="bold")
        if self.caption:
            yield Text(self.caption)
        yield from self.tables(width)
        lists = [*self.below, *([("codes", self.legend)] if self.legend else [])]
        for heading, entries in lists:
            yield Text(f"{heading}:")
            # A grid, so that a long text wraps at its spaces beside its label, indented.
            grid = Table.grid(padding=(0, 2), pad_edge=True)
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            for label, text in entries:
                grid.add_row(label, text)
            yield grid
