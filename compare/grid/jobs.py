"""Jobs and their estimates: the runner's units of work (one cell, or the cells of one task and
method fitted as one batched stack), ordered longest first, and what a set of cells is estimated to
cost in CPU seconds as those jobs (the dry run's figures and the progress bar's work)."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from baselines.batched import plan_stacks, stack_overhead
from compare.grid.cells import Cell
from compare.grid.cost import cell_seconds, constants, network_job_seconds, network_shape
from compare.grid.executors import Job
from compare.grid.worker import batchable
from compare.methods import learner_class
from tasks import parse_task
from tasks.spec import split_spec


@dataclass
class Estimate:
    """Estimated CPU seconds per (task, method label) and per job (the runner's unit of work)."""
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)
    cells: dict[tuple[str, str], int] = field(default_factory=dict)
    jobs: list[float] = field(default_factory=list)
    #: CPU seconds per (task, method label) if every synthesizer cell spends its whole budget (the
    #: same as ``seconds`` for every other method; ``inf`` where no budget caps a search)
    spent: dict[tuple[str, str], float] = field(default_factory=dict)
    #: CPU seconds per cell key: its share of its job's
    per_cell: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    @property
    def total_spent(self) -> float:
        return sum(self.spent.values())

    def wall(self, workers: int) -> float:
        """Wall seconds on ``workers`` processes: each job, longest first, goes to the worker that
        is free first (as a process pool hands them out), plus a worker's start-up."""
        if not self.jobs:
            return 0.0
        free = [0.0] * max(workers, 1)
        for seconds in sorted(self.jobs, reverse=True):
            heapq.heapreplace(free, free[0] + seconds)
        return max(free) + constants()["worker_start"]


def make_jobs(cells: Sequence[Cell], batch: bool = True, device: str | None = None) -> list[Job]:
    """One job per cell, except that the cells of one task and method spec that can be fitted
    together form batched jobs: one per stack that training would form anyway
    (:func:`baselines.batched.plan_stacks`), so that one method's stacks run on different workers
    side by side. Longest first by the cost model (:mod:`compare.grid.cost`), so that no long job comes
    last while the other workers wait. ``device``: where the networks train (None: their specs'
    device; on a GPU a method's models form one stack)."""
    groups: dict[tuple[str, str], list[Cell]] = {}
    jobs = []
    for cell in cells:
        if batch and batchable(cell):
            groups.setdefault((cell.task, cell.method_spec), []).append(cell)
        else:
            jobs.append(Job((cell,)))
    for (task, spec), group in groups.items():
        shape = network_shape(task, spec)
        overhead = stack_overhead(device or shape.device)
        stacks = plan_stacks([c.n for c in group], shape.batch_size, None, overhead, shape.tokens_per_row)
        jobs += [Job(tuple(group[i] for i in stack), batched=True) for stack in stacks]
    return sorted(jobs, key=lambda job: (-job_seconds(job), -max(cell.n for cell in job.cells)))


@cache
def _job_costs(cells: tuple[Cell, ...], batched: bool) -> tuple[float, float]:
    """CPU seconds of one job: estimated, and if its synthesizer cells spend their whole budgets
    (the same for every other learner)."""
    first = cells[0]
    task = parse_task(first.task)
    method = learner_class(split_spec(first.method_spec)[0]).method_name
    job = constants()["job"]
    if learner_class(method).has_model:
        seconds = network_job_seconds(cells, len(task.test_split()))
        return seconds + job, seconds + job
    typical = sum(cell_seconds(cell, task, method) for cell in cells)
    spent = sum(cell_seconds(cell, task, method, spent=True) for cell in cells)
    return typical + job, spent + job


def job_seconds(job: Any) -> float:
    """The estimated CPU seconds of one job (:class:`compare.executors.Job`)."""
    return _job_costs(job.cells, job.batched)[0]


def estimate(cells: Sequence[Cell], batch: bool = True, device: str | None = None) -> Estimate:
    """The estimated CPU seconds of running ``cells``, grouped into jobs as the runner groups them
    (for networks on ``device``; the constants are the CPU's, so on a GPU this is what the same
    work would cost on this machine's CPU), and what they cost if every synthesizer cell spends its
    whole budget (``spent``)."""
    out = Estimate(seconds=defaultdict(float), cells=defaultdict(int), spent=defaultdict(float))
    for job in make_jobs(cells, batch, device):
        seconds, spent = _job_costs(job.cells, job.batched)
        out.jobs.append(seconds)
        for cell in job.cells:
            out.seconds[(cell.task, cell.method)] += seconds / len(job.cells)
            out.per_cell[cell.key] = seconds / len(job.cells)
            out.spent[(cell.task, cell.method)] += spent / len(job.cells)
            out.cells[(cell.task, cell.method)] += 1
    out.seconds, out.cells, out.spent = dict(out.seconds), dict(out.cells), dict(out.spent)
    return out
