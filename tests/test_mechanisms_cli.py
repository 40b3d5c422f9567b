"""``dlps mechanisms``, saved networks (``--save`` / ``--from``) and the grid's mechanism column."""

from __future__ import annotations

import json
import pickle
import sqlite3

import pytest
import torch
from typer.testing import CliRunner

from baselines.checkpoints import CheckpointError, load_learner
from cli import app

runner = CliRunner()
TASK = "modular:p=11,test_fraction=0.4"
FOURIER_KEYS = {"key_frequencies", "embedding_key_share", "neuron_key_share", "restricted_accuracy",
                "restricted_loss", "excluded_loss", "loss"}
STRUCTURE_KEYS = {"n_neurons", "dead_neurons", "single_frequency_neurons", "single_frequency_random",
                  "kurtosis", "kurtosis_random"}
PROGRESS_KEYS = {"step", "train_accuracy", "test_accuracy", "restricted_accuracy", "excluded_loss",
                 "embedding_key_share", "weight_norm"}


def mechanisms_json(*args: str) -> dict:
    result = runner.invoke(app, ["mechanisms", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_modular_report_has_the_documented_keys_and_survives_save_and_load(tmp_path):
    torch.manual_seed(0)
    out = mechanisms_json(TASK, "--method", "mlp", "--steps", "60", "--save", str(tmp_path / "net"))
    assert {"task", "method", "n", "seed", "accuracy", "emergence_step", "generalization_step", "fourier",
            "structure", "progress"} <= set(out)
    assert FOURIER_KEYS <= set(out["fourier"]) and STRUCTURE_KEYS <= set(out["structure"])
    assert len(out["progress"]) >= 20 and all(PROGRESS_KEYS <= set(e) for e in out["progress"])
    assert set(out["accuracy"]) == {"train", "test"}
    again = mechanisms_json("--from", str(tmp_path / "net"))
    assert again["fourier"] == out["fourier"] and again["task"] == out["task"] and again["n"] == out["n"]
    assert [e["step"] for e in again["progress"]] == [e["step"] for e in out["progress"]]


def test_a_saved_network_predicts_as_the_trained_one(tmp_path):
    result = runner.invoke(app, ["train", TASK, "--method", "mlp", "--n", "40", "--steps", "30",
                                 "--save", str(tmp_path / "net"), "--format", "json"])
    assert result.exit_code == 0, result.output
    learner = load_learner(tmp_path / "net")
    assert learner.meta_["n"] == 40 and len(learner.checkpoints_) >= 20
    trained = json.loads(result.stdout)["accuracy"]["train"]
    from tasks import parse_task

    split = parse_task(TASK).train_split(40, 0)
    assert learner.score(split.X, split.y) == trained


class Evil:
    """Unpickling an instance would run its ``__reduce__``; a weights-only load must refuse it."""

    def __reduce__(self):
        return (print, ("this must never run",))


def test_a_pickle_in_place_of_a_checkpoint_is_refused(tmp_path, capsys):
    folder = tmp_path / "evil"
    folder.mkdir()
    with open(folder / "model.pt", "wb") as fh:
        pickle.dump({"format": "dlps-model", "payload": Evil()}, fh)  # an object: not weights-only
    with pytest.raises(CheckpointError, match="not a dlps checkpoint"):
        load_learner(folder)
    assert "this must never run" not in capsys.readouterr().out
    torch.save({"weights": torch.zeros(2)}, folder / "model.pt")  # readable, but not ours
    result = runner.invoke(app, ["mechanisms", "--from", str(folder)])
    assert result.exit_code == 2 and "not a dlps checkpoint" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("args, message", [
    (["modular:op=x*y,p=7"], "is not covered; mechanisms cover networks only"),
    (["modular:p=7", "--method", "knn", "--steps", "2"], "unknown parameter 'steps'"),
    (["modular:p=7", "--method", "knn"], "need a network"),
    (["--from", "/nonexistent/dir"], "no saved network at"),
    ([], "give a task SPEC, or --from DIR"),
    (["modular:p=7", "--format", "xml"], "unknown format 'xml'"),
    (["modular:p=7", "--n", "0"], "--n must be >= 1"),
])
def test_what_is_not_covered_exits_2_with_one_line(args, message):
    result = runner.invoke(app, ["mechanisms", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_network_cells_store_a_mechanism_summary_shown_in_the_table(tmp_path):
    store = tmp_path / "s.sqlite"
    result = runner.invoke(app, ["run", "--tasks", TASK, "--methods", "mlp;lookup", "--sizes", "40",
                                 "--seeds", "0", "--steps", "60", "--store", str(store), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    rows = dict(sqlite3.connect(store).execute("SELECT method, metrics FROM cells"))
    mechanism = json.loads(rows["mlp"])["mechanism"]
    assert {"text", "key_frequencies", "restricted_accuracy", "emergence_step"} <= set(mechanism)
    assert "mechanism" not in json.loads(rows["lookup"])
    table = runner.invoke(app, ["table", "--store", str(store), "--format", "json"])
    (mlp,) = [s for s in json.loads(table.stdout) if s["method"] == "mlp"]
    assert mlp["mechanism"] and mlp["mechanism"][0]["text"] == mechanism["text"]
