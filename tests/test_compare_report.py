"""dlps report: built from a small store made here (hand-written cells, no training), every number
traceable to a stored cell (change one stored value and the report changes), the claims table filled
or saying what to run, the cross-task correlation against a direct computation, and the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import app
from compare.grid.cells import Cell
from compare.results.claims import MIN_OPERATIONS
from compare.results.report import build
from compare.results.report_stats import NOT_REACHED, correlations, n99, operations, spearman
from compare.results.store import CellResult, Store

runner = CliRunner()
OPS = {"x+y": 10.4, "x*y": 10.5, "x^2+y^2": 17.3, "x^3+xy": 21.0}
SIZES = (8, 16, 32)


def _network(op: str, n: int, seed: int) -> CellResult:
    """A network whose accuracy rises with n, later for longer programs; LLC grows with the bits."""
    bits = OPS[op]
    acc = 1.0 if n >= {10.4: 8, 10.5: 16, 17.3: 32}.get(bits, 10**9) else 0.5 + 0.01 * seed
    result = CellResult(
        train_accuracy=1.0, test_accuracy=acc, steps_fit=10, steps_generalize=200 if acc == 1 else None
    )
    result.metrics["simplicity"] = {
        "side": "network",
        "llc": bits + seed + n / 100,
        "llc_sd": 0.5,
        "llc_below_initial": 0.0,
        "dead_units": 2,
        "units": 16,
        "weight_norm": 9.0,
        "effective_rank_mean": 5.0,
    }
    if op == "x+y":
        result.metrics["mechanism"] = {
            "text": "k=1,2 r=1.00 emerge@100",
            "restricted_accuracy": 1.0,
            "emergence_step": 100,
            "emergence_step_heldout": 150 + seed,
        }
        result.metrics["alignment"] = {
            "aligned": 1,
            "of": 2,
            "threshold": 0.9,
            "programs": [
                {
                    "source": "map",
                    "program": "add(x, y)",
                    "bits": bits,
                    "subexpressions": [{"expression": "x", "iia": 0.95}, {"expression": "y", "iia": 0.4}],
                }
            ],
        }
    return result


def _synth(op: str) -> CellResult:
    result = CellResult(train_accuracy=1.0, test_accuracy=1.0, program=op, bits=OPS[op])
    result.metrics["simplicity"] = {"side": "synth", "bits": OPS[op], "near_programs": 2, "found": True}
    return result


def make_store(path: Path) -> Path:
    with Store(path) as store:
        for op in OPS:
            task = f"modular:op={op},p=7"
            for n in SIZES:
                for seed in (0, 1, 2):
                    store.put(
                        Cell(task, "transformer", "transformer:steps=10", n, seed), _network(op, n, seed)
                    )
                    store.put(Cell(task, "synth", "synth", n, seed), _synth(op))
        ood = CellResult(train_accuracy=1.0, test_accuracy=0.9, ood={"longer": 0.6})
        store.put(Cell("brackets:kind=dyck1", "lstm", "lstm:steps=5", 8, 0), ood)
        store.put(
            Cell("brackets:kind=dyck1", "synth", "synth", 8, 0),
            CellResult(train_accuracy=1.0, test_accuracy=1.0, ood={"longer": 1.0}, program="p", bits=31.0),
        )
    return path


def test_the_report_builds_with_every_section_and_its_pictures(tmp_path):
    path = build(make_store(tmp_path / "s.sqlite"), tmp_path / "out")
    text = path.read_text()
    for heading in (
        "## Claims",
        "## Sample efficiency",
        "## Mechanisms against n",
        "## Emergence against generalization",
        "## Program ↔ network alignment",
        "## Simplicity on both sides",
        "## Across modular operations",
        "## Out-of-distribution accuracy by method",
    ):
        assert heading in text, heading
    for png in ("emergence.png", "llc.png"):
        assert (tmp_path / "out" / png).stat().st_size > 1000
    images = [line.split("(")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert all((tmp_path / "out" / name).exists() for name in images) and len(images) >= 4
    assert "not supported yet" not in text.split("## Sample efficiency")[0]  # every claim has its data


def test_changing_one_stored_value_changes_the_report(tmp_path):
    store_path = make_store(tmp_path / "s.sqlite")
    before = build(store_path, tmp_path / "a").read_text()
    with Store(store_path) as store:
        row = next(
            r
            for r in store.rows()
            if r.cell.method == "transformer" and r.cell.n == 32 and "x^3" in r.cell.task and r.cell.seed == 0
        )
        result = row.result
        result.metrics["simplicity"]["llc"] = 99.0
        store.put(row.cell, result)
    after = build(store_path, tmp_path / "b").read_text()
    assert before != after
    changed = [line for line in after.splitlines() if line not in before.splitlines()]
    assert any("x^3+xy" in line for line in changed), changed  # the LLC rows of that operation


def test_the_store_cannot_support_claims_says_what_to_run(tmp_path):
    path = tmp_path / "empty.sqlite"
    with Store(path) as store:
        store.put(Cell("brackets:kind=dyck1", "lookup", "lookup", 8, 0), CellResult(test_accuracy=0.5))
    text = build(path, tmp_path / "out").read_text()
    claims = text.split("## Sample efficiency")[0]
    assert claims.count("not supported yet") == 6 and "dlps run --preset science" in claims
    # The science preset aligns and measures simplicity already: no flag to add to it.
    assert "--preset science --align" not in text and "cells run by this dlps" not in text
    advice = ("run `dlps run --preset science` (its cells run alignment; "
              "on another grid add `--analyses alignment`)")
    assert advice in text
    assert "(its cells run simplicity; on another grid add `--analyses simplicity`)" in text


def test_cross_task_correlations_match_a_direct_computation(tmp_path):
    with Store(make_store(tmp_path / "s.sqlite"), create=False) as store:
        rows = store.rows()
    ops = operations(rows, "transformer")[7]
    assert [o.op for o in ops] == sorted(OPS)
    corr = correlations(ops, reps=200)
    bits = [OPS[o.op] for o in ops]
    n99s = [{10.4: 8, 10.5: 16, 17.3: 32}.get(OPS[o.op], NOT_REACHED * 32) for o in ops]
    llcs = [np.mean([OPS[o.op] + s + 0.32 for s in (0, 1, 2)]) for o in ops]
    assert corr["values"]["n99"] == n99s
    assert corr["bits~n99"]["rho"] == pytest.approx(spearman(bits, n99s)) == pytest.approx(1.0)
    assert corr["bits~llc"]["rho"] == pytest.approx(1.0) and corr["values"]["llc"] == pytest.approx(llcs)
    assert corr["bits~llc"]["low"] <= corr["bits~llc"]["rho"] <= corr["bits~llc"]["high"]
    assert corr["bits~n99"]["n_ops"] == 4 and corr["bits~n99"]["seeds"] == 3


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=3, max_size=12))
def test_spearman_agrees_with_scipy(pairs):
    from scipy import stats

    x, y = zip(*pairs, strict=True)
    ours = spearman(x, y)
    if len(set(x)) == 1 or len(set(y)) == 1:
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-9)


def test_n99_and_spearman_edge_cases():
    assert n99({8: {0: 0.5, 1: 1.0, 2: 1.0}, 16: {0: 1.0}}) == 8.0  # median over seeds
    assert n99({8: {0: 0.5}, 16: {0: 0.9}}) == NOT_REACHED * 16
    assert math.isnan(spearman([1, 2], [3, 4])) and math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_cli_report_and_its_errors(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    result = runner.invoke(app, ["report", "--store", str(store), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).name == "report.md"
    bad = tmp_path / "not.sqlite"
    bad.write_text("hello")
    result = runner.invoke(app, ["report", "--store", str(bad), "--out", str(tmp_path / "r2")])
    assert result.exit_code == 2 and result.stderr.startswith("Error:") and result.stderr.count("\n") == 1
    missing = runner.invoke(app, ["report", "--store", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 2 and "Error:" in missing.stderr


def test_cli_llc_calibrate_grid_and_bad_values(tmp_path):
    args = [
        "llc-calibrate",
        "modular:op=x+y,p=7",
        "--method",
        "mlp:d_embed=4,d_mlp=8",
        "--steps",
        "20",
        "--n",
        "20",
        "--epsilons",
        "1e-4,1e-2",
        "--nbetas",
        "auto,5",
        "--chains",
        "2",
        "--draws",
        "20",
        "--out",
        str(tmp_path),
        "--format",
        "json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    import json

    out = json.loads(result.stdout)
    assert len(out["grid"]) == 4
    # JSON floats carry 6 significant digits (compare/output.py)
    assert sorted({r["nbeta"] for r in out["grid"]}) == pytest.approx([5.0, 20 / math.log(20)], rel=1e-5)
    assert (tmp_path / "llc_calibration.png").exists()
    for option, value in (("--epsilons", "0,1e-3"), ("--nbetas", "x"), ("--draws", "0")):
        bad = runner.invoke(app, ["llc-calibrate", "modular:p=7", option, value])
        assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and option in bad.stderr, (
            option,
            bad.output,
        )
    lookup = runner.invoke(app, ["llc-calibrate", "modular:p=7", "--method", "lookup"])
    assert lookup.exit_code == 2 and "network" in lookup.stderr


def _flat_claims(tmp_path: Path, ops: dict[str, float]) -> dict:
    """The claims of a store where no operation reaches 99% and the LLC follows the bits."""
    from compare.results.claims import claims
    from compare.results.report import cross_task

    path = tmp_path / "flat.sqlite"
    with Store(path) as store:
        for op, bits in ops.items():
            for seed in (0, 1):
                low = CellResult(train_accuracy=1.0, test_accuracy=0.5)
                low.metrics["simplicity"] = {"side": "network", "llc": bits + seed}
                store.put(Cell(f"modular:op={op},p=7", "transformer", "transformer", 16, seed), low)
                synth = CellResult(train_accuracy=1.0, test_accuracy=1.0, program=op, bits=bits)
                store.put(Cell(f"modular:op={op},p=7", "synth", "synth", 16, seed), synth)
    with Store(path, create=False) as store:
        rows = store.rows()
    _, found = cross_task(rows)
    return {c.name: c for c in claims([], [], [], found)}


def test_a_rank_correlation_without_variation_says_so(tmp_path):
    by_name = _flat_claims(tmp_path, {**OPS, "x-y": 12.0})  # 5 operations: enough to decide
    assert "no ranking" in by_name["simple programs, less data"].todo  # no operation reached 99%
    assert by_name["simple programs, simple networks"].todo is None
    assert by_name["simple programs, simple networks"].number == pytest.approx(1.0)
    assert by_name["simple programs, simple networks"].verdict == "supported"


def test_a_correlation_over_too_few_operations_decides_nothing(tmp_path):
    # A perfect ranking of 4 operations: the bootstrap interval is [1, 1], but 4! = 24 orders give a
    # two-sided p of 1/12; "supported" before the minimum sample was fixed (issue 28: -1.00 [-1.00, -1.00]).
    claim = _flat_claims(tmp_path, OPS)["simple programs, simple networks"]
    assert claim.number == pytest.approx(1.0) and claim.count == 4 < MIN_OPERATIONS
    assert claim.verdict == "too few to decide"
    assert "4 operations × 2 seeds (decides from ≥ 5)" in claim.sample
