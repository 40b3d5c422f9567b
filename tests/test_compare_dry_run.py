"""``dlps run --dry-run`` and the cost model behind it; the estimate beside the actual after a run;
``--device`` refused where this machine lacks it."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import cli
from compare.grid.cells import GridPart, build_cells
from compare.grid.cost import duration, network_shape, step_seconds
from compare.grid.jobs import Estimate, estimate, make_jobs
from compare.grid.runner import RunSummary

runner = CliRunner()

GRID = [
    "--tasks",
    "modular:p=7",
    "--methods",
    "lookup;transformer:steps=20,d_model=16,d_mlp=32",
    "--sizes",
    "4,8",
    "--seeds",
    "0..1",
]


def invoke(*args: str):
    return runner.invoke(cli.app, list(args))


def test_dry_run_lists_cells_and_estimates_and_writes_nothing(tmp_path):
    store = tmp_path / "r.sqlite"
    result = invoke("run", *GRID, "--store", str(store), "--dry-run", "--jobs", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"8 cells: 0 already in the store ({store}), 8 to run"
    assert lines[1] == "modular:op=x+y,p=7,test_fraction=0.5"
    rows = [line.split() for line in lines[2:4]]
    assert [row[-1].split(":")[0] for row in rows] == ["lookup", "transformer"]
    assert all(row[:2] == ["4", "cells"] and row[-3:-1] == ["of", "CPU"] for row in rows)
    assert lines[-1].startswith("total: 8 cells to run, about ") and lines[-1].endswith("on 2 workers")
    assert not store.exists()  # a dry run creates no store


def test_dry_run_skips_what_the_store_holds(tmp_path):
    store = tmp_path / "r.sqlite"
    lookup_only = ["--tasks", "modular:p=7", "--methods", "lookup", "--sizes", "4,8", "--seeds", "0..1"]
    assert invoke("run", *lookup_only, "--store", str(store), "--jobs", "1").exit_code == 0
    result = invoke("run", *GRID, "--store", str(store), "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("8 cells: 4 already in the store")
    assert [line.split()[-1].split(":")[0] for line in result.output.splitlines()[2:-1]] == ["transformer"]
    done = invoke("run", *lookup_only, "--store", str(store), "--dry-run")
    assert done.output == f"4 cells: 4 already in the store ({store}), 0 to run\n"


def test_dry_run_refuses_a_bad_grid_in_one_line(tmp_path):
    result = invoke(
        "run",
        "--tasks",
        "modular:p=7",
        "--methods",
        "nosuch",
        "--sizes",
        "4",
        "--dry-run",
        "--store",
        str(tmp_path / "r.sqlite"),
    )
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "unknown method" in result.output


def test_dry_run_of_the_presets(tmp_path):
    # A store in a folder that does not exist is refused, by the dry run as by the run (issue 29).
    quick = invoke("run", "--preset", "quick", "--dry-run", "--store", str(tmp_path / "r.sqlite"))
    assert quick.exit_code == 0, quick.output
    lines = quick.output.splitlines()
    for family in ("modular", "brackets", "induction"):
        at = next(i for i, line in enumerate(lines) if line.startswith(family + ":"))
        methods = {line.split()[-1].split(":")[0] for line in lines[at + 1 : at + 4]}
        assert methods >= {"synth", "lookup"} and methods & {"transformer", "lstm", "mlp"}


def cells(method: str, sizes=(4, 8), seeds=(0, 1), task: str = "modular:p=7"):
    return build_cells([GridPart((task,), (method,), tuple(sizes), tuple(seeds))])[0]


def test_estimate_follows_the_runners_jobs():
    grid = cells("transformer:steps=50,d_model=16,d_mlp=32") + cells("lookup")
    est = estimate(grid)
    assert len(est.jobs) == len(make_jobs(grid))  # one batched network job, one job per lookup cell
    assert sum(est.cells.values()) == len(grid)
    assert est.total == pytest.approx(sum(est.jobs))
    assert est.wall(1) >= est.total and est.wall(4) >= max(est.jobs)


@settings(max_examples=15, deadline=None)
@given(
    steps=st.integers(1, 5000),
    extra=st.integers(1, 5000),
    models=st.integers(1, 64),
    rows=st.integers(1, 4096),
)
def test_a_step_costs_more_with_more_work(steps, extra, models, rows):
    shape = network_shape("modular:p=7", cells(f"transformer:steps={steps}")[0].method_spec)
    one = step_seconds(shape, models, rows)
    assert 0 < one < step_seconds(shape, models + 1, rows) and one < step_seconds(shape, models, rows + 1)
    longer = network_shape("modular:p=7", cells(f"transformer:steps={steps + extra}")[0].method_spec)
    assert (
        estimate(cells(f"transformer:steps={steps + extra}")).total
        > estimate(cells(f"transformer:steps={steps}")).total
    )
    assert longer.params == shape.params


def test_bigger_models_and_sets_cost_more():
    small, wide = cells("mlp:d_mlp=32"), cells("mlp:d_mlp=512")
    assert estimate(wide).total > estimate(small).total
    assert estimate(cells("mlp", sizes=(24,))).total > estimate(cells("mlp", sizes=(2,))).total
    lstm = network_shape(
        "brackets:max_len=8,n_test=10", cells("lstm", task="brackets:max_len=8,n_test=10")[0].method_spec
    )
    assert lstm.ops > 1  # a recurrence dispatches per position


def test_a_classic_learner_on_per_position_targets_costs_one_estimator_per_position():
    from compare.grid.cost import cell_seconds
    from compare.settings.costs import COST_MODEL
    from tasks import parse_task

    spec = "induction:d_vocab=16,seq_len=8,min_seg=2,max_seg=3,ood_len=16,n_test=20"
    task = parse_task(spec)
    cell = cells("knn", sizes=(10,), task=spec)[0]
    c = COST_MODEL["classic"]["per_position/knn"]
    L = task.test_split().y.shape[1]
    expected = L * c["a"] + c["b"] * 10 * L * (L + 1) / 2
    assert L == 8 and cell_seconds(cell, task, "knn") == pytest.approx(expected)


def test_learners_that_fit_a_model_per_class_cost_in_proportion_to_the_classes():
    from compare.grid.cost import cell_seconds
    from compare.settings.costs import COST_MODEL
    from tasks import parse_task

    def cost(method: str, p: int) -> float:
        task = parse_task(f"modular:p={p}")
        return cell_seconds(cells(method, sizes=(10,), task=f"modular:p={p}")[0], task, method)

    reference = COST_MODEL["classic"]["fixed/gbt"]["classes"]
    assert reference == 59  # addition mod 59: a class per residue
    for method in ("gbt", "logistic"):  # a tree or weight column a class
        assert cost(method, 113) == pytest.approx(113 / 59 * cost(method, 59))
    assert cost("knn", 113) == pytest.approx(cost("knn", 59))  # one model whatever the classes
    binary = parse_task("brackets:kind=dyck1,n_test=20")  # two classes: one model, not two
    c = COST_MODEL["classic"]["sequence/gbt"]
    assert c["classes"] == 2
    one = cells("gbt", sizes=(10,), task="brackets:kind=dyck1,n_test=20")[0]
    width = binary.test_split().X.shape[1]
    assert cell_seconds(one, binary, "gbt") == pytest.approx(c["a"] + c["b"] * 10 * width)


def test_summary_line_says_estimated_against_actual():
    quick = RunSummary(total=3, skipped=0, ran=3, estimated=0.2, cpu=0.3)
    assert quick.line() == "3 cells: 0 already in the store, 3 run, 0 failed"
    slow = RunSummary(total=3, skipped=0, ran=3, estimated=75.0, cpu=150.0)
    assert slow.line().endswith("; CPU time: estimated 75 s, actual 2.5 min")
    assert [duration(s) for s in (0.44, 12.4, 210, 9000)] == ["0.4 s", "12 s", "3.5 min", "2.5 h"]
    assert Estimate().wall(2) == 0.0


def test_a_run_records_each_cells_cpu_time(tmp_path):
    from compare.results.store import Store

    store = tmp_path / "r.sqlite"
    result = invoke("run", *GRID, "--store", str(store), "--jobs", "1")
    assert result.exit_code == 0, result.output
    with Store(str(store), create=False) as results:
        rows = results.rows()
    assert len(rows) == 8 and all(row.result.extra["cpu_seconds"] >= 0 for row in rows)
    assert sum(row.result.extra["cpu_seconds"] for row in rows if "transformer" in row.cell.method) > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.parametrize(
    "command",
    [["run", *GRID, "--dry-run"], ["run", *GRID], ["train", "modular:p=7"], ["mechanisms", "modular:p=7"]],
)
def test_device_cuda_is_refused_without_a_gpu(command, tmp_path):
    command = [c for c in command if c != "--dry-run"]
    result = invoke(
        *command,
        "--device",
        "cuda",
        *(["--store", str(tmp_path / "r.sqlite")] if command[0] == "run" else []),
    )
    assert result.exit_code == 2
    assert (
        result.output
        == "Error: --device cuda: no CUDA device is available on this machine; use --device cpu\n"
    )
    assert not (tmp_path / "r.sqlite").exists()


def test_device_names_are_checked(tmp_path):
    result = invoke("train", "modular:p=7", "--device", "tpu")
    assert result.exit_code == 2 and result.output == (
        "Error: unknown --device 'tpu'; accepted: cpu, cuda, cuda:N, auto\n"
    )


def test_device_cpu_trains_there(tmp_path):
    train = invoke("train", "modular:p=7", "--n", "20", "--steps", "5", "--device", "cpu", "--format", "json")
    assert train.exit_code == 0, train.output
    assert "device=cpu" in train.output
    store = tmp_path / "r.sqlite"
    run = invoke("run", *GRID, "--store", str(store), "--jobs", "1", "--device", "cpu")
    assert run.exit_code == 0, run.output
    # The device is where a cell runs, not what it computes: the same cells as without it.
    again = invoke("run", *GRID, "--store", str(store), "--jobs", "1")
    assert "8 cells: 8 already in the store, 0 run" in again.output


def test_a_methods_stacks_are_separate_jobs_longest_first():
    from baselines.batched import OVERHEAD_ROWS, plan_stacks
    from compare.grid.cost import network_shape

    grid = cells("transformer", sizes=(2, 4, 1000, 1200), seeds=(0, 1), task="modular:p=59")
    jobs = make_jobs(grid)
    tokens = network_shape(grid[0].task, grid[0].method_spec).tokens_per_row
    assert tokens == 3  # a b =
    stacks = plan_stacks([c.n for c in grid], None, None, OVERHEAD_ROWS, tokens)
    assert len(stacks) > 1 and all(job.batched for job in jobs)
    assert sorted(sorted(c.key for c in job.cells) for job in jobs) == sorted(
        sorted(grid[i].key for i in stack) for stack in stacks
    )
    est = estimate(grid)
    assert est.jobs == sorted(est.jobs, reverse=True) and max(c.n for c in jobs[0].cells) == 1200
    assert est.wall(2) < est.wall(1)  # the stacks run side by side


SHAPES = ("fixed", "sequence", "per_position")
BUDGET = st.one_of(st.none(), st.floats(0.5, 1e4))


@settings(max_examples=40, deadline=None)
@given(
    shape=st.sampled_from(SHAPES),
    bank=BUDGET,
    candidates=st.one_of(st.none(), st.integers(1, 10**8)),
    seconds=BUDGET,
    factor=st.floats(0.05, 1.0),
)
def test_a_search_that_spends_its_budget_costs_the_first_budget_it_reaches(
    shape, bank, candidates, seconds, factor
):
    from compare.grid.cost import synth_budget_seconds
    from compare.settings.costs import COST_MODEL

    def spec(bank, candidates, seconds):
        given = dict(max_bank_mb=bank, max_candidates=candidates, time_limit=seconds)
        return "synth:" + ",".join(f"{k}={'none' if v is None else v}" for k, v in given.items())

    c = COST_MODEL["synth_budget"][shape]
    bound = synth_budget_seconds(spec(bank, candidates, seconds), shape)
    each = [
        math.inf if bank is None else c["start"] + c["bank_mb"] * bank,
        math.inf if candidates is None else c["start"] + c["candidate"] * candidates,
        math.inf if seconds is None else seconds,
    ]
    assert bound == pytest.approx(min(each))
    # A tighter budget never costs more; no budget at all leaves the search unbounded.
    tighter = spec(None if bank is None else bank * factor, candidates, seconds)
    assert synth_budget_seconds(tighter, shape) <= bound
    assert synth_budget_seconds(spec(None, None, None), shape) == math.inf
    # Unset budgets are the synthesizer's defaults (a 1,024 MB bank).
    assert synth_budget_seconds("synth", shape) == pytest.approx(c["start"] + 1024 * c["bank_mb"])


def test_the_estimate_of_a_synth_cell_is_never_above_its_spent_budget():
    from compare.grid.cost import cell_seconds
    from tasks import parse_task

    task = parse_task("brackets:kind=dyck2")
    for method in ("synth", "synth:max_candidates=10", "synth:time_limit=0.001"):
        cell = cells(method, task="brackets:kind=dyck2")[0]
        typical, spent = cell_seconds(cell, task, "synth"), cell_seconds(cell, task, "synth", spent=True)
        assert 0 < typical <= spent
    tiny = cells("synth:time_limit=0.001", task="brackets:kind=dyck2")[0]
    assert cell_seconds(tiny, task, "synth") == cell_seconds(tiny, task, "synth", spent=True) == 0.001


def test_dry_run_says_what_synth_cells_cost_if_they_spend_their_budgets(tmp_path):
    def dry(methods: str) -> list[str]:
        result = invoke(
            "run",
            "--tasks",
            "brackets:kind=dyck2",
            "--methods",
            methods,
            "--sizes",
            "64,256",
            "--seeds",
            "0",
            "--store",
            str(tmp_path / "r.sqlite"),
            "--dry-run",
        )
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    lines = dry("synth;lookup;synth:max_bank_mb=none,max_candidates=none")
    rows = {line.split()[-1]: line for line in lines[2:5]}  # the method stays the last word
    assert (
        "of CPU (up to " in rows["synth"]
        and "of CPU (no bound)" in rows["synth:max_bank_mb=none,max_candidates=none"]
    )
    assert "(" not in rows["lookup"]  # the other learners' estimate is their cost
    assert lines[5].startswith("up to: the CPU time if no synthesizer cell finds its program")
    assert "no bound: no bank, candidate or time budget" in lines[5]
    assert lines[-1].startswith("total: 6 cells to run, about ")
    assert "of CPU (no bound) for n = 64, 256 × seeds 0; about" in lines[-1]
    bounded = dry("synth;lookup")
    assert "of CPU (up to " in bounded[-1] and "no bound" not in bounded[-2]
    # A budget that caps the search at its typical cost leaves nothing to add.
    capped = dry("synth:max_candidates=10")
    assert not any("up to" in x or "no bound" in x for x in capped) and len(capped) == 4
