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

from baselines.checkpoints import checkpoint_settings
from compare.evaluate import evaluation_splits, fit_and_score
from compare.grid.cells import Cell
from compare.methods import build, learner_class
from compare.results.store import CellResult
from compare.workflow import analyse_cell, save_network, uses_checkpoints
from tasks import parse_task
from tasks.spec import split_spec


@dataclass(frozen=True)
class CellOptions:
    """How workers run cells: torch threads per cell (1 keeps results identical across executors
    and avoids oversubscribing cores), and where artefacts go (None: not saved)."""

    threads: int = 1
    artefacts: str | None = None
    device: str | None = None  # networks train here (None: each spec's own device, "auto" by default)


def _failed(exc: BaseException) -> CellResult:
    trace = "".join(traceback.format_exception(exc))
    return CellResult(status="failed", error=f"{type(exc).__name__}: {exc}", extra={"traceback": trace})


def _build(cell: Cell, task: Any, options: CellOptions) -> Any:
    """The cell's learner; networks keep the default checkpoints when they are saved (artefacts) or
    when one of the cell's analyses reads them (checkpoints change what is kept, never what is
    learned)."""
    learner = build(cell.method_spec, task, cell.seed)
    if learner.has_model and options.device is not None:  # where, not what: the cell's key stays
        learner.set_params(device=options.device)
    if learner.has_model and (options.artefacts or uses_checkpoints(learner, task, cell.stamps)):
        learner.set_params(**checkpoint_settings(learner.steps))
    return learner


def _result(
    cell: Cell, task: Any, learner: Any, fit_seconds: float | None, options: CellOptions
) -> CellResult:
    """Score a learner (fitted already when ``fit_seconds`` is given) with the one evaluator, run the
    cell's analyses (:func:`compare.workflow.analyse_cell`) and save its network where artefacts are
    kept."""
    train = task.train_split(cell.n, cell.seed)
    # Networks log only the test split while training, as in a batched job (run_batch), so that
    # both give the same history.
    evaluation = fit_and_score(learner, train, evaluation_splits(task), fitted=fit_seconds is not None,
                               seconds=fit_seconds or 0.0, log=("test",))
    acc, summary = evaluation.accuracy, evaluation.summary
    result = CellResult(fit_seconds=evaluation.seconds, train_accuracy=acc["train"],
                        test_accuracy=acc["test"])
    result.ood = {name: acc[name] for name in task.ood_names if acc.get(name) is not None}
    if evaluation.errors:
        result.extra["ood_errors"] = evaluation.errors
    result.program, result.bits = summary.get("program"), summary.get("bits")
    result.search = summary.get("search", {})
    if "first_step" in summary:
        result.steps_fit = summary["first_step"].get("train")
        result.steps_generalize = summary["first_step"].get("test")
        result.extra |= {"stopped_step": summary["steps"], "history": learner.history_}
    if learner.has_model and options.device is not None:  # scored on its device; analysed on the CPU
        learner.model_.cpu()
        learner.set_params(device="cpu")
    metrics, seconds = analyse_cell(learner, task, train, cell.seed, cell.stamps)
    result.metrics |= metrics
    result.extra |= seconds
    if learner.has_model and options.artefacts:
        meta = {"task": cell.task, "method": cell.method_spec, "n": cell.n, "seed": cell.seed}
        result.artefacts = save_network(learner, Path(options.artefacts) / cell.key, meta)
    return result


def run_cell(cell: Cell, options: CellOptions = CellOptions()) -> CellResult:
    """Fit and score one cell; any exception becomes a failed result."""
    try:
        task = parse_task(cell.task)
        return _result(cell, task, _build(cell, task, options), None, options)
    except Exception as exc:  # noqa: BLE001 - recorded as a failed cell; the grid goes on
        return _failed(exc)


def batchable(cell: Cell) -> bool:
    """True when the cells of this cell's method spec can be fitted as one batched job."""
    return learner_class(split_spec(cell.method_spec)[0]).batchable


def run_batch(cells: Sequence[Cell], options: CellOptions) -> list[CellResult]:
    """Fit all ``cells`` (one task, one method spec) in one batched call, then score each.

    If the batched fit raises, each cell is run on its own so that one bad cell fails alone.
    """
    from baselines import fit_many

    try:
        task = parse_task(cells[0].task)
        template = _build(cells[0], task, options)
        start = time.perf_counter()
        datasets = [task.train_split(c.n, c.seed) for c in cells]
        learners = fit_many(template, datasets, seeds=[c.seed for c in cells],
                            eval_sets={"test": task.test_split()})
        seconds = (time.perf_counter() - start) / len(cells)
    except Exception:  # noqa: BLE001 - fall back to one cell at a time
        return [run_cell(cell, options) for cell in cells]
    results = []
    for cell, learner in zip(cells, learners, strict=True):
        try:
            result = _result(cell, task, learner, seconds, options)
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

    from baselines.allocator import keep_freed_memory

    torch.set_num_threads(options.threads)
    keep_freed_memory()  # searches and training free and reallocate big arrays: keep them in the process
    start = time.thread_time()  # this thread's CPU time: what the cost model (compare/grid/cost.py) estimates
    if batched and len(cells) > 1:
        results = _recording_warnings(lambda: run_batch(cells, options))
    else:
        results = [result for cell in cells for result in _recording_warnings(partial(_one, cell, options))]
    share = round((time.thread_time() - start) / max(len(results), 1), 4)
    for result in results:
        result.extra["cpu_seconds"] = share
    return results


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
