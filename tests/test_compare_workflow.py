"""The one-network workflow (compare/workflow.py) and the registry as the commands use them: defaults
come from the library, ``dlps mechanisms --analyses`` loops over the registry, bracket words in other
ids get their depth probes when told the ids, and the grid refuses per-network parameters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from typer.main import get_command
from typer.testing import CliRunner

from cli import app
from compare.settings.defaults import COMMAND_N, SINGLE_SYNTH_SECONDS
from mechanisms.probes import running_depth
from mechanisms.registry import ANALYSES
from mechanisms.sequences import Brackets
from synth.learner import EnumerativeSynthesizer
from tasks import parse_task

runner = CliRunner()


def _defaults(command: str) -> dict[str, object]:
    return {p.name: p.default for p in get_command(app).commands[command].params}


def test_the_commands_take_their_defaults_from_the_library():
    assert _defaults("train")["n"] == COMMAND_N["train"]
    synth = _defaults("synth")
    learner = EnumerativeSynthesizer()
    assert synth["n"] == COMMAND_N["synth"] and synth["synth_seconds"] == SINGLE_SYNTH_SECONDS
    assert synth["max_bits"] == learner.max_bits and synth["max_bank_mb"] == learner.max_bank_mb
    for command in ("mechanisms", "align", "llc-calibrate"):
        assert f"at most {COMMAND_N[command]}" in get_command(app).commands[command].params[2].help


def test_train_method_synth_searches_with_the_one_learner_time_limit():
    command = ["train", "modular:op=x-y,p=13", "--n", "8", "--format", "json"]
    result = runner.invoke(app, [*command, "--method", "synth"])
    assert result.exit_code == 0, result.output
    assert f"time_limit={SINGLE_SYNTH_SECONDS}" in json.loads(result.stdout)["method"]
    given_limit = runner.invoke(app, [*command, "--method", "synth:time_limit=5"])
    assert "time_limit=5.0" in json.loads(given_limit.stdout)["method"]


def test_dlps_analyses_lists_the_registry():
    result = runner.invoke(app, ["analyses"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines() if not line.startswith(" ")] == [
        a.name for a in ANALYSES]


def test_mechanisms_runs_each_requested_analysis():
    torch.manual_seed(0)
    result = runner.invoke(app, ["mechanisms", "modular:p=11,test_fraction=0.4", "--method", "mlp", "--steps",
                                 "40", "--analyses", "mechanism;simplicity", "--format", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["analysis"] == "fourier" and "key_frequencies" in out["fourier"]
    assert out["simplicity"]["side"] == "network" and out["simplicity"]["units"] > 0


@pytest.mark.parametrize("args, message", [
    (["--analyses", "fourier"], "unknown analysis 'fourier'; accepted: simplicity, mechanism, alignment"),
    (["--analyses", "mechanism:depth=3"], "mechanism: unknown parameter 'depth'; accepted: open, close"),
    (["--analyses", "mechanism:open=(0),close=(1,3)"], "as many closing bracket ids as opening ones"),
])
def test_bad_analyses_exit_2_in_one_line(args, message):
    command = ["mechanisms", "brackets:kind=dyck1", "--method", "lstm", "--steps", "2", *args]
    result = runner.invoke(app, command)
    assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1


def test_the_grid_takes_analyses_without_parameters():
    result = runner.invoke(app, ["run", "--preset", "quick", "--analyses", "mechanism:open=(0),close=(1)",
                                 "--dry-run"])
    assert result.exit_code == 2 and "are for dlps mechanisms" in result.stderr


def _relabelled_words(folder: Path, ids: dict[int, int]) -> str:
    """Dyck-1 words of the suite with their brackets written as other token ids, as an examples file."""
    split = parse_task("brackets:kind=dyck1,max_len=16,n_test=300").test_split()
    rows = [[ids[int(t)] for t in row if t != split.pad_id] for row in split.X]
    path = folder / "words.jsonl"
    lines = [json.dumps({"x": r, "y": int(y)}) + "\n" for r, y in zip(rows, split.y, strict=True)]
    path.write_text("".join(lines))
    return f"examples:train={path},pad=true"


def test_bracket_words_in_other_ids_get_depth_probes_when_told_the_ids(tmp_path):
    spec = _relabelled_words(tmp_path, {0: 6, 1: 3})
    refused = runner.invoke(app, ["mechanisms", spec, "--method", "lstm", "--steps", "2"])
    assert refused.exit_code == 2 and "mechanism:open=(ids),close=(ids)" in refused.stderr
    torch.manual_seed(0)
    result = runner.invoke(app, ["mechanisms", spec, "--method", "lstm", "--steps", "40", "--analyses",
                                 "mechanism:open=(6),close=(3)", "--format", "json"])
    assert result.exit_code == 0, result.output
    depth = json.loads(result.stdout)["depth"]
    assert depth["best_site"] in {s["site"] for s in depth["sites"]}


@given(st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=8), min_size=1, max_size=5),
       st.permutations([4, 5, 7, 9, 11]))
def test_relabelling_bracket_ids_keeps_the_depth(words, other):
    """Words over the suite's ids (0 opens, 1 closes, 2 opens type 2, 3 closes it; pad 4) written in
    other ids and relabelled back give the same depth at every position."""
    pad, width = 4, max(map(len, words))
    X = np.array([w + [pad] * (width - len(w)) for w in words])
    mapping = dict(zip(range(5), other, strict=True))
    written = np.vectorize(mapping.get)(X)
    brackets = Brackets(open=(mapping[0], mapping[2]), close=(mapping[1], mapping[3]))
    back = brackets.relabel(written, mapping[pad])
    assert (running_depth(back, 2) == running_depth(X, 2)).all()
    assert ((back == 4) == (X == pad)).all()
