"""The coordinator: skip finished cells, group the rest into jobs, hand them to an executor, and
commit each result to the store the moment it comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from compare.files import writable_folder
from compare.grid.cells import CONFIRM_CELLS, Cell
from compare.grid.cost import duration
from compare.grid.executors import make_executor
from compare.grid.forkserver import local_workers
from compare.grid.jobs import estimate, make_jobs
from compare.grid.plan import grid_cells
from compare.grid.worker import CellOptions
from compare.methods import Budgets
from compare.progress import GridProgress
from compare.results.store import Store, lease_owner


@dataclass
class RunSummary:
    """What a run did: cells in the grid, already in the store, run now, failed now, and lost (their
    job died with its worker: not stored, so a re-run retries them)."""

    total: int
    skipped: int
    ran: int = 0
    failed: int = 0
    lost: int = 0
    lost_reason: str | None = None
    elsewhere: int = 0
    estimated: float = 0.0  # CPU seconds the cost model gave the cells this run took on
    cpu: float = 0.0  # CPU seconds the workers spent on the cells that came back

    def line(self) -> str:
        text = (f"{self.total} cells: {self.skipped} already in the store, {self.ran} run, "
                f"{self.failed} failed")
        if self.elsewhere:
            text += f", {self.elsewhere} left to another run on this store (it is running them)"
        if self.lost:
            text += f", {self.lost} lost ({self.lost_reason}); run again to retry them"
        if max(self.estimated, self.cpu) >= 1.0:  # a run of under a second needs no forecast
            text += f"; CPU time: estimated {duration(self.estimated)}, actual {duration(self.cpu)}"
        return text


#: Seconds a claim on a cell lasts without renewal (renewed whenever a job comes back). Long, because
#: one job may train for an hour (Nanda's setting); a run that died on this host frees its claims at
#: once anyway (its pid is gone), so only a run on another host that died waits this long.
LEASE_SECONDS = 6 * 3600.0


def run_grid(
    cells: Sequence[Cell],
    store: Store,
    executor,
    retry_failed: bool = False,
    batch: bool = True,
    progress: GridProgress | None = None,
    device: str | None = None,
) -> RunSummary:
    """Run every cell of ``cells`` not yet in ``store`` (failed ones too when ``retry_failed``).

    Cells are claimed in the store first (a lease), so two runs on one store never do the same work:
    a cell another live run has claimed is left to it.
    """
    owner = lease_owner()
    finished = store.finished_keys(include_failed=not retry_failed)
    pending = [cell for cell in cells if cell.key not in finished]
    keys = [c.key for c in pending]
    claimed = set(store.claim(keys, owner, LEASE_SECONDS, include_failed=not retry_failed))
    mine = [cell for cell in pending if cell.key in claimed]
    summary = RunSummary(total=len(cells), skipped=len(cells) - len(pending),
                         elsewhere=len(pending) - len(mine))

    est = estimate(mine, batch, device)
    summary.estimated = est.total
    progress = progress or GridProgress(len(cells), summary.skipped + summary.elsewhere, est.total)
    try:
        with progress:
            for job, outcome in executor.run(make_jobs(mine, batch, device)):
                store.renew(owner, LEASE_SECONDS)
                if isinstance(outcome, BaseException):
                    summary.lost += len(job.cells)
                    summary.lost_reason = f"{type(outcome).__name__}: {outcome}"
                    continue
                # Committed now, a whole batch at once: a kill after this line loses nothing of this job.
                store.put_many(list(zip(job.cells, outcome, strict=True)), owner=owner)
                for cell, result in zip(job.cells, outcome, strict=True):
                    summary.ran += 1
                    summary.cpu += result.extra.get("cpu_seconds", 0.0)
                    summary.failed += result.status != "ok"
                    progress.advance(est.per_cell.get(cell.key, 0.0), failed=result.status != "ok")
    finally:
        store.release(claimed, owner)  # cells not stored (lost, interrupted) are free for a re-run at once
    return summary


@dataclass
class GridRun:
    """A grid checked and ready to run: its cells, the notes on skipped pairs, the open store and the
    executor. Everything a user can get wrong has been checked when this exists."""

    cells: list[Cell]
    notes: list[str]
    store: Store
    executor: Any
    device: str | None = None

    def execute(self, retry_failed: bool = False) -> RunSummary:
        """Run the pending cells; the store and executor are closed however it ends (Ctrl-C stops
        the workers at once; every finished cell is already stored)."""
        try:
            return run_grid(self.cells, self.store, self.executor, retry_failed=retry_failed,
                            device=self.device)
        except KeyboardInterrupt:
            self.executor.close(abort=True)
            raise
        finally:
            self.executor.close()
            self.store.close()


def prepare_run(grid: dict[str, Any], budgets: Budgets, store: str, jobs: int | None, scheduler: str | None,
                artefacts: str | None, yes: bool = False, device: str | None = None,
                analyses: Sequence[str] = ()) -> GridRun:
    """Build and check everything ``dlps run`` needs before any cell runs: the grid (``grid``: the
    keyword arguments of :func:`compare.grid.grid_parts`), budgets and parameter ranges, the artefacts
    folder, a writable store, then the executor; a grid of more than ``CONFIRM_CELLS`` cells runs only
    with ``yes``. ``analyses``: the opt-in analyses the cells also run (:mod:`mechanisms.registry`;
    other cells than without them, see :func:`compare.grid.cells.build_cells`); a preset adds the
    analyses it is made for (``PRESET_ANALYSES``: science aligns and measures simplicity).
    ValueError (one line) for the first problem."""

    device = check_device_option(device)
    cells, notes = grid_cells(grid, budgets, analyses)
    if len(cells) > CONFIRM_CELLS and not yes:
        raise ValueError(f"the grid has {len(cells):,} cells (more than {CONFIRM_CELLS:,}); pass --yes to "
                         "run them all, or narrow --tasks, --methods, --sizes or --seeds")
    if artefacts is not None:
        artefacts = str(writable_folder(artefacts, "artefacts"))
    workers = local_workers(jobs)
    # The executor is checked before the store is opened, so a bad grid never creates a store.
    executor = make_executor(workers, scheduler, CellOptions(artefacts=artefacts, device=device))
    try:
        results = Store(store)
    except BaseException:
        executor.close()
        raise
    try:
        results.check_writable()
    except BaseException:
        executor.close()
        results.close()
        raise
    return GridRun(cells, notes, results, executor, device)


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
