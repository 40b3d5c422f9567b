"""Planning a grid: the cells a command line (or a preset) asks for, and what ``dlps run --dry-run``
shows of them (cells to run and to skip, their estimated CPU time), without running anything."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compare.grid.cells import Cell, GridPart, build_cells
from compare.grid.cost import duration
from compare.grid.forkserver import local_workers
from compare.grid.jobs import estimate
from compare.grid.ranges import parse_seeds, parse_sizes
from compare.methods import Budgets
from compare.results.store import Store
from compare.settings.presets import PRESET_ANALYSES, PRESETS
from tasks import SpecError
from tasks.spec import split_specs


def preset(name: str) -> tuple[GridPart, ...]:
    """The parts of preset ``name`` (:mod:`compare.settings.presets`); SpecError naming the accepted ones."""
    if name not in PRESETS:
        raise SpecError(f"unknown preset {name!r}; accepted: {', '.join(PRESETS)}")
    return PRESETS[name]



def grid_parts(
    preset_name: str | None,
    tasks: Sequence[str] | None,
    methods: Sequence[str] | None,
    sizes: str | None,
    seeds: str | None,
) -> tuple[GridPart, ...]:
    """The grid asked for on the command line: a preset (whose seeds ``seeds`` may replace), or the
    product of ``tasks``, ``methods``, ``sizes`` and ``seeds`` (default 0..2)."""
    task_specs, method_specs = split_specs(tasks), split_specs(methods)
    seed_list = tuple(parse_seeds(seeds)) if seeds is not None else None
    if preset_name is not None:
        if task_specs or method_specs or sizes is not None:
            raise SpecError("give either --preset or --tasks/--methods/--sizes, not both")
        parts = preset(preset_name)
        if seed_list is not None:
            parts = tuple(GridPart(p.tasks, p.methods, p.sizes, seed_list) for p in parts)
        return parts
    missing = [name for name, given in (("--tasks", task_specs), ("--methods", method_specs),
                                        ("--sizes", sizes)) if not given]
    if missing:

        raise SpecError(f"missing {', '.join(missing)} (or use --preset {'|'.join(PRESETS)})")
    return (GridPart(task_specs, method_specs, tuple(parse_sizes(sizes)), seed_list or (0, 1, 2)),)


@dataclass
class DryRun:
    """What ``dlps run --dry-run`` shows: the cells to run and to skip, and the estimated CPU time
    per task × method and in all (:mod:`compare.grid.cost`)."""
    total: int
    pending: list[Cell]
    notes: list[str]
    workers: int
    store: str

    def lines(self) -> list[str]:

        skipped = self.total - len(self.pending)
        out = [f"{self.total} cells: {skipped} already in the store ({self.store}), "
               f"{len(self.pending)} to run"]
        if not self.pending:
            return out
        est = estimate(self.pending)
        by_task: dict[str, list[tuple[str, float]]] = {}
        for (task, method), seconds in sorted(est.seconds.items()):
            by_task.setdefault(task, []).append((method, seconds))
        for task, methods in by_task.items():
            out.append(task)
            for method, seconds in methods:  # numbers first: a method spec can be long (Nanda's)
                cells, spent = est.cells[(task, method)], _spent(seconds, est.spent[(task, method)])
                out.append(f"  {cells:>6} cells  {duration(seconds):>9} of CPU{spent}  {method}")
        total_spent = _spent(est.total, est.total_spent)
        if total_spent:
            legend = ("up to: the CPU time if no synthesizer cell finds its program, each search running "
                      "until a budget stops it")
            if math.isinf(est.total_spent):
                legend += "; no bound: no bank, candidate or time budget caps a search"
            out.append(legend)
        workers = f"{self.workers} worker{'s' * (self.workers > 1)}"
        grid = f"n = {_listed({c.n for c in self.pending})} × seeds {_listed({c.seed for c in self.pending})}"
        out.append(f"total: {len(self.pending)} cells to run, about {duration(est.total)} of CPU"
                   f"{total_spent} for {grid}; about {duration(est.wall(self.workers))} on {workers}")
        return out


def _listed(values: set[int]) -> str:
    """The sizes or seeds of a task's cells to run, in order (the dry run shows what a range expands to)."""
    return ", ".join(str(v) for v in sorted(values))


def _spent(seconds: float, spent: float) -> str:
    """What the dry run adds where searches that spend their whole budget would cost much more than
    estimated (the synthesizer's estimate is a typical cell's; a hard program costs the budget)."""
    if spent <= 1.1 * seconds:
        return ""
    return " (no bound)" if math.isinf(spent) else f" (up to {duration(spent)})"


def grid_cells(grid: dict[str, Any], budgets: Budgets,
               analyses: Sequence[str] = ()) -> tuple[list[Cell], list[str]]:
    """The cells of ``grid`` (with the analyses asked for, and those its preset is made for:
    ``PRESET_ANALYSES``) and the notes on pairs a preset skips (:func:`compare.grid.cells.build_cells`)."""
    preset = grid.get("preset_name")
    return build_cells(grid_parts(**grid), budgets, skip_unfit=preset is not None,
                       analyses=(*analyses, *PRESET_ANALYSES.get(preset or "", ())))


def plan_run(grid: dict[str, Any], budgets: Budgets, store: str, jobs: int | None,
             retry_failed: bool = False, analyses: Sequence[str] = ()) -> DryRun:
    """The grid ``dlps run`` would run, checked as for a real run, without running, claiming or
    creating anything: a store that does not exist yet means every cell is to run."""
    cells, notes = grid_cells(grid, budgets, analyses)
    finished: set[str] = set()
    if Path(store).exists():
        with Store(store, create=False) as results:
            finished = results.finished_keys(include_failed=not retry_failed)
    workers = local_workers(jobs)
    return DryRun(len(cells), [c for c in cells if c.key not in finished], notes, workers, store)
