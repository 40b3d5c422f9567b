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


# --- the ETA from the cost model and the work done (issue 28 item 3) ------------------------------

from compare.progress import PRIOR_SHARE, clock, eta_seconds  # noqa: E402


def quick_eta(completed: float, elapsed: float, work: float = 150.0, workers: int = 2) -> float | None:
    return eta_seconds(work, completed, elapsed, workers, PRIOR_SHARE * work / workers)


def test_the_eta_starts_at_the_cost_models_and_never_shows_no_value_or_a_flash_of_zero():
    """The quick preset showed -:--:-- for 96 s, then 0:00:01 after its first lump of cells came back,
    then 10-24 s while 1.5 min remained."""
    assert quick_eta(0.0, 0.0) == pytest.approx(75.0)  # 150 s of CPU on 2 workers
    waiting = [quick_eta(0.0, t) for t in (0.0, 30.0, 60.0, 96.0)]
    assert all(w is not None for w in waiting) and waiting == sorted(waiting)  # grows: never stale
    after_lump = quick_eta(60.0, 96.0)  # 40% of the work came back at once after 96 s
    assert after_lump > 30.0  # not 0:00:01: 60% of the work is left


@settings(max_examples=200, deadline=None)
@given(work=st.floats(0.0, 1e5), share=st.floats(0.0, 1.5), elapsed=st.floats(0.0, 1e5),
       workers=st.integers(1, 64))
def test_the_eta_is_never_negative_and_zero_when_all_is_done(work, share, elapsed, workers):
    eta = eta_seconds(work, share * work, elapsed, workers, PRIOR_SHARE * work / workers)
    assert eta is None or eta >= 0.0
    if share >= 1.0:
        assert eta == 0.0


def test_the_bar_shows_an_eta_before_any_cell_comes_back():
    out = io.StringIO()
    screen = Console(file=out, force_terminal=True, width=160, color_system=None)
    with GridProgress(10, 0, 120.0, console=screen, workers=2) as bar:
        bar.progress.refresh()
    assert "ETA 0:01:00" in out.getvalue() and "-:--:--" not in out.getvalue()
    assert clock(None) == "-:--:--" and clock(3725.4) == "1:02:05"


def test_on_a_pipe_the_grid_says_each_tenth_of_its_work(monkeypatch):
    import compare.progress

    monkeypatch.setattr(compare.progress, "PIPE_DELAY", 0.0)
    out = io.StringIO()
    pipe = Console(file=out, force_terminal=False, width=200)
    with GridProgress(4, 0, 4.0, console=pipe, workers=1) as bar:
        for _ in range(4):
            bar.advance(1.0)
    lines = out.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"dlps: cells {k}/4" for k in (1, 2, 3, 4)]
    assert "(100% of the estimated work), 0 failed" in lines[-1] and lines[-1].endswith("ETA 0:00:00")
