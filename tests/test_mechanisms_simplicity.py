"""Simplicity per cell: effective rank (exact on planted spectra), dead units (planted dead units
found, none in an untrained network), the synthesizer's bits and programs within 2 bits, and what a
grid cell stores."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compare.methods import make_learner
from mechanisms.simplicity import (
    cell_simplicity,
    dead_units,
    effective_rank,
    network_simplicity,
    synth_simplicity,
)
from tasks import parse_task

TASK = parse_task("modular:op=x+y,p=11")


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 8), st.integers(0, 4), st.integers(0, 2**31 - 1))
def test_effective_rank_of_r_equal_singular_values_is_r(rank, extra, seed):
    rng = np.random.default_rng(seed)
    rows, cols = rank + extra + 1, rank + extra
    u, _ = np.linalg.qr(rng.standard_normal((rows, rows)))
    v, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
    matrix = 3.0 * u[:, :rank] @ v[:, :rank].T
    assert effective_rank(matrix) == pytest.approx(rank, rel=1e-6)
    assert effective_rank(np.zeros((3, 4))) == 0.0


def test_unequal_singular_values_give_less_than_the_rank():
    assert 1.0 < effective_rank(np.diag([10.0, 1.0, 0.1])) < 3.0


def _fitted_mlp(steps: int = 0):
    torch.manual_seed(0)
    train = TASK.train_split(40, 0)
    # ReLU (not the fixed-shape default, a quadratic): the planted units below are dead only under it.
    learner = make_learner(f"mlp:steps={steps},d_embed=8,d_mlp=16,act=relu", train, random_state=0)
    return learner.fit(train.X, train.y), train


def test_planted_dead_units_are_counted_and_an_untrained_network_has_none():
    learner, train = _fitted_mlp(steps=0)
    assert dead_units(learner, train) == (0, 16)  # the null: random weights, biases zero
    with torch.no_grad():  # plant: three units whose pre-activation is negative on every input
        learner.model_.blocks[0].W[:, :3] = 0.0
        learner.model_.blocks[0].b[:3] = -1.0
    assert dead_units(learner, train) == (3, 16)


def test_network_side_has_every_measure_with_its_hyperparameters():
    from mechanisms.llc import LLCConfig

    learner, train = _fitted_mlp(steps=100)
    out = network_simplicity(learner, train, config=LLCConfig(chains=2, draws=40, batch_size=16))
    assert out["side"] == "network" and out["llc"] is not None and math.isfinite(out["llc"])
    assert out["llc_config"]["nbeta"] == pytest.approx(40 / math.log(40)) and out["llc_config"]["draws"] == 40
    assert out["units"] == 16 and 0 <= out["dead_units"] <= 16
    norm = math.sqrt(sum(float((p.detach().double() ** 2).sum()) for p in learner.model_.parameters()))
    assert out["weight_norm"] == pytest.approx(norm)
    assert set(out["effective_rank"]) == {"W_E", "W_U", "blocks.0.W"}
    assert "llc" in out["text"] and "dead" in out["text"]


def test_synth_side_counts_programs_within_two_bits():
    train = TASK.train_split(40, 0)
    learner = make_learner("synth", train, random_state=0).fit(train.X, train.y)
    out = synth_simplicity(learner, train)
    assert out["bits"] == pytest.approx(learner.bits_) and out["found"] and out["complete"]
    assert out["near_programs"] >= 1 and 0 < out["top_share"] <= 1
    # from 2 examples more programs fit within 8 bits than from 40: the posterior is flatter
    few = TASK.train_split(2, 0)
    loose = synth_simplicity(make_learner("synth", few, random_state=0).fit(few.X, few.y), few, within=8.0)
    sharp = synth_simplicity(learner, train, within=8.0)
    assert loose["near_programs"] > sharp["near_programs"] >= out["near_programs"]
    assert loose["top_share"] < sharp["top_share"]


def test_classic_learners_have_no_simplicity_and_grid_cells_store_it():
    from compare.grid.cells import Cell
    from compare.grid.worker import run_cell

    train = TASK.train_split(20, 0)
    assert cell_simplicity(make_learner("lookup", train).fit(train.X, train.y), train) is None
    mlp = dict(task=TASK.spec, method="mlp", method_spec="mlp:steps=50,d_embed=8,d_mlp=16", n=20, seed=0)
    result = run_cell(Cell(**mlp, fingerprint="simplicity"))  # dlps run --simplicity stamps its cells
    assert result.status == "ok", result.error
    assert result.metrics["simplicity"]["side"] == "network" and result.metrics["simplicity"]["units"] == 16
    assert "simplicity" not in run_cell(Cell(**mlp)).metrics  # and only those measure it
    synth = run_cell(Cell(task=TASK.spec, method="synth", method_spec="synth", n=20, seed=0,
                          fingerprint="simplicity"))
    assert synth.metrics["simplicity"]["bits"] == pytest.approx(synth.bits, abs=1e-3)
