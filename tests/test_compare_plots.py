"""Plots: one PNG per task, and file names that never collide and always fit a file system."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compare.grid.cells import Cell
from compare.results.plots import file_name, plot_summaries
from compare.results.store import CellResult, Row
from compare.results.tables import summarize

PNG = b"\x89PNG\r\n\x1a\n"


def rows(task: str) -> list[Row]:
    out = []
    for n in (2, 4, 8):
        for seed in range(2):
            cell = Cell(task, "lookup", "lookup", n, seed)
            result = CellResult(test_accuracy=n / 8, ood={"longer": 0.5})
            out.append(Row(cell=cell, result=result, key=cell.key))
    return out


def test_specs_the_slug_cannot_tell_apart_get_their_own_files(tmp_path):
    # Both are in the paper preset; the readable part of their names is the same.
    tasks = ["modular:op=x*y,p=113", "modular:op=x/y,p=113"]
    assert file_name(tasks[0]) != file_name(tasks[1])
    assert all(file_name(t).startswith("modular_op=x_y_p=113-") for t in tasks)
    paths = plot_summaries(summarize([r for t in tasks for r in rows(t)]), tmp_path / "plots")
    assert len(paths) == 2 and len(set(paths)) == 2
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(file_name(t) for t in tasks)
    assert all(p.read_bytes()[:8] == PNG for p in paths)


def test_a_spec_longer_than_a_file_name_can_be_plotted(tmp_path):
    task = "examples:train=" + "/very/long/folder" * 20 + "/train.jsonl"
    assert len(task) > 255
    (path,) = plot_summaries(summarize(rows(task)), tmp_path)
    assert path.read_bytes()[:8] == PNG and len(path.name) <= 120


@settings(max_examples=200)
@given(st.lists(st.text(min_size=0, max_size=400), min_size=2, max_size=2, unique=True))
def test_file_names_are_injective_bounded_and_plain(tasks):
    names = [file_name(t) for t in tasks]
    assert names[0] != names[1]
    for name in names:
        assert len(name.encode()) <= 120 and name.endswith(".png") and not name.startswith(".")
        assert "/" not in name and "\0" not in name


@pytest.mark.parametrize(("task", "slug"), [
    ("modular:op=x/y if y odd else x-y,p=97", "modular_op=x_y_if_y_odd_else_x-y_p=97"),
    ("brackets:kind=dyck1", "brackets_kind=dyck1"),
    ("../..", "task"),
])
def test_file_names_stay_readable(task, slug):
    assert file_name(task).rsplit("-", 1)[0] == slug
