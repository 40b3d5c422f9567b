"""Papercuts of the consolidation: one JSON schema, comma-separated method names, declared imports."""

from __future__ import annotations

import ast
import json
import sys
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def test_train_and_synth_share_one_json_schema():
    train = runner.invoke(app, ["train", "modular:p=7", "--method", "lookup", "--n", "10",
                                "--format", "json"])
    synth = runner.invoke(app, ["synth", "modular:p=7", "--n", "6", "--format", "json"])
    net = runner.invoke(app, ["train", "modular:p=7", "--method", "mlp", "--n", "10", "--steps", "3",
                              "--format", "json"])
    outs = [json.loads(r.stdout) for r in (train, synth, net)]
    assert all(r.exit_code == 0 for r in (train, synth, net))
    common = {"task", "examples", "test_file", "method", "n", "seed", "accuracy", "seconds", "learner"}
    for out in outs:
        assert common <= set(out), sorted(common - set(out))
        assert set(out["accuracy"]) == {"train", "test"}
    assert outs[1]["learner"]["program"] == "add(x, y)"
    assert outs[2]["learner"]["steps"] == 3
    # dlps train with the synthesizer gives what dlps synth gives, in the same shape
    same = runner.invoke(app, ["train", "modular:p=7", "--method", "synth:time_limit=60", "--n", "6",
                               "--format", "json"])
    assert json.loads(same.stdout)["learner"]["program"] == "add(x, y)"


def test_commas_between_bare_method_names_are_accepted(tmp_path):
    store = tmp_path / "s.sqlite"
    args = ["run", "--tasks", "modular:p=7", "--methods", "lookup,synth", "--sizes", "2", "--seeds", "0",
            "--store", str(store), "--jobs", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 cells" in result.stdout


def test_every_third_party_import_is_declared():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower().replace("-", "_") for d in declared}
    names |= {"sklearn"} if "scikit_learn" in names else set()
    ours = {"tasks", "synth", "baselines", "compare", "mechanisms", "cli"}
    used = set()
    for folder in ours:
        for path in [ROOT / f"{folder}.py"] if folder == "cli" else (ROOT / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    used |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    used.add(node.module.split(".")[0])
    third_party = {m for m in used - ours if m not in sys.stdlib_module_names and m != "__future__"}
    assert third_party <= names | {"distributed"}, sorted(third_party - names)


def test_out_of_range_budgets_stop_the_grid_before_any_cell(tmp_path):
    store = tmp_path / "s.sqlite"
    for option, value in (("--steps", "-1"), ("--synth-candidates", "-1"), ("--max-bits", "-5"),
                          ("--synth-seconds", "nan")):
        result = runner.invoke(app, ["run", "--tasks", "modular:p=7", "--methods", "synth;mlp",
                                     "--sizes", "2", "--store", str(store), "--jobs", "1", option, value])
        assert result.exit_code == 2, (option, result.output)
        assert "out of range" in result.stderr and result.stderr.count("\n") == 1
        assert not store.exists() or "0 cells" not in result.stdout


def test_an_unusable_artefacts_folder_stops_the_grid_before_any_cell(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("x")
    for target in (afile, Path("/proc/x")):
        result = runner.invoke(app, ["run", "--tasks", "modular:p=7", "--methods", "mlp", "--sizes", "2",
                                     "--store", str(tmp_path / "s.sqlite"), "--jobs", "1",
                                     "--artefacts", str(target), "--steps", "2"])
        assert result.exit_code == 2, result.output
        assert "artefacts" in result.stderr and result.stderr.count("\n") == 1


def test_dsl_lists_primitives_with_their_bits_and_meaning():
    result = runner.invoke(app, ["dsl", "arith:p=7", "--weights", "ite=0"])
    assert result.exit_code == 0, result.output
    assert "# arith:p=7,max_const=2" in result.stdout
    assert "add : int -> int -> int" in result.stdout and "a + b mod p" in result.stdout
    assert "ite" not in result.stdout  # weight 0 drops it
    bad = runner.invoke(app, ["dsl", "arith:p=8"])
    assert bad.exit_code == 2 and "p=8 must be a prime" in bad.stderr
