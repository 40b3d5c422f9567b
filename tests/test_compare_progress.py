"""The grid's progress bar: it follows the estimated work of the cells that came back, not their count."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from compare.grid.cells import GridPart, build_cells
from compare.grid.executors import InProcessExecutor
from compare.grid.jobs import estimate
from compare.grid.runner import run_grid
from compare.progress import GridProgress
from compare.results.store import Store


def quiet() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=120)


@settings(max_examples=30, deadline=None)
@given(shares=st.lists(st.floats(0.0, 1e4), min_size=1, max_size=20), done=st.integers(0, 50))
def test_the_bar_counts_cells_and_sums_their_work(shares, done):
    total = done + len(shares)
    with GridProgress(total, done, sum(shares), console=quiet()) as bar:
        for i, seconds in enumerate(shares):
            bar.advance(seconds, failed=i % 2 == 1)
    assert bar.cells == total and bar.failed == len(shares) // 2
    assert bar.completed == pytest.approx(sum(shares))
    assert bar.progress.tasks[0].total == pytest.approx(sum(shares))


def test_without_an_estimate_each_cell_to_run_is_one_unit():
    with GridProgress(5, 2, console=quiet()) as bar:
        bar.advance()
    assert bar.progress.tasks[0].total == 3 and bar.completed == 1 and bar.cells == 3


class Recording(GridProgress):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs, console=quiet())
        self.shares: list[float] = []

    def advance(self, seconds: float = 1.0, failed: bool = False) -> None:
        self.shares.append(seconds)
        super().advance(seconds, failed)


def test_a_run_advances_the_bar_by_each_cells_estimated_work(tmp_path):
    net = "transformer:steps=10,d_model=16,d_mlp=32,n_heads=2"
    parts = [GridPart(("modular:p=7",), (net, "lookup"), (4, 8), (0, 1))]
    cells = build_cells(parts)[0]
    est = estimate(cells)
    bar = Recording(len(cells), 0, est.total)
    with Store(str(tmp_path / "s.sqlite")) as store:
        summary = run_grid(cells, store, InProcessExecutor(), progress=bar)
    assert summary.ran == len(cells) == len(bar.shares) == 8
    assert sorted(bar.shares) == pytest.approx(sorted(est.per_cell[c.key] for c in cells))
    assert bar.completed == pytest.approx(est.total)
    assert len(set(bar.shares)) > 1  # cells are weighed by their work, not counted alike
