"""Which grid cells run the extra analyses (alignment, simplicity): the flags and presets that ask for
them stamp those cells' fingerprints, so the same cell without them is another cell."""

from __future__ import annotations

import pytest

from compare.grid.cells import ALIGN_STAMP, SIMPLICITY_STAMP, Cell, stamped
from compare.grid.plan import grid_cells
from compare.methods import Budgets

PRESET = dict(tasks=None, methods=None, sizes=None, seeds=None)
TINY = dict(preset_name=None, tasks=["modular:p=7"], methods=["lookup", "synth", "mlp:steps=5"],
            sizes="4", seeds="0")


def _stamps(cells: list[Cell]) -> dict[str, set[str]]:
    return {c.method: {a for a in (ALIGN_STAMP, SIMPLICITY_STAMP) if stamped(c, a)} for c in cells}


def test_flags_stamp_the_cells_each_analysis_applies_to():
    plain, _ = grid_cells(TINY, Budgets())
    assert _stamps(plain) == {"lookup": set(), "synth": set(), "mlp:steps=5": set()}
    both, _ = grid_cells(TINY, Budgets(), align=True, simplicity=True)
    assert _stamps(both) == {"lookup": set(), "synth": {SIMPLICITY_STAMP},
                             "mlp:steps=5": {ALIGN_STAMP, SIMPLICITY_STAMP}}
    # The stamped synth and mlp cells are other cells; the lookup cell is the same one.
    keys = {c.method: c.key for c in plain}
    assert [c.method for c in both if c.key == keys[c.method]] == ["lookup"]


def test_the_science_preset_aligns_and_measures_simplicity_and_quick_does_neither():
    science, _ = grid_cells(dict(PRESET, preset_name="science"), Budgets())
    networks = [c for c in science if c.method.split(":")[0] in ("transformer", "lstm")]
    assert networks and all(stamped(c, ALIGN_STAMP) and stamped(c, SIMPLICITY_STAMP) for c in networks)
    assert all(stamped(c, SIMPLICITY_STAMP) for c in science if c.method.startswith("synth"))
    quick, _ = grid_cells(dict(PRESET, preset_name="quick"), Budgets())
    assert not any(stamped(c, ALIGN_STAMP) or stamped(c, SIMPLICITY_STAMP) for c in quick)


def test_an_unknown_analysis_is_refused():
    cell = Cell(task="modular:p=7", method="lookup", method_spec="lookup", n=4, seed=0)
    with pytest.raises(ValueError, match="accepted: align, simplicity"):
        stamped(cell, "llc")
