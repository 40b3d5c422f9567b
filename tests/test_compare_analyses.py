"""Which grid cells run the opt-in analyses (alignment, simplicity): ``--analyses``, its aliases and the
presets that ask for them stamp those cells' fingerprints, so the same cell without them is another
cell; the registry decides which learners each analysis reads, and the table's mechanism column is
built from the registered analyses' summaries (stores written before the registry read the same)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import cli
from compare.grid.cells import Cell
from compare.grid.plan import grid_cells
from compare.methods import Budgets
from mechanisms.registry import ANALYSES, analyses_for, by_name, column, for_cell, learner_kind
from tasks import SpecError
from tasks.learners import LEARNERS

PRESET = dict(tasks=None, methods=None, sizes=None, seeds=None)
TINY = dict(preset_name=None, tasks=["modular:p=7"], methods=["lookup", "synth", "mlp:steps=5"],
            sizes="4", seeds="0")
OPT_IN = {a.stamp for a in ANALYSES if a.stamp}


def _stamps(cells: list[Cell]) -> dict[str, set[str]]:
    return {c.method: set(c.stamps) & OPT_IN for c in cells}


def test_analyses_stamp_the_cells_each_applies_to():
    plain, _ = grid_cells(TINY, Budgets())
    assert _stamps(plain) == {"lookup": set(), "synth": set(), "mlp:steps=5": set()}
    both, _ = grid_cells(TINY, Budgets(), ("alignment", "simplicity"))
    assert _stamps(both) == {"lookup": set(), "synth": {"simplicity"}, "mlp:steps=5": {"align", "simplicity"}}
    # The stamped synth and mlp cells are other cells; the lookup cell is the same one.
    keys = {c.method: c.key for c in plain}
    assert [c.method for c in both if c.key == keys[c.method]] == ["lookup"]
    # The order they are asked in, and the alias, change nothing.
    again, _ = grid_cells(TINY, Budgets(), ("simplicity", "align"))
    assert [c.key for c in again] == [c.key for c in both]


def test_the_science_preset_aligns_and_measures_simplicity_and_quick_does_neither():
    science, _ = grid_cells(dict(PRESET, preset_name="science"), Budgets())
    networks = [c for c in science if c.method.split(":")[0] in ("transformer", "lstm")]
    assert networks and all({"align", "simplicity"} <= set(c.stamps) for c in networks)
    assert all("simplicity" in c.stamps for c in science if c.method.startswith("synth"))
    quick, _ = grid_cells(dict(PRESET, preset_name="quick"), Budgets())
    assert not any(set(c.stamps) & OPT_IN for c in quick)


def test_an_unknown_analysis_is_refused_naming_the_registered_ones():
    with pytest.raises(SpecError, match="accepted: simplicity, mechanism, alignment, llc"):
        by_name("entropy")
    result = CliRunner().invoke(cli.app, ["run", "--preset", "quick", "--analyses", "fourier", "--dry-run"])
    assert result.exit_code == 2
    assert "unknown analysis 'fourier'" in result.output


def test_each_registered_learner_gets_the_analyses_of_its_kind():
    kinds = {name: learner_kind(cls) for name, cls in LEARNERS.items()}
    assert kinds["transformer"] == kinds["mlp"] == kinds["lstm"] == "network"
    assert kinds["synth"] == "program" and kinds["lookup"] == "classic"
    for name, cls in LEARNERS.items():
        run = {a.name for a in for_cell(["align", "simplicity", "llc"], cls)}
        expected = {a.name for a in ANALYSES if kinds[name] in a.kinds}
        assert run == expected
    assert [a.name for a in analyses_for(["align", "simplicity", "alignment"])] == ["simplicity", "alignment"]


def test_the_mechanism_column_joins_the_analyses_fragments():
    mechanism = {"text": "k=4,17 r=1.00 emerge@300", "key_frequencies": [4, 17], "restricted_accuracy": 1.0,
                 "emergence_step": 300, "emergence_step_heldout": None}
    alignment = {"aligned": 2, "of": 3, "threshold": 0.9, "programs": []}
    new = column({"mechanism": mechanism, "alignment": alignment})
    assert new["text"] == "k=4,17 r=1.00 emerge@300; 2 of 3 subexpressions aligned (IIA ≥ 0.9)"
    assert new["aligned"] == 2 and new["subexpressions"] == 3 and new["restricted_accuracy"] == 1.0
    # A store written before the registry kept the fragment and counts inside the mechanism summary.
    old = column({"mechanism": mechanism | {"text": new["text"], "aligned": 2, "subexpressions": 3},
                  "alignment": alignment})
    assert old == new
    assert column({"alignment": alignment})["text"] == "2 of 3 subexpressions aligned (IIA ≥ 0.9)"
    assert column({"alignment": {"error": "ValueError: no program"}}) is None
    assert column({}) is None
