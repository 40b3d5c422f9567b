"""``dlps train``: one learner on a task, its accuracies, steps to 99%, curves; bad inputs exit 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
TASK = "modular:p=11"


def test_train_prints_accuracies_steps_and_time():
    result = runner.invoke(app, ["train", TASK, "--method", "mlp", "--n", "40", "--steps", "30"])
    assert result.exit_code == 0, result.output
    assert "accuracy   train" in result.output and "test" in result.output
    assert "99% at step  train" in result.output
    assert "wall time" in result.output


def test_train_json_and_plot(tmp_path):
    png = tmp_path / "curves.png"
    args = ["train", "brackets:kind=dyck1,max_len=8,min_len=2,n_test=10", "--method", "lstm:d_hidden=8"]
    result = runner.invoke(app, [*args, "--n", "30", "--steps", "10", "--format", "json", "--plot", str(png)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    parts = {"train", "test", "longer", "uniform"}
    assert set(out["accuracy"]) == parts
    assert out["method"].startswith("lstm:") and "d_hidden=8" in out["method"]
    assert out["learner"]["steps"] == 10 and set(out["learner"]["first_step"]) == parts
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_classic_method_and_fixed_width_learner_on_longer_inputs():
    result = runner.invoke(app, ["train", TASK, "--method", "lookup", "--n", "40", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accuracy"]["train"] == 1.0
    brackets = "brackets:kind=dyck1,max_len=8,min_len=2,n_test=10"
    result = runner.invoke(app, ["train", brackets, "--method", "knn", "--n", "30", "--format", "json"])
    out = json.loads(result.output)
    assert out["accuracy"]["longer"] is None and "fitted on 8 tokens" in out["errors"]["longer"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "perceptron"], "unknown method 'perceptron'; accepted: gbt, knn"),
        (["--method", "transformer:n_layer=2"], "unknown parameter 'n_layer'"),
        (["--method", "transformer:act=tanh"], "act='tanh' is not accepted; accepted: relu"),
        (["--method", "transformer:n_layers=-1"], "n_layers=-1 is out of range; accepted: [0, inf)"),
        (["--method", "knn", "--steps", "5"], "knn: unknown parameter 'steps'"),
        (["--method", "knn", "--plot", "x.png"], "--save and --out need a network method"),
        (["--method", "knn", "--save", "out"], "--save and --out need a network method"),
        (["--n", "1000"], "asked for 1000"),
        (["--format", "yaml"], "unknown format 'yaml'; accepted: text, json"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(args, message):
    result = runner.invoke(app, ["train", TASK, "--n", "20", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_task_spec_exits_2():
    result = runner.invoke(app, ["train", "modular:q=3"])
    assert result.exit_code == 2 and "unknown parameter 'q'" in result.output


def test_plot_into_a_folder_writes_inside_it(tmp_path):
    folder = tmp_path / "plots"
    folder.mkdir()
    args = ["train", TASK, "--method", "mlp", "--n", "20", "--steps", "5", "--plot", str(folder)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (folder / "training.png").read_bytes()[:4] == b"\x89PNG" and not (tmp_path / "plots.png").exists()
