"""The one mechanism entry point (mechanisms.report) on planted networks, and its text form."""

from __future__ import annotations

import pytest
import torch
from test_mechanisms_modular import fitted, planted_transformer

from baselines.learners import TransformerLearner
from mechanisms.report import analyse, cell_summary, check_covered, grid_summary
from mechanisms.text import describe
from tasks import BracketsTask, ModularTask


def test_a_planted_circuit_is_reported_with_its_frequencies_and_steps():
    torch.manual_seed(0)
    task = ModularTask(op="x+y", p=17, test_fraction=0.5)
    learner, split = planted_transformer(task, [3, 7])
    init, _ = fitted(TransformerLearner, task, n_layers=1, n_heads=2, d_model=19, d_head=4, d_mlp=16,
                     act="quadratic", use_bias=False)  # fmt: skip
    learner.checkpoints_ = {0: init.model_.state_dict(),
                            9: {k: v.clone() for k, v in learner.model_.state_dict().items()}}
    report = analyse(learner, task, split)
    assert report["analysis"] == "fourier" and report["fourier"]["key_frequencies"] == [3, 7]
    assert report["emergence_step"] == 9 and report["emergence_step_heldout"] == 9
    summary = grid_summary(report)
    assert summary["text"] == "k=3,7 r=1.00 r_held=1.00 emerge@9 held@9"
    assert summary["key_frequencies"] == [3, 7]
    assert summary["heldout_restricted_accuracy"] == 1.0
    assert "llc" not in report  # its own analysis now, asked for with --analyses 'mechanism;llc'
    assert cell_summary(learner, task, split)["text"] == summary["text"]
    lines = describe({"task": task.spec, "method": "transformer", "n": len(split), "seed": 0,
                      "accuracy": {"train": 1.0, "test": 1.0}, **report})
    assert any(line.startswith("fourier    key frequencies 3, 7;") for line in lines)
    assert any("emergence 9 (held-out control 9)  generalization 9" in line for line in lines)


def test_an_untrained_network_shows_no_held_out_emergence():
    torch.manual_seed(0)
    task = ModularTask(op="x+y", p=17, test_fraction=0.5)
    learner, split = fitted(TransformerLearner, task, n_layers=1, n_heads=2, d_model=16, d_mlp=32)
    learner.checkpoints_ = {0: learner.model_.state_dict()}
    report = analyse(learner, task, split)
    assert report["emergence_step_heldout"] is None and report["generalization_step"] is None


def test_what_no_analysis_covers_is_refused_before_training():
    with pytest.raises(ValueError, match="not covered"):
        check_covered(TransformerLearner(), ModularTask(op="x*y", p=7))
    from baselines.learners import LSTMLearner

    check_covered(LSTMLearner(), BracketsTask())  # depth probes cover an LSTM on brackets
    with pytest.raises(ValueError, match="not covered"):
        check_covered(LSTMLearner(), ModularTask(p=7))
    assert cell_summary(LSTMLearner(), ModularTask(p=7), None) is None
