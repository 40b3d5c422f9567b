"""Progress bars: a grid run's (cells done of total, failures, elapsed time, ETA by estimated
work), and one training's (step, loss, test accuracy, ETA) with spinners for the analyses after it.

Drawn on stderr with rich, and only when stderr is a terminal (quiet in pipes, logs and tests).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


def eta_seconds(work: float, completed: float, elapsed: float, prior_rate: float | None,
                weight: float) -> float | None:
    """Seconds left of ``work`` units with ``completed`` done after ``elapsed`` seconds: the remaining
    work over a speed that starts at the cost model's (``prior_rate`` units a second, counted as
    ``weight`` seconds of evidence) and moves to the measured one as the run goes on.

    Never negative; computed from the clock at each call, so it is never stale: while nothing comes
    back the measured speed falls and the ETA grows instead of sitting at a number. None only
    without a prior and before any work is done (nothing to go by)."""
    remaining = max(work - completed, 0.0)
    if remaining == 0.0:
        return 0.0
    prior = prior_rate if prior_rate and prior_rate > 0 else 0.0
    done, seconds = max(completed, 0.0) + prior * weight, max(elapsed, 0.0) + (weight if prior else 0.0)
    if done <= 0.0 or seconds <= 0.0:
        return None
    return remaining * seconds / done


def clock(seconds: float | None) -> str:
    """``h:mm:ss``, or ``-:--:--`` for an unknown time."""
    if seconds is None:
        return "-:--:--"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class _Eta(ProgressColumn):
    """``ETA h:mm:ss`` from ``eta(task)`` at every redraw; nothing for a task without a total (a
    spinner: work of unknown length has no ETA to show, not an empty one)."""

    def __init__(self, eta) -> None:
        super().__init__()
        self.eta = eta

    def render(self, task: Task) -> Text:
        if task.total is None or task.fields.get("spinner"):
            return Text("")
        return Text(f"ETA {clock(self.eta(task))}")


class GridProgress:
    """``with GridProgress(total, done, work) as bar: bar.advance(seconds, failed=...)``.

    The bar and its ETA follow the estimated work (CPU seconds of the cells to run, from
    :mod:`compare.grid.cost`), not the count of cells: the costliest jobs run first, and one network cell
    can cost what thousands of lookup cells do, so an ETA by cells would start far too long and end
    far too short. The ETA blends the cost model's speed with the speed measured in this run
    (:func:`eta_seconds`), so a machine slower or faster than the model's shows in the ETA, not in the bar."""

    def __init__(
        self, total: int, done: int = 0, work: float | None = None, console: Console | None = None,
        workers: int | None = None,
    ) -> None:
        self.console = console or Console(stderr=True)
        self.failed = 0
        self.cells = done
        self.total_cells = total
        # The cost model's speed: ``workers`` CPU seconds of estimated work per second (default one
        # worker per core, as dlps run's --jobs); none without an estimate (cells are then the unit).
        self.prior_rate = None if work is None else float(workers or os.cpu_count() or 1)
        self.work = float(max(total - done, 0) if work is None else work)
        self.started = time.perf_counter()
        self._reported = 0  # tenths of the work reported on a pipe
        self.progress = Progress(
            TextColumn("[bold]cells"),
            BarColumn(),
            TextColumn("{task.fields[cells]}/{task.fields[total_cells]}"),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            _Eta(lambda task: self.eta()),
            console=self.console,
            disable=not self.console.is_terminal,
        )
        # Without an estimate every cell to run counts as one unit of work.
        self.task = self.progress.add_task(
            "grid", total=self.work, completed=0, cells=done, total_cells=total, failed=0,
        )

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left (:func:`eta_seconds`): the cost model's speed weighs as :data:`PRIOR_SHARE` of
        the run's estimated wall time, then the measured speed takes over."""
        elapsed = (time.perf_counter() if now is None else now) - self.started
        weight = PRIOR_SHARE * self.work / self.prior_rate if self.prior_rate else 0.0
        return eta_seconds(self.work, self.completed, elapsed, self.prior_rate, weight)

    def advance(self, seconds: float = 1.0, failed: bool = False) -> None:
        """One cell came back; ``seconds``: its share of the estimated work."""
        self.failed += failed
        self.cells += 1
        self.progress.update(self.task, advance=seconds, cells=self.cells, failed=self.failed)
        tenths = int(10 * self.completed / self.work) if self.work > 0 else 10
        elapsed = time.perf_counter() - self.started
        if not self.console.is_terminal and tenths > self._reported and elapsed >= PIPE_DELAY:
            self._reported = tenths  # a pipe or a log: one line a tenth of the work, in long runs only
            self.console.print(f"dlps: cells {self.cells}/{self.total_cells} ({min(tenths, 10) * 10}% of the "
                               f"estimated work), {self.failed} failed, {clock(elapsed)} elapsed, "
                               f"ETA {clock(self.eta())}", highlight=False, soft_wrap=True)

    @property
    def completed(self) -> float:
        """The estimated work of the cells that came back."""
        return self.progress.tasks[0].completed

    def __enter__(self) -> GridProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


#: How much the cost model's speed counts in the grid's ETA, as a share of the run's estimated wall
#: time: the costliest jobs run first and come back in lumps minutes apart, so the speed measured
#: from the first lumps alone gave ``-:--:--`` and then ``0:00:01`` (issue 28); half the estimate's
#: time of evidence steadies it until the run has measured more than that.
PRIOR_SHARE = 0.5


#: A single training or analysis shows its bar only once it has run this long (seconds): a quick
#: command prints its result without a flash of a bar.
DELAY = 2.0
#: On a pipe or in a log (stderr not a terminal) a finished stage, or a tenth of a grid's work, gets
#: one line on stderr once it has taken this long (seconds): the commands that can take longer say
#: where they are, and a quick one's output stays its result alone.
PIPE_DELAY = 5.0


class FitProgress:
    """Progress of one command's work on stderr, stage by stage: a training bar (step of steps, train
    loss, test accuracy, ETA from the steps done and the time they took) and a spinner with elapsed
    time for each later stage (an analysis, an alignment, the report).

    Drawn only when stderr is a terminal, or when ``force``, and only after ``delay`` seconds of work.
    On a pipe or in a log, each finished stage that took at least ``pipe_delay`` seconds is one line
    on stderr instead."""

    def __init__(self, console: Console | None = None, force: bool = False, delay: float | None = None,
                 pipe_delay: float | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = force or self.console.is_terminal
        self.delay = DELAY if delay is None else delay
        self.pipe_delay = PIPE_DELAY if pipe_delay is None else pipe_delay
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            _Eta(_steps_left),
            console=self.console,
            transient=False,
        )
        self._started = False
        self._begun = 0.0
        self._task: Any = None
        self._last = 0.0

    def _show(self) -> bool:
        """True once the bar is drawn (started lazily, after ``delay`` seconds)."""
        if not self.enabled:
            return False
        if not self._started and time.perf_counter() - self._begun >= self.delay:
            self.progress.start()
            self._started = True
        return self._started

    @contextmanager
    def training(self, steps: int) -> Iterator[dict[str, Callable]]:
        """The ``fit`` keywords (``progress``, ``tick``) that drive a bar over ``steps`` steps."""
        self._begun = time.perf_counter()
        self._task = self.progress.add_task("training", total=max(steps, 1), detail="")
        fields: dict[str, str] = {}

        def tick(done: int) -> None:
            now = time.perf_counter()
            if now - self._last < 0.1 and done < steps:  # rich redraws 10 times a second anyway
                return
            self._last = now
            if self._show():
                self.progress.update(self._task, completed=done, detail=_detail(done, steps, fields))

        def report(step: int, metrics: dict[str, float]) -> None:
            for key, label in (("train_loss", "loss"), ("test_acc", "test acc")):
                if key in metrics and metrics[key] is not None:
                    fields[label] = f"{metrics[key]:.4f}" if key == "test_acc" else f"{metrics[key]:.3g}"
            self._last = 0.0
            tick(step)

        try:
            yield {"progress": report, "tick": tick}
        finally:
            if self._started:
                self.progress.update(self._task, completed=max(steps, 1))
            self._finished("training", self._begun, _detail(steps, steps, fields))

    @contextmanager
    def phase(self, description: str) -> Iterator[None]:
        """A spinner with elapsed time while ``description`` runs (work of unknown length: no ETA)."""
        self._begun = begun = time.perf_counter()
        task = self.progress.add_task(description, total=None, detail="", spinner=True)
        stop = threading.Event()

        def show_later() -> None:  # the work itself cannot call back: start the spinner from here
            if not stop.wait(self.delay):
                self._show()

        watcher = threading.Thread(target=show_later, daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()
            self.progress.update(task, total=1, completed=1)
            self._finished(description, begun)

    #: A stage of work of unknown length (the name the grid and the workflow use).
    stage = phase

    def _finished(self, stage: str, begun: float, detail: str = "") -> None:
        """One line on a pipe for a finished stage that took ``pipe_delay`` seconds or more."""
        seconds = time.perf_counter() - begun
        if self.console.is_terminal or seconds < self.pipe_delay:
            return
        self.console.print(f"dlps: {stage} done in {clock(seconds)}" + (f" ({detail})" if detail else ""),
                           highlight=False, soft_wrap=True)

    def __enter__(self) -> FitProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self.progress.stop()


def _detail(done: int, steps: int, fields: dict[str, str]) -> str:
    return "  ".join([f"step {done:,}/{steps:,}"] + [f"{k} {v}" for k, v in fields.items()])


def _steps_left(task: Task) -> float | None:
    """A training's ETA: the steps left at the speed of the steps done so far, from the clock at each
    redraw (rich's own estimate holds its last value between updates)."""
    if not task.completed or task.total is None or task.start_time is None:
        return None
    elapsed = (task.stop_time or task.get_time()) - task.start_time
    return max(task.total - task.completed, 0) * elapsed / task.completed
