"""Planning a grid: the cells a command line (or a preset) asks for, and what ``dlps run --dry-run``
shows of them (cells to run and to skip, their estimated CPU time), without running anything."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compare.files import writable_folder
from compare.grid.cells import CONFIRM_CELLS, Cell, GridPart, build_cells
from compare.grid.cost import duration
from compare.grid.executors import ExecutorError, parse_scheduler_address
from compare.grid.forkserver import local_workers
from compare.grid.jobs import estimate
from compare.grid.ranges import parse_seeds, parse_sizes
from compare.methods import Budgets
from compare.results.store import Store, StoreError
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
             retry_failed: bool = False, analyses: Sequence[str] = (), *, scheduler: str | None = None,
             artefacts: str | None = None, yes: bool = False, device: str | None = None) -> DryRun:
    """The grid ``dlps run`` would run, checked as for a real run (:func:`check_run`: what the run
    would refuse, the dry run refuses), without running, claiming or creating anything: a store that
    does not exist yet (in a folder that does) means every cell is to run."""
    checked = check_run(grid, budgets, store, jobs, scheduler, artefacts, yes, device, analyses, dry_run=True)
    finished: set[str] = set()
    if Path(store).exists():
        with Store(store, create=False) as results:
            finished = results.finished_keys(include_failed=not retry_failed)
    return DryRun(len(checked.cells), [c for c in checked.cells if c.key not in finished], checked.notes,
                  checked.workers, store)


@dataclass
class CheckedRun:
    """What :func:`check_run` found: the cells, the notes on skipped pairs, the device, the
    artefacts folder and the number of local workers."""

    cells: list[Cell]
    notes: list[str]
    device: str | None
    artefacts: str | None
    workers: int


def check_run(grid: dict[str, Any], budgets: Budgets, store: str, jobs: int | None, scheduler: str | None,
              artefacts: str | None, yes: bool, device: str | None, analyses: Sequence[str] = (),
              *, dry_run: bool = False) -> CheckedRun:
    """Every check of ``dlps run`` that starts no worker and opens no store for writing, made alike
    for the run (:func:`compare.grid.runner.prepare_run`) and its dry run: the device, the grid, its
    size (``yes`` above ``CONFIRM_CELLS``), the artefacts folder, ``--jobs``, the scheduler's address,
    and that the store can be created or written. A dry run creates nothing (the artefacts folder is
    checked, not made); the run creates the artefacts folder. ValueError (one line) for the first
    problem."""
    device = check_device_option(device)
    cells, notes = grid_cells(grid, budgets, analyses)
    if len(cells) > CONFIRM_CELLS and not yes:
        raise ValueError(f"the grid has {len(cells):,} cells (more than {CONFIRM_CELLS:,}); pass --yes to "
                         "run them all, or narrow --tasks, --methods, --sizes or --seeds")
    if artefacts is not None:
        artefacts = _check_folder(artefacts) if dry_run else str(writable_folder(artefacts, "artefacts"))
    workers = local_workers(jobs)
    if scheduler is not None:
        if not scheduler.startswith("inproc://"):  # a scheduler in this process (tests): the run probes it
            parse_scheduler_address(scheduler)  # the syntax; reaching it is the run's (it connects)
    elif workers < 1:
        raise ExecutorError(f"--jobs must be >= 1, got {workers}")
    check_store_path(store)
    return CheckedRun(cells, notes, device, artefacts, workers)


def check_store_path(store: str) -> None:
    """StoreError (one line, as opening it for writing would say) unless a results store can be
    created at ``store``, or the one there written; creates and opens nothing."""
    path = Path(store)
    try:
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not a dlps results store; give a file for --store")
        if not path.exists():
            if not path.parent.is_dir():
                raise StoreError(f"cannot create store {path}: folder {path.parent} does not exist")
            if not os.access(path.parent, os.W_OK | os.X_OK):
                raise StoreError(f"cannot create store {path}: folder {path.parent} is not writable; give "
                                 "another --store")
        elif not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
            raise StoreError(f"cannot write the results store {path}: the file or its folder is read-only; "
                             "make the file and its folder writable or give another --store")
    except OSError as exc:  # a name too long for the file system
        raise StoreError(f"cannot use --store {str(path)[:120]}: {exc.strerror or exc}") from None


def _check_folder(path: str) -> str:
    """The artefacts folder of a dry run, checked as :func:`compare.files.writable_folder` checks it,
    without making it: a folder that exists and can be written, or one that can be made in the nearest
    folder above it that exists."""
    if not path:
        raise ValueError("artefacts: give a folder name (got an empty one)")
    folder = Path(path)
    try:
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"artefacts {path} is a file, not a folder")
        existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ValueError(f"cannot write artefacts into {path[:120]}: {existing} is not a writable folder")
    except OSError as exc:
        raise ValueError(f"cannot write artefacts into {path[:120]}: {exc.strerror or exc}") from None
    return path


DEVICES = ("cpu", "cuda", "cuda:N", "auto")


def check_device_option(device: str | None) -> str | None:
    """``--device`` checked where it is given: a device this machine has (``cuda`` only with a CUDA
    GPU, ``auto`` for CUDA when present), or None (each spec's own, ``auto`` by default).
    ValueError, one line, otherwise."""
    if device is None:
        return None
    import torch

    from baselines.learners import check_device, resolve_device

    try:
        kind = resolve_device(device).type
    except (RuntimeError, ValueError):
        kind = None
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"unknown --device {device!r}; accepted: {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: no CUDA device is available on this machine; use --device cpu")
    check_device(device)  # a GPU index this machine lacks
    return device
