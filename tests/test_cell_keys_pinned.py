"""Cell keys are pinned: the keys of these grids were computed by the code of 2026-12-08 (before the
redesign of issue 26) and stored in ``fixtures/cell_keys.json``. A store written then must resume
with zero cells re-run, so every key must come out the same today; a deliberate change of what a
cell means bumps ``RESULT_FORMAT`` (or a fingerprint) and regenerates the fixture on purpose."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
from compare.grid.plan import grid_cells
from compare.methods import Budgets
from compare.results.store import CellResult, Store

PINNED = json.loads((Path(__file__).parent / "fixtures" / "cell_keys.json").read_text())


def _cells(case: dict):
    grid = {"preset_name": None, "tasks": None, "methods": None, "sizes": None, "seeds": None} | case["grid"]
    analyses = [name for name in ("alignment", "simplicity") if case[name.replace("alignment", "align")]]
    return grid_cells(grid, Budgets(**case["budgets"]), analyses)[0]


@pytest.mark.parametrize("name", sorted(PINNED))
def test_keys_match_the_pinned_ones(name: str) -> None:
    case = PINNED[name]
    keys = sorted(cell.key for cell in _cells(case))
    assert len(keys) == case["count"]
    if "keys" in case:
        assert keys == case["keys"]
    assert hashlib.sha256("\n".join(keys).encode()).hexdigest() == case["sha256"]


def test_a_store_of_pinned_keys_resumes_with_nothing_to_run(tmp_path: Path) -> None:
    case = PINNED["quick"]
    store = tmp_path / "old.sqlite"
    cells = _cells(case)
    assert sorted(c.key for c in cells) == case["keys"]
    with Store(store) as results:
        results.put_many([(cell, CellResult(test_accuracy=0.5, train_accuracy=1.0)) for cell in cells])
    out = CliRunner().invoke(cli.app, ["run", "--preset", "quick", "--store", str(store), "--dry-run"])
    assert out.exit_code == 0, out.output
    assert f"{case['count']} cells: {case['count']} already in the store" in out.output
    assert "0 to run" in out.output
