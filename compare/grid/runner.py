"""The coordinator: skip finished cells, group the rest into jobs, hand them to an executor, and
commit each result to the store the moment it comes back.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from compare.grid.cells import Cell
from compare.grid.cost import duration
from compare.grid.executors import Job, make_executor
from compare.grid.jobs import estimate, make_jobs
from compare.grid.plan import DEVICES, check_device_option, check_run
from compare.grid.worker import CellOptions
from compare.methods import Budgets
from compare.progress import GridProgress
from compare.results.store import Store, StoreError, lease_owner

# check_device_option lives with the other checks of a run (compare.grid.plan); callers import it here.
__all__ = ["DEVICES", "GridRun", "RunStopped", "RunSummary", "check_device_option", "prepare_run", "run_grid"]


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

#: Jobs claimed at a time, per worker: a run claims work in rounds, so that a second run started on
#: the same store finds unclaimed jobs to share (claiming every pending cell up front left it none).
#: A few jobs per worker keep every worker busy within a round; the round's last, longest-first
#: ordered jobs are its shortest, so little time is lost waiting for one at the end of a round.
JOBS_PER_WORKER = 4


class RunStopped(Exception):  # noqa: N818 - says what happened to the run, not what kind of bug
    """A run stopped by an OS error: a full disk, a store that cannot be written any more. One line:
    what happened, and that every cell committed before is safe in the store."""


def run_grid(
    cells: Sequence[Cell],
    store: Store,
    executor,
    retry_failed: bool = False,
    batch: bool = True,
    progress: GridProgress | None = None,
    device: str | None = None,
    claim_jobs: int = 8,
) -> RunSummary:
    """Run every cell of ``cells`` not yet in ``store`` (failed ones too when ``retry_failed``).

    The pending cells are grouped into jobs (:func:`compare.grid.jobs.make_jobs`), and claimed in the
    store (a lease) ``claim_jobs`` jobs at a time, just before they run: two runs on one store share
    the work, each running the jobs the other has not claimed. A job another live run holds any cell
    of is left to it. RunStopped (one line) when the store cannot be written (a full disk).
    """
    owner = lease_owner()
    finished = store.finished_keys(include_failed=not retry_failed)
    pending = [cell for cell in cells if cell.key not in finished]
    summary = RunSummary(total=len(cells), skipped=len(cells) - len(pending))
    est = estimate(pending, batch, device)
    queue = make_jobs(pending, batch, device)
    progress = progress or GridProgress(len(cells), summary.skipped, est.total)
    held: set[str] = set()  # keys leased by this run and not yet stored
    try:
        with progress:
            while queue:
                round_, queue = queue[:max(claim_jobs, 1)], queue[max(claim_jobs, 1):]
                jobs = _claim(store, round_, owner, retry_failed, held)
                for job in round_:
                    if job not in jobs:  # another run holds (or has stored) its cells
                        summary.elsewhere += len(job.cells)
                        for cell in job.cells:
                            progress.advance(est.per_cell.get(cell.key, 0.0))
                summary.estimated += sum(est.per_cell.get(c.key, 0.0) for job in jobs for c in job.cells)
                _run_round(jobs, store, executor, owner, summary, progress, est.per_cell, held)
    except (StoreError, OSError) as exc:
        raise RunStopped(_stopped(exc, store, summary)) from None
    finally:
        _release(store, held, owner)
    return summary


def _claim(store: Store, jobs: list[Job], owner: str, retry_failed: bool, held: set[str]) -> list[Job]:
    """Lease the cells of ``jobs`` in one transaction; the jobs whose every cell this run got. A job
    another run holds part of is given back whole: its cells train together (batched learners'
    last digits depend on their stack), so a job is run by one run or by none."""
    keys = [cell.key for job in jobs for cell in job.cells]
    got = set(store.claim(keys, owner, LEASE_SECONDS, include_failed=not retry_failed))
    mine = [job for job in jobs if all(cell.key in got for cell in job.cells)]
    held |= {cell.key for job in mine for cell in job.cells}
    partial = got - held
    if partial:
        store.release(partial, owner)
    return mine


def _run_round(jobs: list[Job], store: Store, executor, owner: str, summary: RunSummary,
               progress: GridProgress, per_cell: dict[str, float], held: set[str]) -> None:
    """Run the claimed ``jobs`` and commit each result the moment it comes back."""
    if not jobs:
        return
    for job, outcome in executor.run(jobs):
        store.renew(owner, LEASE_SECONDS)
        if isinstance(outcome, BaseException):
            summary.lost += len(job.cells)
            summary.lost_reason = f"{type(outcome).__name__}: {outcome}"
            continue
        # Committed now, a whole batch at once: a kill after this line loses nothing of this job.
        store.put_many(list(zip(job.cells, outcome, strict=True)), owner=owner)
        held -= {cell.key for cell in job.cells}
        for cell, result in zip(job.cells, outcome, strict=True):
            summary.ran += 1
            summary.cpu += result.extra.get("cpu_seconds", 0.0)
            summary.failed += result.status != "ok"
            progress.advance(per_cell.get(cell.key, 0.0), failed=result.status != "ok")


def _release(store: Store, held: set[str], owner: str) -> None:
    """Give up this run's leases on the cells it did not store (lost, interrupted), so another run
    may take them at once. Where even that cannot be written (the disk is full) they are left: they
    name this process, so they free themselves when it ends (on another host: when they expire)."""
    if not held:
        return
    try:
        store.release(held, owner)
    except (StoreError, OSError):
        pass


def _stopped(exc: BaseException, store: Store, summary: RunSummary) -> str:
    """The one line of a run stopped by ``exc``."""
    if isinstance(exc, OSError):
        reason = "no space left on the device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        if exc.filename:
            reason += f" ({exc.filename})"
    else:
        reason = str(exc)
    return (f"the run stopped after {summary.ran} cell{'s' * (summary.ran != 1)}: {reason}. Every cell "
            f"committed before is safe in {store.path}; free space (or fix the cause) and run the same "
            "command again to go on")


@dataclass
class GridRun:
    """A grid checked and ready to run: its cells, the notes on skipped pairs, the open store and the
    executor. Everything a user can get wrong has been checked when this exists."""

    cells: list[Cell]
    notes: list[str]
    store: Store
    executor: Any
    device: str | None = None
    workers: int = 1

    def execute(self, retry_failed: bool = False) -> RunSummary:
        """Run the pending cells; the store and executor are closed however it ends (Ctrl-C stops
        the workers at once; every finished cell is already stored). RunStopped (one line) when an OS
        error (a full disk) stops it."""
        try:
            return run_grid(self.cells, self.store, self.executor, retry_failed=retry_failed,
                            device=self.device, claim_jobs=JOBS_PER_WORKER * self.workers)
        except KeyboardInterrupt:
            self.executor.close(abort=True)
            raise
        finally:
            self.executor.close()
            self.store.close()


def prepare_run(grid: dict[str, Any], budgets: Budgets, store: str, jobs: int | None, scheduler: str | None,
                artefacts: str | None, yes: bool = False, device: str | None = None,
                analyses: Sequence[str] = (), threads: int = 1) -> GridRun:
    """Build and check everything ``dlps run`` needs before any cell runs: the grid (``grid``: the
    keyword arguments of :func:`compare.grid.grid_parts`), budgets and parameter ranges, the artefacts
    folder, a writable store, then the executor; a grid of more than ``CONFIRM_CELLS`` cells runs only
    with ``yes``. The checks that start nothing are :func:`compare.grid.plan.check_run`, which the dry
    run makes too. ``analyses``: the opt-in analyses the cells also run (:mod:`mechanisms.registry`;
    other cells than without them, see :func:`compare.grid.cells.build_cells`); a preset adds the
    analyses it is made for (``PRESET_ANALYSES``: science aligns and measures simplicity).
    ``threads``: torch/BLAS threads of each worker (``dlps run --threads``; 1 measured fastest).
    ValueError (one line) for the first problem."""
    checked = check_run(grid, budgets, store, jobs, scheduler, artefacts, yes, device, analyses)
    # The executor is checked before the store is opened, so a bad grid never creates a store.
    executor = make_executor(checked.workers, scheduler, CellOptions(threads, checked.artefacts,
                                                                     checked.device))
    try:
        results = Store(store)
    except BaseException:
        executor.close()
        raise
    return GridRun(checked.cells, checked.notes, results, executor, checked.device, checked.workers)
