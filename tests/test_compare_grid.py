"""The grid: size and seed lists, cell keys, presets, and grid-building errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compare.grid import PRESETS, Cell, GridPart, grid_parts, parse_seeds, parse_sizes
from tasks import SpecError


@settings(max_examples=60)
@given(start=st.integers(1, 64), factor=st.sampled_from([2, 3, 4]), count=st.integers(1, 8))
def test_geometric_range_is_every_power(start, factor, count):
    stop = start * factor ** (count - 1)
    assert parse_sizes(f"{start}..{stop}x{factor}") == [start * factor**i for i in range(count)]


@settings(max_examples=60)
@given(start=st.integers(1, 50), stop=st.integers(1, 300), factor=st.floats(1.1, 4.0))
def test_geometric_range_sorted_unique_within_bounds(start, stop, factor):
    if start > stop:
        with pytest.raises(SpecError, match="grid would be empty"):
            parse_sizes(f"{start}..{stop}x{factor:.2f}")
        return
    sizes = parse_sizes(f"{start}..{stop}x{factor:.2f}")
    assert sizes == sorted(set(sizes)) and sizes[0] == start
    assert all(start <= n <= stop for n in sizes)


@settings(max_examples=60)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=8))
def test_seed_list_round_trips(seeds):
    assert parse_seeds(",".join(map(str, seeds))) == sorted(set(seeds))


def test_ranges_and_lists():
    assert parse_sizes("8..64") == [8, 16, 32, 64]  # sizes default to a doubling range
    assert parse_sizes("10..40+10,5") == [5, 10, 20, 30, 40]
    assert parse_seeds("0..4") == [0, 1, 2, 3, 4]
    assert parse_seeds("3") == [3]


@pytest.mark.parametrize(
    "text", ["abc", "8..", "0", "8..64x1", "8..64x0.5", "0..8x2", "4..8+0", "-1", "64..8", ""]
)
def test_bad_sizes_name_the_value(text):
    with pytest.raises(SpecError, match="sizes|size"):
        parse_sizes(text)


@settings(max_examples=40)
@given(st.text("abcmodulr:=,+x0123456789", max_size=12), st.text("abcdefmlp:=,", max_size=8),
       st.integers(1, 10**6), st.integers(0, 10**6))
def test_cell_key_depends_on_every_field(task, spec, n, seed):
    cell = Cell(task, "label", spec, n, seed)
    assert cell.key == Cell(task, "other label", spec, n, seed).key  # the label is not identity
    for other in (Cell(task + "!", "label", spec, n, seed), Cell(task, "label", spec + "!", n, seed),
                  Cell(task, "label", spec, n + 1, seed), Cell(task, "label", spec, n, seed + 1)):
        assert other.key != cell.key


def test_grid_parts_from_options():
    (part,) = grid_parts(None, ["modular:p=7;modular:p=11"], ["a", "b"], "4..16x2", None)
    assert part == GridPart(("modular:p=7", "modular:p=11"), ("a", "b"), (4, 8, 16), (0, 1, 2))
    quick = grid_parts("quick", None, None, None, "5..6")
    assert len(quick) == len(PRESETS["quick"]) and all(p.seeds == (5, 6) for p in quick)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope", None, None, None, None), "unknown preset 'nope'; accepted: quick, paper"),
        (("quick", ["modular"], None, None, None), "either --preset or"),
        ((None, ["modular"], None, "8", None), "missing --methods"),
        ((None, None, None, None, None), "missing --tasks, --methods, --sizes"),
    ],
)
def test_grid_parts_errors(args, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        grid_parts(*args)


def test_paper_preset_includes_the_nanda_grokking_setting():
    tasks = {t for part in PRESETS["paper"] for t in part.tasks}
    assert "modular:op=x+y,p=113" in tasks
    for part in PRESETS["paper"]:
        assert all(isinstance(n, int) and n >= 1 for n in part.sizes)
