"""Running cells: build the task, draw the training split, fit, score on the test and OOD splits.

This is what workers execute; it never touches the store. A cell that raises becomes a failed
:class:`CellResult` holding the error, so one bad cell never stops a grid.
"""

from __future__ import annotations

import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from compare.grid import Cell
from compare.methods import get_method
from compare.store import CellResult
from tasks import Split, Task, accuracy, parse_task


@dataclass(frozen=True)
class CellOptions:
    """How workers run cells: torch threads per cell (1 keeps results identical across executors
    and avoids oversubscribing cores), and where artefacts go (None: not saved)."""

    threads: int = 1
    artefacts: str | None = None


def score(learner: Any, split: Split) -> float:
    """Accuracy of ``learner`` on ``split`` (over the masked positions for per-position targets)."""
    return accuracy(split.y, np.asarray(learner.predict(split.X)), split.mask)


def _failed(exc: BaseException) -> CellResult:
    trace = "".join(traceback.format_exception(exc))
    return CellResult(status="failed", error=f"{type(exc).__name__}: {exc}", extra={"traceback": trace})


def _evaluate(cell: Cell, task: Task, learner: Any, fit_seconds: float, options: CellOptions) -> CellResult:
    """Score a fitted learner on train, test and every OOD split, and collect its own metrics."""
    method, _ = get_method(cell.method_spec)
    result = CellResult(fit_seconds=fit_seconds)
    result.train_accuracy = score(learner, task.train_split(cell.n, cell.seed))
    result.test_accuracy = score(learner, task.test_split())
    for name in task.ood_names:
        # A learner may be unable to read an OOD input (e.g. longer than its context): the cell still
        # counts, with that split's accuracy missing and the reason kept.
        try:
            result.ood[name] = score(learner, task.ood_split(name))
        except Exception as exc:  # noqa: BLE001 - any learner error is recorded, not raised
            result.extra.setdefault("ood_errors", {})[name] = f"{type(exc).__name__}: {exc}"
    for key, value in method.inspect(learner).items():
        setattr(result, key, value)
    if options.artefacts and method.save is not None:
        folder = Path(options.artefacts) / cell.key
        folder.mkdir(parents=True, exist_ok=True)
        result.artefacts = [str(p) for p in method.save(learner, str(folder))]
    return result


def run_cell(cell: Cell, options: CellOptions = CellOptions()) -> CellResult:
    """Fit and score one cell; any exception becomes a failed result."""
    try:
        method, _ = get_method(cell.method_spec)
        task = parse_task(cell.task)
        train = task.train_split(cell.n, cell.seed)
        learner = method.build(cell.method_spec, task, cell.seed)
        start = time.perf_counter()
        method.fit(learner, train, task.test_split())
        seconds = time.perf_counter() - start
        return _evaluate(cell, task, learner, seconds, options)
    except Exception as exc:  # noqa: BLE001 - recorded as a failed cell; the grid goes on
        return _failed(exc)


def run_batch(cells: Sequence[Cell], options: CellOptions) -> list[CellResult]:
    """Fit all ``cells`` (one task, one method spec) in one batched call, then score each.

    If the batched fit raises, each cell is run on its own so that one bad cell fails alone.
    """
    try:
        method, _ = get_method(cells[0].method_spec)
        task = parse_task(cells[0].task)
        start = time.perf_counter()
        learners = method.fit_many(cells[0].method_spec, task, [(c.n, c.seed) for c in cells])
        seconds = (time.perf_counter() - start) / len(cells)
    except Exception:  # noqa: BLE001 - fall back to one cell at a time
        return [run_cell(cell, options) for cell in cells]
    results = []
    for cell, learner in zip(cells, learners, strict=True):
        try:
            result = _evaluate(cell, task, learner, seconds, options)
            result.extra["batched"] = len(cells)
            results.append(result)
        except Exception as exc:  # noqa: BLE001
            results.append(_failed(exc))
    return results


@contextmanager
def torch_threads(threads: int):
    """Run with ``threads`` torch threads, restoring the previous setting after (in-process runs)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_job(cells: Sequence[Cell], batched: bool, options: CellOptions) -> list[CellResult]:
    """A worker's unit: one cell, or the cells of one task and method fitted as a batch.

    Sets the process's torch threads and leaves them set: a worker only runs cells, and restoring
    would race between the threads of a multi-threaded (dask) worker.
    """
    import torch

    torch.set_num_threads(options.threads)
    if batched and len(cells) > 1:
        return _recording_warnings(lambda: run_batch(cells, options))
    return [result for cell in cells for result in _recording_warnings(partial(_one, cell, options))]


def _one(cell: Cell, options: CellOptions) -> list[CellResult]:
    return [run_cell(cell, options)]


def _recording_warnings(work: Callable[[], list[CellResult]]) -> list[CellResult]:
    """Run ``work`` with warnings kept in each result's ``extra["warnings"]`` instead of printed
    (workers' warnings would tear through the progress bar)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = work()
    messages = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    if messages:
        for result in results:
            result.extra["warnings"] = messages[:10]
    return results
