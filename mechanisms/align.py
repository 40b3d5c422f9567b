"""Program ↔ network alignment: where a network computes a program's subexpressions, and whether it
uses them the way the program does (probing with control tasks: Hewitt & Liang 2019; causal abstraction
by interchange interventions: Geiger et al. 2021; distributed alignment search, DAS: Geiger et al. 2023).

For each subexpression (:func:`synth.intervene.aligned_subexpressions`) and each *site* (a residual
stream, an LSTM state, an MLP layer: :func:`alignment_sites`):

- **Probe.** A linear probe (:func:`mechanisms.probes.fit_probe`, its fixed settings) reads the
  subexpression's value from the site's activation, fitted on one split and scored on another. A
  value per position is read at every real position (pooled); a value per example at the example's
  *readout position* (where the network reads out its answer; an MLP has one vector per example).
- **Control task** (Hewitt & Liang): the same probe on a random label per input type, drawn from
  the real labels' distribution: per position the type is (token, position); per example it is
  (first token, last real token, length). Selectivity = probe accuracy − control accuracy.
- **Best site**: the earliest site whose selectivity is within ``SITE_TOLERANCE`` of the largest.
  The earliest, because a value computed once is carried along the residual stream to every later
  site, where nothing downstream may read it any more (fixed before any result was seen).
- **Interchange intervention** at a site: on a base input, the activation's component in the aligned
  subspace (the probe's row space: the directions its class-centred coefficients read, at most
  ``MAX_DIMENSION`` of them, by singular value) is replaced by the component on a source input; the
  program is run on the base with the subexpression set to its value on the source. A per-position
  value is swapped at one position per pair (random, real in both), in the network at that position
  of the same site. **IIA** is the share of pairs, among those where the program's output changes,
  whose network prediction equals the program's counterfactual output at every scored output
  position; ``pairs`` is how many pairs that is. Baselines: a random subspace of the same dimension
  (mean over ``N_RANDOM`` draws), and the whole procedure on an untrained network of the same
  architecture (its own probe at the same site). Optionally (``das``) a subspace of the same
  dimension is learned as in DAS (an orthogonal rotation trained on pairs of training rows, scored on
  the test pairs): ``iia_das``.

In an LSTM the state hooks fire inside the recurrence, once per step (:mod:`baselines.lstm`), so a
swap at a hidden or cell state feeds every later step.

The steps live in :mod:`mechanisms.align_sites` (data, sites, probes) and
:mod:`mechanisms.align_interchange` (pairs, swaps, IIA, DAS); this module runs them (:func:`align`)
and re-exports their public names.

**Selectors** (``sel_tok``, ``sel_eq``, ``sel_lt``, ``sel_le``) are compared with attention: per head,
the share of its attention (from queries where the selector selects something) that falls on the
keys the selector selects (:func:`mechanisms.heads.pattern_score`, first position excluded as there),
and the best head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from baselines.architectures import architecture
from mechanisms.align_interchange import (
    DAS_LR,
    DAS_STEPS,
    Pairs,
    das_basis,
    interchange_iia,
    make_pairs,
    predictions,
    swap,
    untrained_like,
)
from mechanisms.align_sites import (
    MAX_DIMENSION,
    MAX_PROBE_SAMPLES,
    SITE_TOLERANCE,
    AlignData,
    Variable,
    alignment_sites,
    best_site,
    example_positions,
    probe_row,
    program_variables,
    site_activations,
)
from mechanisms.heads import attention_patterns, pattern_score
from mechanisms.probes import random_directions
from synth.dsl import DSL
from synth.intervene import selectors, subexpression_values
from synth.prior import Prior
from synth.program import Program

__all__ = [
    "ALIGNED_IIA", "DAS_LR", "DAS_STEPS", "MAX_DIMENSION", "MAX_PROBE_SAMPLES", "N_RANDOM", "SITE_TOLERANCE",
    "AlignData", "Pairs", "Variable", "align", "aligned_count", "alignment_sites", "best_site", "das_basis",
    "example_positions", "interchange_iia", "make_pairs", "predictions", "probe_row", "program_variables",
    "selector_table", "site_activations", "swap", "untrained_like",
]  # fmt: skip

#: "Aligned" in summaries: IIA at the best site at least this (the issue's threshold).
ALIGNED_IIA = 0.9
N_RANDOM = 3


def selector_table(model, program: Program, dsl: DSL, data: AlignData) -> list[dict]:
    """Per selector: every head's attention share on the selected keys (from the queries where it
    selects any; with per-position outputs, the scored queries), and the best head."""
    sels = selectors(program)
    if not sels or not architecture(model).has_heads:
        return []
    attention = attention_patterns(model, data.tokens)  # (layers, n, heads, q, k)
    values = subexpression_values(program, dsl.env(data.X))
    k_model = data.tokens.shape[1]
    real = None if data.pad_id is None else data.tokens != data.pad_id
    out = []
    for sel in sels:
        chosen = values[sel] == 1  # (n, L, L); padding query rows hold 2
        L = chosen.shape[1]
        if data.scored.shape == (len(data), L):  # per-position outputs: the queries the task scores
            chosen &= data.scored[:, :, None]
        pattern = np.zeros((len(data), k_model, k_model), bool)
        pattern[:, :L, :L] = chosen
        shares = np.stack([pattern_score(a, pattern, real) for a in attention])  # (layers, heads)
        filled = np.where(np.isnan(shares), -np.inf, shares)
        layer, head = np.unravel_index(int(np.argmax(filled)), shares.shape)
        best = shares[layer, head]
        out.append(
            {
                "expression": str(sel),
                "head": [int(layer), int(head)] if np.isfinite(best) else None,
                "attention_on_selected": float(best) if np.isfinite(best) else None,
                "by_head": [[None if np.isnan(v) else float(v) for v in row] for row in shares],
            }
        )
    return out


@dataclass
class _Run:
    """What every subexpression of one alignment shares: the network, the program, the splits and
    their activations at every site, the untrained baseline network (None: no baselines)."""

    model: nn.Module
    program: Program
    dsl: DSL
    train: AlignData
    test: AlignData
    tr_acts: dict[str, np.ndarray]
    te_acts: dict[str, np.ndarray]
    n_pairs: int
    untrained: nn.Module | None
    das: bool
    rng: np.random.Generator


def _site_rows(run: _Run, var: Variable, seed: int) -> tuple[list[dict], Pairs]:
    """The probe row of ``var`` at every site, each with the IIA of its probe-space swap, and the
    test pairs."""
    model, train, test = run.model, run.train, run.test
    rows = [
        probe_row(model, site, var, train, test, run.tr_acts[site], run.te_acts[site], seed)
        for site in run.tr_acts
    ]
    pairs = make_pairs(run.program, run.dsl, model, var, test, run.n_pairs, seed)
    for r in rows:
        r["iia"] = interchange_iia(model, r["site"], r["basis"], pairs, test, run.te_acts[r["site"]])
    return rows, pairs


def _random_iia(run: _Run, site: str, d: int, k: int, pairs: Pairs) -> float | None:
    """Mean IIA of ``N_RANDOM`` random k-dimensional subspaces at ``site``."""
    draws = [
        interchange_iia(run.model, site, random_directions(d, k, run.rng), pairs, run.test, run.te_acts[site])
        for _ in range(N_RANDOM)
    ]
    draws = [v for v in draws if v is not None]
    return float(np.mean(draws)) if draws else None


def _baseline_iias(run: _Run, var: Variable, best: dict, pairs: Pairs, seed: int) -> dict:
    """At the best site: the DAS subspace's IIA (``das``), a random subspace's and the untrained
    network's (with ``das``, also a DAS subspace on the untrained network); None where not run."""
    model, train, test, untrained = run.model, run.train, run.test, run.untrained
    site, k = best["site"], len(best["basis"])
    out = dict.fromkeys(("iia_das", "iia_das_untrained", "iia_random", "iia_untrained"))
    if run.das and k:
        train_pairs = make_pairs(run.program, run.dsl, model, var, train, run.n_pairs, seed + 1)
        learned = das_basis(model, site, k, train_pairs, train, run.tr_acts[site], seed)
        out["iia_das"] = interchange_iia(model, site, learned, pairs, test, run.te_acts[site])
    if untrained is not None and k:
        out["iia_random"] = _random_iia(run, site, best["basis"].shape[1], k, pairs)
        u_tr = site_activations(untrained, train, [site])[site]
        u_te = site_activations(untrained, test, [site])[site]
        u_row = probe_row(untrained, site, var, train, test, u_tr, u_te, seed)
        out["iia_untrained"] = interchange_iia(untrained, site, u_row["basis"], pairs, test, u_te)
        if run.das:  # DAS trains a map: on an untrained network it shows what training alone finds
            u_learned = das_basis(untrained, site, k, train_pairs, train, u_tr, seed)
            out["iia_das_untrained"] = interchange_iia(untrained, site, u_learned, pairs, test, u_te)
    return out


def _most_causal(rows: list[dict]) -> dict | None:
    """The site where the probe-space swap has the highest IIA (the earliest of ties), with it."""
    scored = [r for r in rows if r["iia"] is not None]
    if not scored:
        return None
    top = max(scored, key=lambda r: r["iia"])
    return {"site": top["site"], "iia": top["iia"]}


def _subexpression(run: _Run, var: Variable, seed: int, prior: Prior) -> dict:
    """One subexpression's entry of :func:`align`'s ``subexpressions``."""
    rows, pairs = _site_rows(run, var, seed)
    best = best_site(rows)
    extra = _baseline_iias(run, var, best, pairs, seed)
    by_site_keys = ("site", "probe_accuracy", "control_accuracy", "selectivity", "iia")
    return {
        "expression": str(var.expression),
        "type": var.expression.type.name,
        "per_position": var.per_position,
        "bits": prior.program_bits(var.expression),
        "site": best["site"],
        "probe_accuracy": best["probe_accuracy"],
        "control_accuracy": best["control_accuracy"],
        "selectivity": best["selectivity"],
        "dimension": len(best["basis"]),
        "iia": best["iia"],
        "iia_das": extra["iia_das"],
        "iia_das_untrained": extra["iia_das_untrained"],
        "iia_random": extra["iia_random"],
        "iia_untrained": extra["iia_untrained"],
        "pairs": int(pairs.changed.sum()),
        "iia_site": _most_causal(rows),
        "by_site": [{key: r[key] for key in by_site_keys} for r in rows],
    }


def align(
    model: nn.Module,
    program: Program,
    dsl: DSL,
    train: AlignData,
    test: AlignData,
    *,
    n_pairs: int = 256,
    seed: int = 0,
    baselines: bool = True,
    das: bool = False,
) -> dict:
    """The alignment of ``program`` (a program of ``dsl``) with ``model``: probes fitted on ``train``
    and scored on ``test``, interchange pairs drawn from ``test``. ``baselines`` False skips the
    random-subspace and untrained-network IIAs (None then); ``das`` adds ``iia_das``, the IIA of a DAS
    subspace of the same dimension at the best site, trained on pairs of ``train`` rows, and
    ``iia_das_untrained``, the same on the untrained network.

    Returns ``program``, ``bits``, ``sites``, ``subexpressions`` (``expression``, ``type``,
    ``per_position``, ``bits``, ``site``, ``probe_accuracy``, ``control_accuracy``, ``selectivity``,
    ``dimension``, ``iia``, ``iia_random``, ``iia_untrained``, ``pairs``, ``by_site``: per site its
    probe, control, selectivity and IIA), ``selectors`` and ``skipped`` (per-position
    subexpressions, which an MLP has no positions for).
    """
    sites = alignment_sites(model)
    prior = Prior(dsl.primitives)
    tr_acts, te_acts = site_activations(model, train, sites), site_activations(model, test, sites)
    untrained = untrained_like(model, seed + 1) if baselines else None
    rng = np.random.default_rng(seed)
    run = _Run(model, program, dsl, train, test, tr_acts, te_acts, n_pairs, untrained, das, rng)
    variables, skipped = program_variables(program, dsl, train, test), []
    if not architecture(model).has_positions:  # one vector per example: per-position values have no home
        skipped = [str(v.expression) for v in variables if v.per_position]
        variables = [v for v in variables if not v.per_position]
    return {
        "program": str(program),
        "bits": prior.program_bits(program),
        "sites": sites,
        "subexpressions": [
            _subexpression(run, var, seed + 101 * (i + 1), prior) for i, var in enumerate(variables)
        ],
        "selectors": selector_table(model, program, dsl, test),
        "skipped": skipped,
    }


def aligned_count(result: dict, threshold: float = ALIGNED_IIA) -> tuple[int, int]:
    """(k, m): how many of the m subexpressions have IIA ≥ ``threshold`` at their best site."""
    subs = result["subexpressions"]
    return sum(1 for s in subs if s["iia"] is not None and s["iia"] >= threshold), len(subs)
