"""Progress bars: a grid run's (cells done of total, failures, elapsed time, ETA by estimated
work), and one training's (step, loss, test accuracy, ETA) with spinners for the analyses after it.

Drawn on stderr with rich, and only when stderr is a terminal (quiet in pipes, logs and tests).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class GridProgress:
    """``with GridProgress(total, done, work) as bar: bar.advance(seconds, failed=...)``.

    The bar and its ETA follow the estimated work (CPU seconds of the cells to run, from
    :mod:`compare.grid.cost`), not the count of cells: the costliest jobs run first, and one network cell
    can cost what thousands of lookup cells do, so an ETA by cells would start far too long and end
    far too short. The speed is measured over :data:`SPEED_WINDOW` seconds of this run, so a machine
    slower or faster than the cost model's shows in the ETA, not in the bar."""

    def __init__(
        self, total: int, done: int = 0, work: float | None = None, console: Console | None = None
    ) -> None:
        self.console = console or Console(stderr=True)
        self.failed = 0
        self.cells = done
        self.progress = Progress(
            TextColumn("[bold]cells"),
            BarColumn(),
            TextColumn("{task.fields[cells]}/{task.fields[total_cells]}"),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.console.is_terminal,
            speed_estimate_period=SPEED_WINDOW,
        )
        # Without an estimate every cell to run counts as one unit of work.
        self.task = self.progress.add_task(
            "grid", total=max(total - done, 0) if work is None else work, completed=0,
            cells=done, total_cells=total, failed=0,
        )

    def advance(self, seconds: float = 1.0, failed: bool = False) -> None:
        """One cell came back; ``seconds``: its share of the estimated work."""
        self.failed += failed
        self.cells += 1
        self.progress.update(self.task, advance=seconds, cells=self.cells, failed=self.failed)

    @property
    def completed(self) -> float:
        """The estimated work of the cells that came back."""
        return self.progress.tasks[0].completed

    def __enter__(self) -> GridProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


#: Seconds of a run over which the grid bar measures its speed (rich's default, 30 s, sees no
#: progress at all while the first stacks of networks train, minutes each).
SPEED_WINDOW = 900.0


#: A single training or analysis shows its bar only once it has run this long (seconds): a quick
#: command prints its result without a flash of a bar.
DELAY = 2.0


class FitProgress:
    """Progress of one command's work on stderr: a training bar (step of steps, train loss, test
    accuracy, ETA) and spinners for later phases (mechanism analysis).

    Drawn only when stderr is a terminal, or when ``force`` (nothing in pipes, logs and tests), and
    only after ``delay`` seconds of work."""

    def __init__(self, console: Console | None = None, force: bool = False, delay: float = DELAY) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = force or self.console.is_terminal
        self.delay = delay
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
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

    @contextmanager
    def phase(self, description: str) -> Iterator[None]:
        """A spinner with elapsed time while ``description`` runs (work of unknown length)."""
        self._begun = time.perf_counter()
        task = self.progress.add_task(description, total=None, detail="")
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

    def __enter__(self) -> FitProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            self.progress.stop()


def _detail(done: int, steps: int, fields: dict[str, str]) -> str:
    return "  ".join([f"step {done:,}/{steps:,}"] + [f"{k} {v}" for k, v in fields.items()])
