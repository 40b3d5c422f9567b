"""The LLC estimator on models whose learning coefficient is known: a regular quadratic minimum
(λ = d/2), the same with k dead directions ((d − k)/2), a redundant pair (one direction the loss
never sees), and a trained network (finite, healthy chains, weights untouched)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from mechanisms.llc import LLCConfig, default_nbeta, estimate, network_llc, summary

#: Fixed before the first run: the estimate is within 10% of the exact value for this chain length.
TOLERANCE = 0.10
#: nβ·h ≫ γ and ε·(nβ·h) ≪ 1, so the localisation and the step's discretisation bias stay ≈ 1%.
QUADRATIC = LLCConfig(
    epsilon=1e-3, nbeta=100.0, gamma=1.0, chains=6, draws=1000, burn_in=100, batch_size=None, init_batches=1
)


class Quadratic(nn.Module):
    """Loss ½ Σ h_i (Mw)_i² around w* = 0; h_i = 0 marks a dead direction."""

    def __init__(self, curvature: torch.Tensor, mix: torch.Tensor | None = None) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(len(curvature)))
        self.register_buffer("h", curvature)
        self.register_buffer("mix", torch.eye(len(curvature)) if mix is None else mix)

    def loss(self, rows: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.h * (self.mix @ self.w) ** 2).sum()


def quadratic_loss(model: Quadratic, rows: torch.Tensor) -> torch.Tensor:
    return model.loss(rows)


def exact(curvature: torch.Tensor, config: LLCConfig) -> float:
    """The stationary value of the discretised chain: per direction nβ·h/(2a(1 − εa/4)), a = nβh + γ."""
    a = config.nbeta * curvature + config.gamma
    return float((config.nbeta * curvature / (2 * a * (1 - config.epsilon * a / 4))).sum())


def test_a_regular_quadratic_minimum_gives_half_its_dimension():
    d = 10
    result = estimate(Quadratic(torch.ones(d)), quadratic_loss, 1000, QUADRATIC, seed=0)
    assert abs(result["mean"] - d / 2) <= TOLERANCE * d / 2, result["mean"]
    assert abs(result["mean"] - exact(torch.ones(d), QUADRATIC)) <= TOLERANCE * d / 2
    assert result["diverged"] == 0 and len(result["per_chain"]) == QUADRATIC.chains
    assert result["below_initial"] == 0.0  # nothing lies below a minimum of zero loss


@pytest.mark.parametrize("dead", [3, 6])
def test_planted_dead_directions_lower_the_estimate_by_half_each(dead):
    d = 10
    h = torch.ones(d)
    h[:dead] = 0.0
    result = estimate(Quadratic(h), quadratic_loss, 1000, QUADRATIC, seed=1)
    assert abs(result["mean"] - (d - dead) / 2) <= TOLERANCE * d / 2, result["mean"]
    assert result["mean"] < d / 2 - dead / 4  # less than the regular model's d/2


def test_a_redundant_pair_counts_as_one_direction():
    # loss of (w0 + w1)/√2 and w2..: the difference w0 − w1 is redundant (never seen by the loss)
    d = 6
    mix = torch.eye(d)
    mix[0, :2] = torch.tensor([1.0, 1.0]) / math.sqrt(2)
    mix[1] = 0.0
    result = estimate(Quadratic(torch.ones(d), mix), quadratic_loss, 1000, QUADRATIC, seed=2)
    assert abs(result["mean"] - (d - 1) / 2) <= TOLERANCE * d / 2, result["mean"]


def test_same_seed_same_estimate_and_the_model_is_untouched():
    model = Quadratic(torch.ones(4))
    config = LLCConfig(epsilon=1e-3, nbeta=50.0, gamma=1.0, chains=2, draws=50, batch_size=None)
    a = estimate(model, quadratic_loss, 100, config, seed=3)
    b = estimate(model, quadratic_loss, 100, config, seed=3)
    c = estimate(model, quadratic_loss, 100, config, seed=4)
    assert a["per_chain"] == b["per_chain"] and a["per_chain"] != c["per_chain"]
    assert torch.equal(model.w, torch.zeros(4))


def test_a_step_too_large_is_reported_as_diverged_not_as_a_number():
    config = LLCConfig(epsilon=1.0, nbeta=1000.0, gamma=1.0, chains=2, draws=200, batch_size=None)
    result = estimate(Quadratic(torch.ones(3)), quadratic_loss, 100, config)
    assert result["diverged"] == 2 and result["mean"] is None and result["below_initial"] is None


def test_bad_hyperparameters_are_refused():
    for bad in (dict(epsilon=0.0), dict(gamma=-1.0), dict(nbeta=math.nan), dict(chains=0), dict(draws=0)):
        with pytest.raises(ValueError, match="llc"):
            LLCConfig(**bad)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=10**7))
def test_default_nbeta_is_n_over_log_n_and_grows_with_n(n):
    nbeta = default_nbeta(n)
    assert nbeta > 0 and math.isfinite(nbeta)
    if n > 2:
        assert nbeta == pytest.approx(n / math.log(n))
        assert default_nbeta(n + 1) > nbeta


def test_a_trained_network_gets_a_finite_healthy_estimate():
    from compare.methods import make_learner
    from tasks import parse_task

    torch.manual_seed(0)
    task = parse_task("modular:op=x+y,p=11")
    train = task.train_split(30, 0)
    learner = make_learner("mlp:steps=150,d_embed=8,d_mlp=16", train, random_state=0)
    learner.fit(train.X, train.y)
    before = [p.detach().clone() for p in learner.model_.parameters()]
    config = LLCConfig(epsilon=3e-4, gamma=100.0, chains=2, draws=60, batch_size=16, init_batches=4)
    result = network_llc(learner, train, config=config, seed=0)
    out = summary(result)
    assert set(out) >= {"mean", "sd", "epsilon", "nbeta", "gamma", "chains", "draws", "below_initial"}
    assert out["mean"] is not None and math.isfinite(out["mean"]) and out["mean"] > 0
    assert out["nbeta"] == pytest.approx(30 / np.log(30)) and 0.0 <= out["below_initial"] <= 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, learner.model_.parameters(), strict=True))


def test_the_calibration_plot_shows_the_planted_value_and_marks_divergence(tmp_path, monkeypatch):
    """mechanisms.plots_llc on a planted quadratic (λ = d/2 = 2): the usable step's point sits at
    its estimate, the step too large is a cross on the axis; the curve plot skips missing values.
    Figures are kept open to read what was drawn."""
    import matplotlib.pyplot as plt

    from mechanisms import plots_llc

    figures = []

    class KeepOpen:
        rcParams = plt.rcParams

        def subplots(self, *args, **kwargs):
            fig, ax = plt.subplots(*args, **kwargs)
            figures.append(fig)
            return fig, ax

        def close(self, fig):
            pass

    monkeypatch.setattr(plots_llc, "_plt", KeepOpen)
    rows = []
    for epsilon in (1e-3, 1.0):
        config = LLCConfig(epsilon=epsilon, nbeta=100.0, gamma=1.0, chains=2, draws=300, batch_size=None)
        result = estimate(Quadratic(torch.ones(4)), quadratic_loss, 100, config, seed=0)
        rows.append(summary(result) | {"epsilon": epsilon, "nbeta": 100.0})
    assert rows[1]["mean"] is None  # the planted chain diverges at ε = 1
    path = plots_llc.plot_calibration(rows, tmp_path / "calibration.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    ax = figures[-1].axes[0]
    points, cross = ax.lines[0], ax.lines[-1]
    assert list(points.get_xdata()) == [1e-3] and list(points.get_ydata()) == [rows[0]["mean"]]
    assert cross.get_marker() == "x" and list(cross.get_xdata()) == [1.0] and list(cross.get_ydata()) == [0.0]
    curve = {"run": [(0, 5.0, 0.1), (10, None, 0.5), (100, 2.0, None), (1000, 1.5, 1.0)]}
    plots_llc.plot_curve(curve, tmp_path / "curve.png")
    llc_line, acc_line = figures[-1].axes[0].lines[0], figures[-1].axes[1].lines[0]
    assert list(llc_line.get_xdata()) == [100, 1000]  # step 0 is off the log axis, None is a gap
    assert list(acc_line.get_xdata()) == [10, 1000]
    for fig in figures:
        plt.close(fig)
