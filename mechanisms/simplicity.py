"""Simplicity of what a learner learned, on both sides of the comparison, per grid cell.

- a network: its local learning coefficient (:mod:`mechanisms.llc`; lower = more degenerate =
  effectively smaller), dead units (MLP post-activations ≤ 1e-6 on every training input), the
  weight norm, and the effective rank of each weight matrix (Roy & Vetterli: exp of the entropy of
  the normalized singular values; a matrix of rank r with equal singular values has r);
- the synthesizer: the MAP program's bits, and how sharp its posterior is: the number of distinct
  programs consistent with the training data within 2 bits of the cheapest ("distinct": different
  outputs on the training inputs plus the synthesizer's probe inputs, so rewritings of one function
  count once), with the share of the posterior mass the largest class holds.

:func:`cell_simplicity` is what a grid cell stores under ``metrics["simplicity"]``.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from baselines.architectures import MLP_POST, architecture
from baselines.hooks import run_with_cache
from mechanisms import llc
from mechanisms.record import Subject
from mechanisms.structure import DEAD_EPS
from mechanisms.summaries import SimplicityRecord

#: A grid cell's LLC: the defaults with fewer draws (one cell's estimate costs about a second for the
#: quick preset's modular transformer; the chains' sd is stored beside it).
GRID_LLC = replace(llc.DEFAULTS, chains=2, draws=150)
#: The synthesizer's programs counted within this many bits of the MAP program (the issue's 2 bits).
WITHIN_BITS = 2.0
#: Rows per forward pass when reading a network's units.
CHUNK = 2048


def effective_rank(matrix: np.ndarray) -> float:
    """exp(entropy of σ/Σσ) over the singular values σ of ``matrix``; 0 for an all-zero matrix."""
    sigma = np.linalg.svd(np.asarray(matrix, dtype=np.float64), compute_uv=False)
    total = sigma.sum()
    if total <= 0:
        return 0.0
    p = sigma[sigma > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def weight_matrices(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """Every parameter with two or more axes, as a matrix (rows × last axis: per-head weights of
    shape (heads, d_model, d_head) become (heads·d_model, d_head))."""
    out = {}
    for name, param in model.named_parameters():
        if param.ndim >= 2:
            out[name] = param.detach().cpu().reshape(-1, param.shape[-1]).double().numpy()
    return out


def dead_units(learner: Any, train: Any) -> tuple[int, int] | None:
    """(dead, total) over every MLP post-activation hook (``*hook_post``) of the learner's model on the
    training inputs (a unit is dead when ≤ 1e-6 at every position of every input); None when the
    model has no such hook (an LSTM, an attention-only transformer)."""
    model = learner.model_
    names = [site.name for site in architecture(model).sites(model) if site.kind == MLP_POST]
    if not names:
        return None
    device = next(model.parameters()).device
    tokens, readout = learner.encode(train.X).tensors(device)
    alive: dict[str, torch.Tensor] = {}
    for start in range(0, len(train), CHUNK):
        rows = slice(start, start + CHUNK)
        R = None if readout is None else readout[rows]
        _, cache = run_with_cache(model, tokens[rows], R, names=names)
        for name in names:
            act = cache[name].reshape(-1, cache[name].shape[-1])
            seen = (act > DEAD_EPS).any(dim=0).cpu()
            alive[name] = seen if name not in alive else alive[name] | seen
    total = sum(int(a.numel()) for a in alive.values())
    return total - sum(int(a.sum()) for a in alive.values()), total


def network_simplicity(learner: Any, train: Any, config: llc.LLCConfig = GRID_LLC, seed: int = 0) -> dict:
    """The network side: ``llc`` (mean over chains) with ``llc_sd``, ``llc_below_initial`` and the
    hyper-parameters (``llc_config``), ``dead_units``/``units``, ``weight_norm`` (L2 over all
    parameters), ``effective_rank`` per weight matrix and its mean, and a short ``text``."""
    estimate = llc.summary(llc.network_llc(learner, train, config=config, seed=seed))
    dead = dead_units(learner, train)
    params = [p.detach().double() for p in learner.model_.parameters()]
    norm = float(torch.sqrt(sum((p**2).sum() for p in params)))
    ranks = {name: round(effective_rank(m), 3) for name, m in weight_matrices(learner.model_).items()}
    hyper = {k: estimate[k] for k in ("epsilon", "nbeta", "gamma", "chains", "draws")}
    out = {
        "side": "network",
        "llc": estimate["mean"],
        "llc_sd": estimate["sd"],
        "llc_below_initial": estimate["below_initial"],
        "llc_config": hyper,
        "dead_units": None if dead is None else dead[0],
        "units": None if dead is None else dead[1],
        "weight_norm": norm,
        "effective_rank": ranks,
        "effective_rank_mean": float(np.mean(list(ranks.values()))) if ranks else None,
    }
    text = "llc " + ("diverged" if out["llc"] is None else f"{out['llc']:.1f}")
    text += f" |w| {norm:.1f}" + ("" if dead is None else f" dead {dead[0]}/{dead[1]}")
    return out | {"text": text}


def synth_simplicity(learner: Any, train: Any, within: float = WITHIN_BITS) -> dict:
    """The synthesizer side: ``bits`` of its MAP program and ``near_programs``, the number of distinct
    consistent programs within ``within`` bits of it (from a posterior search with the learner's own
    budgets, bounded at bits + ``within``), ``top_share`` (the largest class's posterior share) and
    ``complete`` (False when a budget stopped that search: the count is then a lower bound). For a
    search that found no consistent program, only ``bits`` (of the best one) is kept."""
    bits = None if learner.bits_ is None or math.isnan(learner.bits_) else float(learner.bits_)
    out: dict[str, Any] = {
        "side": "synth",
        "bits": bits,
        "found": bool(learner.found_),
        "within_bits": within,
    }
    if not learner.found_ or bits is None:
        return out | {"near_programs": None, "top_share": None, "complete": None, "text": "not found"}
    params = learner.get_params() | {"posterior": True, "posterior_bits": within}
    bound = bits + within + 1e-9
    params["max_bits"] = bound if params.get("max_bits") is None else min(params["max_bits"], bound)
    again = type(learner)(**params).fit(train.X, train.y, mask=train.mask)
    weights = [w for _, _, w in getattr(again, "posterior_", [])]
    stop = again.search_stats_.get("stop_reason")
    out |= {
        "near_programs": len(weights),
        "top_share": max(weights) if weights else None,
        "complete": stop not in ("max_candidates", "time_limit", "memory"),
    }
    return out | {"text": f"{bits:.1f} bits, {len(weights)} within {within:g}"}


def cell_simplicity(learner: Any, train: Any, seed: int = 0) -> dict | None:
    """``metrics["simplicity"]`` of a grid cell: the network or synthesizer side, None for other learners."""
    if getattr(learner, "has_model", False):
        return network_simplicity(learner, train, seed=seed)
    if hasattr(learner, "bits_") and hasattr(learner, "found_"):
        return synth_simplicity(learner, train)
    return None


# --- as a registered analysis (mechanisms.registry) ----------------------------------------------

def cell_record(subject: Subject) -> SimplicityRecord | None:
    """:func:`cell_simplicity` of the cell's learner, typed (None for learners it does not read)."""
    values = cell_simplicity(subject.learner, subject.train, seed=subject.seed)
    return None if values is None else SimplicityRecord.from_metrics(values)


def cell_cost(query: Any) -> float:
    """CPU seconds of a cell's simplicity measures: a network's LLC chains (SGLD steps of the one
    model on minibatches of its training set, and the forward passes of its initial loss); the
    synthesizer's second, bounded posterior search (a constant per data shape, measured)."""
    if query.step_seconds is None:
        return float(query.constants["synth_simplicity"][query.data_shape])
    rows = min(query.n, GRID_LLC.batch_size or query.n)
    steps = GRID_LLC.chains * (GRID_LLC.draws + GRID_LLC.burn_in)
    return steps * query.step_seconds(rows) + GRID_LLC.init_batches * query.forward_seconds(rows)
