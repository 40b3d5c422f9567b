"""The report's texts and claims on small stores (issue 28, items 1 and 7): counts in the right
number, no claim decided below its minimum sample, censored values (n@99 not reached, no emergence)
said rather than turned into numbers, sample sizes that match the values they count, and claim 6 over
proper subexpressions only."""

from __future__ import annotations

from pathlib import Path

import pytest

from compare.grid.cells import Cell
from compare.results.claims import MIN_UNITS, Claim, claims
from compare.results.report import build, proper_share
from compare.results.store import CellResult, Store
from compare.results.tables import summarize
from mechanisms.summaries import AlignmentRecord

TASK = "modular:op=x+y,p=7"
NET = ("transformer", "transformer:steps=10")


def _fourier(emergence: int | None, generalize: int | None, acc: float) -> CellResult:
    result = CellResult(train_accuracy=1.0, test_accuracy=acc, steps_generalize=generalize)
    text = "k=1 r=1.00 no emergence" if emergence is None else f"k=1 r=1.00 emerge@{emergence}"
    result.metrics["mechanism"] = {"text": text, "key_frequencies": [1], "restricted_accuracy": 1.0,
                                   "emergence_step": emergence,
                                   "emergence_step_heldout": emergence}
    return result


def one_task_store(path: Path) -> Path:
    """The quick preset's shape at one operation: the synthesizer at 99% from the smallest n, the network
    from n=32 in two seeds of three, and at n=16 two cells whose circuit emerged at the last step and
    one where it never did."""
    with Store(path) as store:
        for n in (4, 16, 32):
            for seed in range(3):
                store.put(Cell(TASK, "synth", "synth", n, seed),
                          CellResult(test_accuracy=1.0, program="add(x, y)", bits=10.4))
                if n == 16:
                    result = _fourier(1500 if seed < 2 else None, None, 0.4)
                elif n == 32:
                    result = _fourier(400 + seed, 900 + seed, 1.0)
                else:
                    result = CellResult(test_accuracy=0.05)
                store.put(Cell(TASK, *NET, n, seed), result)
    return path


@pytest.fixture
def report(tmp_path) -> str:
    return build(one_task_store(tmp_path / "s.sqlite"), tmp_path / "out").read_text()


def _row(text: str, name: str) -> list[str]:
    line = next(line for line in text.splitlines() if f"**{name}**" in line)
    return [c.strip() for c in line.split(" | ")]


def test_counts_are_in_the_right_number_and_zero_counts_are_not_said(report):
    assert "over 1 task." in report and "1 tasks" not in report and "1 modular tasks" not in report
    sample = _row(report, "sample efficiency")[3]
    assert sample.startswith("1 modular operation with synthesizer and network cells")
    assert "in 0" not in sample  # "no network at 99% in 0" said nothing


def test_a_claim_below_its_minimum_sample_is_too_few_to_decide(report):
    # Before: "supported" from 9.44 [9.44, 9.44] over one task.
    row = _row(report, "sample efficiency")
    assert row[-1].rstrip(" |") == "too few to decide"
    assert row[2] == "n/a (1 modular operation)" and f"(decides from ≥ {MIN_UNITS})" in row[3]


def test_a_censored_n99_is_a_bound_not_a_multiple_of_the_largest_n(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        for op in ("x+y", "x-y", "x*y", "x/y", "x^2+y", "x^2+y^2"):
            for n in (4, 8, 64):
                store.put(Cell(f"modular:op={op},p=7", "synth", "synth", n, 0),
                          CellResult(test_accuracy=1.0 if n >= 8 else 0.5, program="p", bits=10.0))
                store.put(Cell(f"modular:op={op},p=7", *NET, n, 0), CellResult(test_accuracy=0.2))
    with Store(path, create=False) as store:
        claim = claims(summarize(store.rows()), [], [], {})[0]
    # n@99 > 64 for every network: log2(64 / 8) = 3 is a lower bound, not log2(2 × 64 / 8) = 4.
    assert claim.number == pytest.approx(3.0) and claim.bound == "lower" and claim.count == 6
    assert claim.verdict == "supported" and "no network at 99% in 6 of 6" in claim.sample


def test_a_lower_bound_never_contradicts():
    bound = Claim("c", "", "", number=-1.0, low=-2.0, high=-0.5, count=MIN_UNITS, bound="lower")
    assert bound.verdict == "undecided"
    assert Claim("c", "", "", number=-1.0, low=-2.0, high=-0.5, count=MIN_UNITS).verdict == "contradicted"


def test_emergence_never_observed_is_counted_not_averaged_away(report):
    # Before: "1500 ± 0 (2)" beside a summary of "no emergence", nothing saying a third never emerged.
    line = next(line for line in report.split("## Emergence")[1].splitlines() if line.startswith(f"| {TASK}")
                and "| 16 |" in line)
    assert "1500 [1500, 1500] (2 cells); never in 1 of 3" in line
    mechanisms = next(line for line in report.split("## Mechanisms")[1].splitlines() if "| 16 |" in line)
    assert "emergence_step 1500.00 (2 of 3)" in mechanisms
    claim = _row(report, "circuit before generalization")
    assert "3 network cells with both steps" in claim[3]
    assert "left out, censored: 2 with the circuit that never reached 99%" in claim[3]


def test_advice_names_what_the_store_lacks_and_no_flag_the_preset_has(report):
    assert "--preset science --align" not in report and "cells run by this dlps" not in report
    assert "on another grid add `--analyses simplicity`" in report


def test_operation_table_and_correlations_count_the_same_seeds(tmp_path):
    # No LLC stored: the LLC pairs rest on no operation and no seed (before: "seeds 3" beside 0).
    from compare.results.report import cross_task
    from compare.results.report_stats import correlations, operations

    with Store(one_task_store(tmp_path / "s.sqlite"), create=False) as store:
        rows = store.rows()
    corr = correlations(operations(rows, "transformer")[7])
    assert (corr["bits~llc"]["n_ops"], corr["bits~llc"]["seeds"]) == (0, 0)
    assert (corr["bits~n99"]["n_ops"], corr["bits~n99"]["seeds"]) == (1, 3)
    lines, _ = cross_task(rows)
    assert "| x+y | 10.4 | 32 | 3 | n/a | 0 |" in lines
    assert any(line.startswith("| bits ~ llc | n/a | n/a | 0 | 0 | too few to decide") for line in lines)


def _aligned(program: str, subs: dict[str, float]) -> dict:
    return {"aligned": sum(v >= 0.9 for v in subs.values()), "of": len(subs), "threshold": 0.9,
            "programs": [{"source": "map", "program": program, "bits": 10.0,
                          "subexpressions": [{"expression": e, "iia": v} for e, v in subs.items()]}]}


def test_the_whole_program_is_not_one_of_its_subexpressions(tmp_path):
    whole_only = AlignmentRecord(**_aligned("add(x, y)", {"add(x, y)": 0.99}))
    assert proper_share(whole_only) == (0, 0)
    nested = AlignmentRecord(**_aligned("add(sq(x), y)", {"sq(x)": 0.2, "add(sq(x), y)": 0.99}))
    assert proper_share(nested) == (0, 1)  # the stored count says 1 of 2
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        for seed in range(MIN_UNITS):
            result = CellResult(test_accuracy=1.0)
            result.metrics["alignment"] = _aligned("add(sq(x), y)", {"sq(x)": 0.2, "add(sq(x), y)": 0.99})
            store.put(Cell("modular:op=x^2+y,p=7", *NET, 8, seed), result)
            plain = CellResult(test_accuracy=1.0)
            plain.metrics["alignment"] = _aligned("add(x, y)", {"add(x, y)": 0.99})
            store.put(Cell(TASK, *NET, 8, seed), plain)
    text = build(path, tmp_path / "out").read_text()
    row = _row(text, "programs inside networks")
    # Before: 0.50 from the x^2+y cells and 1.00 from the x+y ones, all from the whole programs.
    assert row[1] == "0.00" and row[-1].rstrip(" |") == "contradicted"
    assert f"{MIN_UNITS} aligned network cells, proper subexpressions only" in row[3]
    assert f"{MIN_UNITS} left out: the program has no proper subexpression" in row[3]
    assert "add(sq(x), y) (output) 0.99" in text
