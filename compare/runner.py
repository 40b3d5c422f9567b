"""The coordinator: skip finished cells, group the rest into jobs, hand them to an executor, and
commit each result to the store the moment it comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from compare.executors import Job
from compare.grid import Cell
from compare.methods import get_method
from compare.progress import GridProgress
from compare.store import Store


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

    def line(self) -> str:
        text = (f"{self.total} cells: {self.skipped} already in the store, {self.ran} run, "
                f"{self.failed} failed")
        if self.lost:
            text += f", {self.lost} lost ({self.lost_reason}); run again to retry them"
        return text


def make_jobs(cells: Sequence[Cell], batch: bool = True) -> list[Job]:
    """One job per cell, except that the cells of one task and method spec form one batched job when
    the method can fit many at once. Larger n first, so that the longest jobs do not come last."""
    groups: dict[tuple[str, str], list[Cell]] = {}
    jobs = []
    for cell in cells:
        method, _ = get_method(cell.method_spec)
        if batch and method.fit_many is not None:
            groups.setdefault((cell.task, cell.method_spec), []).append(cell)
        else:
            jobs.append(Job((cell,)))
    jobs += [Job(tuple(group), batched=True) for group in groups.values()]
    return sorted(jobs, key=lambda job: -max(cell.n for cell in job.cells))


def run_grid(
    cells: Sequence[Cell],
    store: Store,
    executor,
    retry_failed: bool = False,
    batch: bool = True,
    progress: GridProgress | None = None,
) -> RunSummary:
    """Run every cell of ``cells`` not yet in ``store`` (failed ones too when ``retry_failed``)."""
    finished = store.finished_keys(include_failed=not retry_failed)
    pending = [cell for cell in cells if cell.key not in finished]
    summary = RunSummary(total=len(cells), skipped=len(cells) - len(pending))
    progress = progress or GridProgress(len(cells), summary.skipped)
    with progress:
        for job, outcome in executor.run(make_jobs(pending, batch)):
            if isinstance(outcome, BaseException):
                summary.lost += len(job.cells)
                summary.lost_reason = f"{type(outcome).__name__}: {outcome}"
                continue
            # Committed now, a whole batch at once: a kill after this line loses nothing of this job.
            store.put_many(list(zip(job.cells, outcome, strict=True)))
            for result in outcome:
                summary.ran += 1
                summary.failed += result.status != "ok"
                progress.advance(failed=result.status != "ok")
    return summary
