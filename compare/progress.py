"""A progress bar for a grid run: cells done of total, failures, elapsed time and ETA.

Drawn on stderr with rich, and only when stderr is a terminal (quiet in pipes, logs and tests).
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class GridProgress:
    """``with GridProgress(total, done) as bar: bar.advance(failed=...)``."""

    def __init__(self, total: int, done: int = 0, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.failed = 0
        self.progress = Progress(
            TextColumn("[bold]cells"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.console.is_terminal,
        )
        self.task = self.progress.add_task("grid", total=total, completed=done, failed=0)

    def advance(self, failed: bool = False) -> None:
        self.failed += failed
        self.progress.update(self.task, advance=1, failed=self.failed)

    def __enter__(self) -> GridProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
