"""The local learning coefficient (LLC) of a trained network, estimated with localised SGLD.

Singular learning theory measures how "effectively small" a model is at a minimum ``w*``: a regular
model with ``d`` parameters has λ = d/2, and every degenerate direction (a dead unit, a redundant
pair of weights) lowers it. The estimator (Lau et al.; the definitions devinterp implements) samples

    w ← w − ε/2 · (nβ ∇L_m(w) + γ (w − w*)) + N(0, ε)

with ``L_m`` the mean loss on a minibatch of m training examples, and returns

    λ̂ = nβ · (E_draws[L_m(w)] − L(w*)),   nβ = n / log n by default (n training examples).

Each chain starts at ``w*``; the mean and sd over chains are reported, with the chain's health: the
share of draws whose loss is below the initial loss (a chain that left the basin for a lower one
gives negative estimates), where the initial loss is the mean over several batches (one batch made
repeated estimates disagree, a pitfall reported by devinterp's users).

Defaults (:data:`DEFAULTS`) follow devinterp's grokking example (an MLP on p = 53, 40% train:
ε = 3e-3, γ = 5, 500 draws), scaled to our models and CPU budget: fewer draws over several chains,
minibatches of 256 and nβ = n/log n; ``dlps llc-calibrate`` draws the ε × nβ grid that checks a choice
on one model (README, "Simplicity").
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class LLCConfig:
    """SGLD hyper-parameters. ``nbeta`` None: n / log n for n training examples; ``batch_size`` None:
    the whole training set; ``init_batches``: batches averaged for the initial loss L(w*)."""

    epsilon: float = 3e-4
    nbeta: float | None = None
    gamma: float = 100.0
    chains: int = 3
    draws: int = 300
    burn_in: int = 0
    batch_size: int | None = 256
    init_batches: int = 8

    def __post_init__(self) -> None:
        for name in ("epsilon", "gamma"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"llc {name} must be a positive number, got {value}")
        if self.nbeta is not None and not (math.isfinite(self.nbeta) and self.nbeta > 0):
            raise ValueError(f"llc nbeta must be a positive number or None, got {self.nbeta}")
        for name in ("chains", "draws", "init_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"llc {name} must be >= 1, got {getattr(self, name)}")
        if self.burn_in < 0 or (self.batch_size is not None and self.batch_size < 1):
            raise ValueError("llc burn_in must be >= 0 and batch_size >= 1 (or None)")


#: The default estimate (a grid cell's and ``dlps mechanisms``' final network).
DEFAULTS = LLCConfig()
#: The cheaper estimate made at every checkpoint (``progress``): the curve's shape, not its last digit.
PROGRESS = replace(DEFAULTS, chains=1, draws=50, init_batches=2)


def default_nbeta(n: int) -> float:
    """n / log n (the WBIC inverse temperature times n); 1 for n ≤ 2, where log n is not a scale."""
    return n / math.log(n) if n > 2 else 1.0


#: A batch loss: given a model and row indices into the training data, the mean loss (a 0-d tensor).
BatchLoss = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def estimate(
    model: nn.Module,
    batch_loss: BatchLoss,
    n: int,
    config: LLCConfig = DEFAULTS,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """The LLC of ``model`` at its current weights ``w*``, for a loss over ``n`` training rows.

    ``batch_loss(model, rows)`` is the mean loss on those rows (indices in ``[0, n)``). The model is
    copied: its weights are never changed. Returns ``mean`` and ``sd`` over chains (sd 0 for one
    chain), ``per_chain``, the hyper-parameters used (``nbeta`` filled in), ``initial_loss``,
    ``below_initial`` (share of draws below it) and ``diverged`` (chains whose loss became non-finite;
    then ``mean`` is None).
    """
    if n < 1:
        raise ValueError(f"the LLC needs at least one training example, got n={n}")
    nbeta = config.nbeta if config.nbeta is not None else default_nbeta(n)
    batch = n if config.batch_size is None else min(config.batch_size, n)
    g = torch.Generator().manual_seed(seed)
    sampler = copy.deepcopy(model)
    params = [p for p in sampler.parameters() if p.requires_grad]
    anchor = [p.detach().clone() for p in params]
    device = anchor[0].device if anchor else torch.device("cpu")

    def rows() -> torch.Tensor:
        if batch == n:
            return torch.arange(n)
        return torch.randperm(n, generator=g)[:batch]

    threads = torch.get_num_threads()
    if device.type == "cpu":  # small models, many short steps: threads only wait on each other
        torch.set_num_threads(1)
    try:
        with torch.no_grad():
            initial = float(np.mean([float(batch_loss(sampler, rows())) for _ in range(config.init_batches)]))
        per_chain, below, diverged = _chains(
            sampler, params, anchor, batch_loss, rows, initial, nbeta, config, g
        )
    finally:
        torch.set_num_threads(threads)
    ok = diverged == 0
    out = asdict(config) | {"nbeta": nbeta, "batch_size": batch}
    out |= {
        "mean": float(np.mean(per_chain)) if ok else None,
        "sd": (float(np.std(per_chain, ddof=1)) if len(per_chain) > 1 else 0.0) if ok else None,
        "per_chain": per_chain,
        "initial_loss": initial,
        "below_initial": below / (len(per_chain) * config.draws) if per_chain else None,
        "diverged": diverged,
    }
    return out


def _chains(sampler, params, anchor, batch_loss, rows, initial, nbeta, config, g):
    """Run the chains from ``anchor``; per chain the estimate, with the draws below ``initial`` and the
    number of chains whose loss became non-finite."""
    device = anchor[0].device if anchor else torch.device("cpu")
    per_chain, below, diverged = [], 0, 0
    for _ in range(config.chains):
        with torch.no_grad():
            for p, a in zip(params, anchor, strict=True):
                p.copy_(a)
        losses = []
        for step in range(config.burn_in + config.draws):
            loss = batch_loss(sampler, rows())
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            value = float(loss.detach())
            if not math.isfinite(value):
                break
            if step >= config.burn_in:
                losses.append(value)
            with torch.no_grad():
                for p, a, grad in zip(params, anchor, grads, strict=True):
                    drift = config.gamma * (p - a)
                    if grad is not None:
                        drift = drift + nbeta * grad
                    noise = torch.randn(p.shape, generator=g).to(device)
                    p.add_(-config.epsilon / 2 * drift + math.sqrt(config.epsilon) * noise)
        if len(losses) < config.draws:
            diverged += 1
            continue
        below += sum(value < initial for value in losses)
        per_chain.append(nbeta * (float(np.mean(losses)) - initial))
    return per_chain, below, diverged


def network_batch_loss(learner: Any, train: Any) -> tuple[BatchLoss, int]:
    """The training loss of a fitted network learner on ``train`` (a :class:`tasks.Split`), as a
    :data:`BatchLoss` over its rows, and the number of rows: the mean cross-entropy over scored
    entries that the learner was trained on."""
    from baselines.base import apply_mask
    from baselines.training import masked_loss

    device = next(learner.model_.parameters()).device
    tokens, readout = learner.encode(train.X).tensors(device)
    targets = torch.as_tensor(learner.encode_targets(train.X, apply_mask(train.y, train.mask)), device=device)

    def loss(model: nn.Module, rows: torch.Tensor) -> torch.Tensor:
        rows = rows.to(device)
        R = None if readout is None else readout[rows]
        total, count = masked_loss(model(tokens[rows], R)[None], targets[rows][None])
        return total[0] / count[0].clamp(min=1)

    return loss, len(train)


def network_llc(
    learner: Any,
    train: Any,
    *,
    model: nn.Module | None = None,
    config: LLCConfig = DEFAULTS,
    seed: int = 0,
) -> dict[str, Any]:
    """:func:`estimate` for a fitted network ``learner`` (transformer, mlp, lstm) at its final
    weights, or at ``model`` (e.g. ``learner.model_at(step)``), on its training split ``train``."""
    loss, n = network_batch_loss(learner, train)
    return estimate(learner.model_ if model is None else model, loss, n, config, seed=seed)


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The keys ``dlps mechanisms`` reports under ``llc`` (README): mean, sd, the hyper-parameters,
    the chain's health."""
    keys = ("mean", "sd", "epsilon", "nbeta", "gamma", "chains", "draws", "below_initial")
    return {key: result[key] for key in keys} | {"diverged": result["diverged"]}


def calibrate(
    learner: Any,
    train: Any,
    epsilons: tuple[float, ...],
    nbetas: tuple[float, ...],
    config: LLCConfig = DEFAULTS,
    *,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The ε × nβ grid on one fitted network (``dlps llc-calibrate``): one estimate per pair, the
    other hyper-parameters from ``config``. A good pair gives a finite estimate, stable against a
    small change of ε, with few draws below the initial loss; a diverged pair reads mean None."""
    out = []
    for epsilon in epsilons:
        for nbeta in nbetas:
            result = network_llc(
                learner, train, config=replace(config, epsilon=epsilon, nbeta=nbeta), seed=seed
            )
            out.append(summary(result) | {"initial_loss": result["initial_loss"]})
    return out


# --- as a registered analysis (mechanisms.registry: ``llc``, asked for) ------------------------------


def full_report(subject: Any) -> dict[str, Any]:
    """What ``dlps mechanisms --analyses '...;llc'`` adds: ``llc`` (:func:`summary` of the final
    network's estimate, :data:`DEFAULTS`) and ``llc_progress``, a cheaper estimate
    (:data:`PROGRESS`) at every saved checkpoint (``step``, ``llc``)."""
    learner, train, seed = subject.learner, subject.train, subject.seed
    out: dict[str, Any] = {"llc": summary(network_llc(learner, train, config=DEFAULTS, seed=seed))}
    steps = sorted(getattr(learner, "checkpoints_", None) or [])
    out["llc_progress"] = [
        {"step": step, "llc": network_llc(learner, train, model=learner.model_at(step), config=PROGRESS,
                                          seed=seed)["mean"]}
        for step in steps
    ]
    return out


def cell_record(subject: Any) -> Any:
    """A grid cell's LLC (:data:`DEFAULTS` at the final weights)."""
    from mechanisms.summaries import LLCRecord

    result = summary(network_llc(subject.learner, subject.train, config=DEFAULTS, seed=subject.seed))
    return LLCRecord(**result)


def cell_cost(query: Any) -> float:
    """CPU seconds of the final network's estimate: SGLD steps of the one model on minibatches of its
    training set, and the forward passes of its initial loss (the checkpoints' cheaper estimates of
    ``dlps mechanisms`` come on top, one :data:`PROGRESS` chain per checkpoint)."""
    if query.step_seconds is None:
        return 0.0
    rows = min(query.n, DEFAULTS.batch_size or query.n)
    steps = DEFAULTS.chains * (DEFAULTS.draws + DEFAULTS.burn_in)
    return steps * query.step_seconds(rows) + DEFAULTS.init_batches * query.forward_seconds(rows)
