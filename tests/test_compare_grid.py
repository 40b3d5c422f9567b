"""The grid: size and seed lists, cell keys, presets, and grid-building errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baselines.classic import LookupTableLearner
from compare.grid.cells import Cell, GridPart, build_cells
from compare.grid.plan import grid_parts
from compare.grid.ranges import parse_seeds, parse_sizes
from compare.settings.presets import PRESETS
from tasks import SpecError
from tasks.learners import LEARNERS, NotApplicable, register_learner
from tasks.spec import split_specs


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
        (("nope", None, None, None, None), "unknown preset 'nope'; accepted: quick, science, paper"),
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


class OnlyFixedWidth(LookupTableLearner):
    """A toy learner that takes operands only (no padded sequences)."""

    @classmethod
    def data_params(cls, split, params):
        if split.pad_id is not None:
            raise NotApplicable("it takes operands only")
        return super().data_params(split, params)


def test_a_method_that_does_not_apply_stops_a_grid_or_is_skipped_with_a_note():
    register_learner("modonly")(OnlyFixedWidth)
    try:
        part = GridPart(("modular:p=7", "brackets"), ("modonly", "lookup"), (2, 4), (0,))
        with pytest.raises(NotApplicable, match="'modonly' does not apply to task 'brackets:kind=dyck1"):
            build_cells([part])
        cells, notes = build_cells([part], skip_unfit=True)
        assert len(cells) == 6 and {c.method for c in cells if c.task.startswith("brackets")} == {"lookup"}
        assert notes == [f"skipped: method 'modonly' does not apply to task {cells[-1].task!r}: "
                         "it takes operands only"]
    finally:
        del LEARNERS["modonly"]


def test_the_mlp_on_per_position_targets_stops_a_grid_before_any_cell_runs():
    task = "induction:d_vocab=16,seq_len=8,min_seg=2,max_seg=3,ood_len=16"
    part = GridPart((task,), ("mlp", "lookup"), (4,), (0,))
    with pytest.raises(NotApplicable, match="'mlp' does not apply to task 'induction:.*causal sequence"):
        build_cells([part])
    cells, notes = build_cells([part], skip_unfit=True)
    assert [c.method for c in cells] == ["lookup"] and len(notes) == 1


def test_bare_method_names_may_be_separated_by_commas():
    assert split_specs(["lookup,synth"]) == ("lookup", "synth")
    assert split_specs(["mlp:d_mlp=8,lr=0.1;lookup"]) == ("mlp:d_mlp=8,lr=0.1", "lookup")


def test_a_changed_dsl_weight_or_primitive_gives_new_cell_keys(monkeypatch):
    from synth import dsl_arith

    part = GridPart(("modular:p=7",), ("synth", "synth:weights=(add=2)"), (2,), (0,))
    cells, _ = build_cells([part])
    assert len({c.key for c in cells}) == 2 and len({c.fingerprint for c in cells}) == 2
    before = {c.method_spec: c.key for c in cells}
    original = dsl_arith.ArithDSL.build_primitives

    def changed(self):  # the same names and types, other semantics for one primitive
        prims = list(original(self))
        i = next(i for i, p in enumerate(prims) if p.name == "sub")
        prims[i] = type(prims[i])("sub", prims[i].args, prims[i].ret, lambda a, b: (b - a) % self.p)
        return tuple(prims)

    monkeypatch.setattr(dsl_arith.ArithDSL, "build_primitives", changed)
    after = {c.method_spec: c.key for c in build_cells([part])[0]}
    assert before.keys() == after.keys() and all(before[k] != after[k] for k in before)


def test_cells_use_canonical_specs_and_dedupe():
    part = GridPart(("modular:p=7", "modular:op=x+y,p=7"), ("lookup", "lookup"), (2, 4), (0, 1))
    cells, _ = build_cells([part, part])
    assert len(cells) == 4 and {c.task for c in cells} == {"modular:op=x+y,p=7,test_fraction=0.5"}


def test_budgets_are_part_of_the_resolved_spec():
    from compare.methods import Budgets

    part = GridPart(("modular:p=7",), ("mlp",), (2,), (0,))
    (short,), _ = build_cells([part], Budgets(steps=10))
    (long,), _ = build_cells([part], Budgets(steps=20))
    assert "steps=10" in short.method_spec and "steps=20" in long.method_spec and short.key != long.key
