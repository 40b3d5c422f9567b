"""One vocabulary across commands (issue 28 items 2 and 4): the new option names work, the old
spellings still work for one release but are hidden from ``--help``, the same quantity has the same
JSON key in ``train``, ``mechanisms`` and the export, floats are rounded once at output, and
``--threads`` sets torch's threads (default: what the measurement chose)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from cli import app
from compare import cli_options
from compare.output import json_text

runner = CliRunner()
TASK = "modular:p=7"
NET = ["--method", "mlp", "--n", "10", "--steps", "3"]


def ok(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize(("command", "new", "old"), [
    ("train", "--out", "--plot"),
    ("mechanisms", "--out", "--plots"),
    ("align", "--out", "--plots"),
    ("table", "--tasks", "--task"),
    ("table", "--methods", "--method"),
    ("plot", "--tasks", "--task"),
    ("run", "--tasks", "--task"),
    ("run", "--methods", "--method"),
    ("synth", "--synth-candidates", "--max-candidates"),
    ("synth", "--synth-seconds", "--time-limit"),
])
def test_new_names_are_documented_and_old_ones_hidden(command, new, old):
    shown = ok([command, "--help"]).stdout
    assert f"{new} " in shown and f"{old} " not in shown.replace(f"{old}s ", "")


@pytest.mark.parametrize("command", ["train", "synth", "mechanisms", "align", "llc-calibrate", "run"])
def test_every_computing_command_takes_threads_and_device(command):
    shown = ok([command, "--help"]).stdout
    assert "--threads" in shown
    assert command == "synth" or "--device" in shown


def test_train_out_writes_training_png_and_old_plot_still_works(tmp_path):
    ok(["train", TASK, *NET, "--out", str(tmp_path / "new")])
    assert (tmp_path / "new" / "training.png").read_bytes()[:4] == b"\x89PNG"
    ok(["train", TASK, *NET, "--plot", str(tmp_path / "old.png")])
    assert (tmp_path / "old.png").exists()
    both = runner.invoke(app, ["train", TASK, *NET, "--out", str(tmp_path / "a"),
                               "--plot", str(tmp_path / "b")])
    assert both.exit_code == 2 and "--plot is the old name of --out" in both.output


def test_mechanisms_out_and_old_plots(tmp_path):
    args = ["mechanisms", "modular:p=11,test_fraction=0.4", "--method", "mlp", "--steps", "2"]
    new = json.loads(ok([*args, "--out", str(tmp_path / "new"), "--format", "json"]).stdout)
    old = json.loads(ok([*args, "--plots", str(tmp_path / "old"), "--format", "json"]).stdout)
    assert new["plots"] and old["plots"] and all("/new/" in p for p in new["plots"])


def test_synth_budget_names_new_and_old():
    new = json.loads(ok(["synth", TASK, "--n", "6", "--synth-candidates", "5000", "--synth-seconds", "30",
                         "--format", "json"]).stdout)
    old = json.loads(ok(["synth", TASK, "--n", "6", "--max-candidates", "5000", "--time-limit", "30",
                         "--format", "json"]).stdout)
    assert new["learner"]["program"] == old["learner"]["program"] == "add(x, y)"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "s.sqlite"
    ok(["run", "--task", TASK, "--methods", "mlp:steps=3;lookup", "--sizes", "10", "--seeds", "0",
        "--jobs", "1", "--store", str(path)])
    return path


def test_filters_new_and_old_spellings(store):
    new = ok(["table", "--store", str(store), "--tasks", "modular", "--methods", "lookup", "--format", "csv"])
    old = ok(["table", "--store", str(store), "--task", "modular", "--method", "lookup", "--format", "csv"])
    assert new.stdout == old.stdout and "mlp" not in new.stdout


def test_generalization_step_has_one_key_in_train_mechanisms_and_export(store):
    train = json.loads(ok(["train", TASK, *NET, "--format", "json"]).stdout)
    assert "generalization_step" in train
    assert train["generalization_step"] == train["learner"]["first_step"]["test"]  # old key, one release
    mech = json.loads(ok(["mechanisms", "modular:p=11,test_fraction=0.4", "--method", "mlp", "--steps", "2",
                          "--format", "json"]).stdout)
    assert "generalization_step" in mech
    exported = ok(["export", "--store", str(store), "--format", "jsonl"]).stdout
    rows = [json.loads(line) for line in exported.splitlines()]
    assert all("generalization_step" in row for row in rows)
    net = next(row for row in rows if row["method"].startswith("mlp"))
    assert net["generalization_step"] == net["steps_generalize"]  # the stored name, kept one release


def test_floats_are_rounded_once_at_output():
    out = json.loads(json_text({"a": 0.1234567891234, "b": [2 / 3], "c": 12345678.9, "n": 3}))
    assert out == {"a": 0.123457, "b": [0.666667], "c": 12345700.0, "n": 3}


def test_threads_sets_torch_threads_and_defaults_to_the_measured_one():
    assert cli_options.DEFAULT_THREADS == 1  # the measurement (README "Threads") chose one thread
    before = torch.get_num_threads()
    try:
        ok(["train", TASK, "--method", "lookup", "--n", "10", "--threads", "2"])
        assert torch.get_num_threads() == 2
        ok(["train", TASK, "--method", "lookup", "--n", "10"])
        assert torch.get_num_threads() == cli_options.DEFAULT_THREADS
    finally:
        torch.set_num_threads(before)
    bad = runner.invoke(app, ["train", TASK, "--method", "lookup", "--threads", "0"])
    assert bad.exit_code == 2 and "--threads must be >= 1" in bad.output


def test_run_threads_is_per_worker_and_checked_by_the_dry_run(tmp_path):
    from compare.grid.runner import prepare_run
    from compare.methods import Budgets

    args = ["run", "--tasks", TASK, "--methods", "lookup", "--sizes", "10", "--seeds", "0",
            "--store", str(tmp_path / "s.sqlite"), "--dry-run"]
    bad = runner.invoke(app, [*args, "--threads", "0"])
    assert bad.exit_code == 2 and "--threads must be >= 1" in bad.output
    grid = dict(preset_name=None, tasks=[TASK], methods=["lookup"], sizes="10", seeds="0")
    planned = prepare_run(grid, Budgets(), str(tmp_path / "t.sqlite"), 1, None, None, threads=3)
    try:
        assert planned.executor.options.threads == 3
    finally:
        planned.executor.close()
        planned.store.close()
