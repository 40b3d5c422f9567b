"""Program ↔ network alignment: where a network computes a program's subexpressions, and whether it
uses them the way the program does (probing with control tasks: Hewitt & Liang 2019; causal abstraction
by interchange interventions: Geiger et al. 2021; distributed alignment search, DAS: Geiger et al. 2023).

For each subexpression (:func:`synth.intervene.aligned_subexpressions`) and each *site* (a residual
stream, one attention head's output, an MLP's input or output, an LSTM state: :func:`alignment_sites`,
from the architecture adapter):

- **Probe.** A linear probe (:func:`mechanisms.probes.fit_probe`, its fixed settings) reads the
  subexpression's value from the site's activation, fitted on one split and scored on another. A
  value per position is read at every real position (pooled); a value per example at the example's
  *readout position* (where the network reads out its answer; an MLP has one vector per example).
- **Control task** (Hewitt & Liang): the same probe on a random label per input type, drawn from
  the real labels' distribution: per position the type is (token, position); per example it is
  (first token, last real token, length). Selectivity = probe accuracy − control accuracy.
- **Halves.** The test rows are split at random into a *calibration* half and a *held-out* half;
  interchange pairs are drawn within each. Choices are made on the calibration pairs, the reported
  IIAs measured on the held-out ones (a maximum over sites is otherwise biased upwards).
- **Best site**: the earliest site whose calibration IIA (the headline one, below) is within
  ``SITE_TOLERANCE`` of the largest (by IIA, not by probe accuracy alone: a value may be decodable
  where the network does not use it); the earliest, because a value computed once is carried along
  the residual stream to every later site. Where no pair changes the program's output, the earliest
  site whose selectivity is within ``SITE_TOLERANCE`` of the largest.
- **Interchange intervention** at a site: on a base input, the activation's component in the aligned
  subspace (the probe's whole row space: the directions its class-centred coefficients read, up to
  classes − 1 or the site's width; ``dimension``) is replaced by the component on a source input; the
  program is run on the base with the subexpression set to its value on the source. A per-position
  value is swapped at one position per pair (random, real in both), in the network at that position
  of the same site. **IIA** is the share of pairs, among those where the program's output changes,
  whose network prediction equals the program's counterfactual output at every scored output
  position; ``pairs`` is how many pairs that is. **Chance-corrected IIA** (``iia_corrected``) is the
  same share over the pairs whose counterfactual output also differs from the network's own
  unswapped prediction (``pairs_corrected``): a network that ignores the swap scores 0 there, where
  with a two-valued output it would agree with about half the counterfactuals. For a program whose
  output takes at most two values it is the ``headline`` IIA (the site is chosen and "aligned"
  counted by it). Baselines, on the same held-out pairs at the same site and dimension: a random
  subspace (mean over ``N_RANDOM`` draws), and an untrained network of the same architecture (its
  own probe's leading directions).
- **DAS** (``das``): an orthogonal rotation trained on pairs of training rows (its first k
  coordinates swapped) for each k of :func:`das_dimensions` up to the probe's dimension; k is picked
  on the calibration pairs (the smallest within ``SITE_TOLERANCE`` of the best) and scored on the
  held-out pairs (``dimension_das``, ``iia_das``); the same procedure at the same k on the untrained
  network gives ``iia_das_untrained``.

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

from dataclasses import dataclass, replace

import numpy as np
from torch import nn

from baselines.architectures import architecture
from mechanisms.align_interchange import (
    DAS_LR,
    DAS_STEPS,
    Pairs,
    Scores,
    das_basis,
    interchange_iia,
    interchange_scores,
    make_pairs,
    predictions,
    program_outputs,
    swap,
    untrained_like,
)
from mechanisms.align_sites import (
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
    site_kinds,
)
from mechanisms.heads import attention_patterns, pattern_score
from mechanisms.probes import random_directions
from synth.dsl import DSL
from synth.intervene import selectors, subexpression_values
from synth.prior import Prior
from synth.program import Program

__all__ = [
    "ALIGNED_IIA", "DAS_LR", "DAS_STEPS", "MAX_PROBE_SAMPLES", "N_RANDOM", "SITE_TOLERANCE",
    "AlignData", "Pairs", "Scores", "Variable", "align", "aligned_count", "alignment_sites", "best_site",
    "das_basis", "das_dimensions", "example_positions", "headline_key", "interchange_iia",
    "interchange_scores", "make_pairs", "predictions", "probe_row", "program_outputs", "program_variables",
    "selector_table", "site_activations", "site_kinds", "swap", "untrained_like",
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
    their activations at every site, the test rows of the calibration and held-out halves, each
    network's own predictions on the test rows, and the untrained baseline network (None: no
    baselines)."""

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
    calibration: np.ndarray
    held_out: np.ndarray
    own: dict[int, np.ndarray]
    headline: str

    def part(self, rows: np.ndarray) -> AlignData:
        return self.test.rows(rows)


def _restrict(var: Variable, rows: np.ndarray) -> Variable:
    """``var`` with its test values on ``rows`` of the test split alone."""
    return replace(var, test=var.test[rows], test_real=var.test_real[rows])


def _scores(run: _Run, model, site: str, basis, pairs: Pairs, rows: np.ndarray, acts: np.ndarray) -> Scores:
    """Interchange scores of ``basis`` at ``site`` on pairs drawn from test ``rows`` (``acts``: the
    site's activations on every test row, of ``model``)."""
    return interchange_scores(model, site, basis, pairs, run.part(rows), acts[rows], run.own[id(model)][rows])


def _site_rows(run: _Run, var: Variable, seed: int) -> tuple[list[dict], dict[str, Pairs]]:
    """The probe row of ``var`` at every site, each with the IIAs of its probe-space swap on the
    calibration pairs (``iia_calibration``, corrected too) and on the held-out pairs; and the pairs."""
    model, train, test = run.model, run.train, run.test
    rows = [
        probe_row(model, site, var, train, test, run.tr_acts[site], run.te_acts[site], seed)
        for site in run.tr_acts
    ]
    parts = {"calibration": run.calibration, "held_out": run.held_out}
    pairs = {
        name: make_pairs(run.program, run.dsl, model, _restrict(var, at), run.part(at), run.n_pairs, seed + i)
        for i, (name, at) in enumerate(parts.items())
    }
    for r in rows:
        site = r["site"]
        cal = _scores(run, model, site, r["basis"], pairs["calibration"], run.calibration, run.te_acts[site])
        held = _scores(run, model, site, r["basis"], pairs["held_out"], run.held_out, run.te_acts[site])
        r |= {"iia_calibration": cal.iia, "iia_calibration_corrected": cal.iia_corrected, "scores": held,
              "iia": held.iia, "iia_corrected": held.iia_corrected}  # fmt: skip
    return rows, pairs


def _mean_scores(draws: list[Scores]) -> dict[str, float | None]:
    out = {}
    for key in ("iia", "iia_corrected"):
        values = [getattr(d, key) for d in draws if getattr(d, key) is not None]
        out[key] = float(np.mean(values)) if values else None
    return out


def _random_iia(run: _Run, site: str, k: int, pairs: Pairs) -> dict[str, float | None]:
    """Mean IIAs of ``N_RANDOM`` random k-dimensional subspaces at ``site`` on the held-out pairs."""
    acts = run.te_acts[site]
    bases = [random_directions(acts.shape[-1], k, run.rng) for _ in range(N_RANDOM)]
    draws = [_scores(run, run.model, site, basis, pairs, run.held_out, acts) for basis in bases]
    return _mean_scores(draws)


def das_dimensions(k_max: int) -> list[int]:
    """The DAS dimensions tried: powers of two below ``k_max``, and ``k_max``."""
    out = [1 << i for i in range(max(k_max, 1).bit_length()) if 1 << i < k_max]
    return [*out, max(k_max, 1)]


def _das(run: _Run, var: Variable, site: str, k_max: int, pairs: dict[str, Pairs], seed: int) -> dict:
    """DAS at ``site``: one subspace per dimension of :func:`das_dimensions` trained on pairs of
    training rows, the dimension picked on the calibration pairs (the smallest within
    ``SITE_TOLERANCE`` of the best, by the headline IIA), scored on the held-out pairs; the same
    procedure at the same dimension on the untrained network."""
    model, train = run.model, run.train
    train_pairs = make_pairs(run.program, run.dsl, model, var, train, run.n_pairs, seed + 1)
    te_acts = run.te_acts[site]
    key = run.headline
    tried = {}
    for k in das_dimensions(min(k_max, te_acts.shape[-1])):
        basis = das_basis(model, site, k, train_pairs, train, run.tr_acts[site], seed)
        tried[k] = (basis, _scores(run, model, site, basis, pairs["calibration"], run.calibration, te_acts))
    values = {k: getattr(sc, key) for k, (_, sc) in tried.items() if getattr(sc, key) is not None}
    k = min(values, key=lambda k: (values[k] < max(values.values()) - SITE_TOLERANCE, k)) if values else k_max
    k = k if k in tried else max(tried)
    held = _scores(run, model, site, tried[k][0], pairs["held_out"], run.held_out, te_acts)
    out = {"dimension_das": k, "iia_das": held.iia, "iia_das_corrected": held.iia_corrected,
           "das_calibration": {str(d): getattr(sc, key) for d, (_, sc) in tried.items()}}  # fmt: skip
    if run.untrained is not None:
        u_tr = site_activations(run.untrained, train, [site])[site]
        u_te = site_activations(run.untrained, run.test, [site])[site]
        u_basis = das_basis(run.untrained, site, k, train_pairs, train, u_tr, seed)
        u = _scores(run, run.untrained, site, u_basis, pairs["held_out"], run.held_out, u_te)
        out |= {"iia_das_untrained": u.iia, "iia_das_untrained_corrected": u.iia_corrected}
    return out


def _baseline_iias(run: _Run, var: Variable, best: dict, pairs: dict[str, Pairs], seed: int) -> dict:
    """At the best site, on the held-out pairs and with the best site's dimension: a random
    subspace's IIAs and the untrained network's (its own probe's leading directions); with ``das``,
    :func:`_das`. None where not run."""
    train, test, untrained = run.train, run.test, run.untrained
    site, k = best["site"], len(best["basis"])
    names = ("iia_das", "iia_das_corrected", "dimension_das", "das_calibration", "iia_das_untrained",
             "iia_das_untrained_corrected", "iia_random", "iia_random_corrected", "iia_untrained",
             "iia_untrained_corrected")  # fmt: skip
    out: dict = dict.fromkeys(names)
    if run.das:
        out |= _das(run, var, site, max(k, 1), pairs, seed)
    if untrained is not None and k:
        random = _random_iia(run, site, k, pairs["held_out"])
        out |= {"iia_random": random["iia"], "iia_random_corrected": random["iia_corrected"]}
        u_tr = site_activations(untrained, train, [site])[site]
        u_te = site_activations(untrained, test, [site])[site]
        u_basis = probe_row(untrained, site, var, train, test, u_tr, u_te, seed)["basis"][:k]
        u = _scores(run, untrained, site, u_basis, pairs["held_out"], run.held_out, u_te)
        out |= {"iia_untrained": u.iia, "iia_untrained_corrected": u.iia_corrected}
    return out


def _most_causal(rows: list[dict]) -> dict | None:
    """The site where the probe-space swap has the highest held-out IIA (the earliest of ties)."""
    scored = [r for r in rows if r["iia"] is not None]
    if not scored:
        return None
    top = max(scored, key=lambda r: r["iia"])
    return {"site": top["site"], "iia": top["iia"]}


BY_SITE_KEYS = ("site", "probe_accuracy", "control_accuracy", "selectivity", "iia_calibration", "iia",
                "iia_corrected")  # fmt: skip


def _subexpression(run: _Run, var: Variable, seed: int, prior: Prior, kinds: dict[str, str]) -> dict:
    """One subexpression's entry of :func:`align`'s ``subexpressions``."""
    rows, pairs = _site_rows(run, var, seed)
    best = best_site(rows, "iia_calibration" + ("_corrected" if run.headline == "iia_corrected" else ""))
    held: Scores = best["scores"]
    return {
        "expression": str(var.expression),
        "type": var.expression.type.name,
        "per_position": var.per_position,
        "bits": prior.program_bits(var.expression),
        "site": best["site"],
        "site_kind": kinds[best["site"]],
        "probe_accuracy": best["probe_accuracy"],
        "control_accuracy": best["control_accuracy"],
        "selectivity": best["selectivity"],
        "dimension": len(best["basis"]),
        "iia": held.iia,
        "iia_corrected": held.iia_corrected,
        "headline": run.headline,
        "iia_headline": getattr(held, run.headline),
        **_baseline_iias(run, var, best, pairs, seed),
        "pairs": held.pairs,
        "pairs_corrected": held.pairs_corrected,
        "iia_site": _most_causal(rows),
        "by_site": [{key: r[key] for key in BY_SITE_KEYS} for r in rows],
    }


def _halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The test rows split at random into a calibration half (sites and DAS dimensions are picked
    there) and a held-out half (where the reported IIAs are measured)."""
    order = np.random.default_rng(seed + 7).permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2 :])


def headline_key(program: Program, dsl: DSL, test: AlignData) -> str:
    """``iia_corrected`` where the program's output takes at most two values on the test rows (a
    network that ignores a swap agrees with about half the counterfactuals there), else ``iia``."""
    out = program_outputs(program, dsl, test)
    return "iia_corrected" if len(np.unique(out[test.scored & (out >= 0)])) <= 2 else "iia"


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
    and scored on ``test``; interchange pairs (``n_pairs`` each) drawn from a calibration half of the
    test rows, where each subexpression's site is picked (by IIA), and from the held-out half, where
    its IIAs are measured. ``baselines`` False skips the random-subspace and untrained-network IIAs
    (None then); ``das`` adds a DAS subspace at the site, its dimension picked on the calibration
    pairs (``dimension_das``, ``iia_das``), and the same on the untrained network.

    Returns ``program``, ``bits``, ``sites``, ``headline`` (the IIA that counts: ``iia_corrected``
    for a program with a two-valued output, else ``iia``), ``subexpressions`` (``expression``,
    ``type``, ``per_position``, ``bits``, ``site``, ``site_kind``, ``probe_accuracy``,
    ``control_accuracy``, ``selectivity``, ``dimension``, ``iia``, ``iia_corrected``,
    ``iia_headline``, the baselines' IIAs (each also ``_corrected``), ``pairs``, ``pairs_corrected``,
    ``by_site``: per site its probe, control, selectivity and IIAs), ``selectors`` and ``skipped``
    (per-position subexpressions, which an MLP has no positions for).
    """
    sites = alignment_sites(model)
    prior = Prior(dsl.primitives)
    tr_acts, te_acts = site_activations(model, train, sites), site_activations(model, test, sites)
    untrained = untrained_like(model, seed + 1) if baselines else None
    rng = np.random.default_rng(seed)
    own = {id(m): predictions(m, test) for m in (model, untrained) if m is not None}
    calibration, held_out = _halves(len(test), seed)
    headline = headline_key(program, dsl, test)
    run = _Run(model, program, dsl, train, test, tr_acts, te_acts, n_pairs, untrained, das, rng,
               calibration, held_out, own, headline)  # fmt: skip
    variables, skipped = program_variables(program, dsl, train, test), []
    if not architecture(model).has_positions:  # one vector per example: per-position values have no home
        skipped = [str(v.expression) for v in variables if v.per_position]
        variables = [v for v in variables if not v.per_position]
    kinds = site_kinds(model)
    return {
        "program": str(program),
        "bits": prior.program_bits(program),
        "sites": sites,
        "headline": headline,
        "subexpressions": [
            _subexpression(run, var, seed + 101 * (i + 1), prior, kinds) for i, var in enumerate(variables)
        ],
        "selectors": selector_table(model, program, dsl, test),
        "skipped": skipped,
    }


def aligned_count(result: dict, threshold: float = ALIGNED_IIA) -> tuple[int, int]:
    """(k, m): how many of the m subexpressions have their headline IIA (``iia_headline``; ``iia`` in
    results written before it) ≥ ``threshold`` at their best site."""
    subs = result["subexpressions"]
    values = [s.get("iia_headline", s["iia"]) for s in subs]
    return sum(1 for v in values if v is not None and v >= threshold), len(subs)
