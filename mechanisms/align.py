"""Program ↔ network alignment: where a network computes a program's subexpressions, and whether it
uses them the way the program does (../shared/ANCHORS.md, "Probing and causal alignment").

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

In an LSTM the state hooks see the states after the recurrence has run, so a swap there would reach
only the readout; swaps at a recurrent state act inside the recurrence instead
(:func:`mechanisms.probes.recurrent_logits`, which checks itself against the model's output).

**Selectors** (``sel_tok``, ``sel_eq``, ``sel_lt``, ``sel_le``) are compared with attention: per head,
the share of its attention (from queries where the selector selects something) that falls on the
keys the selector selects (:func:`mechanisms.heads.pattern_score`, first position excluded as there),
and the best head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from baselines.hooks import hooks, run_with_cache
from baselines.lstm import LSTM
from baselines.mlp import MLP
from baselines.transformer import Transformer
from mechanisms.heads import CHUNK, attention_patterns, model_device, pattern_score
from mechanisms.probes import control_table, fit_probe, probe_subspace, random_directions, recurrent_logits
from synth.dsl import DSL
from synth.intervene import aligned_subexpressions, intervene, selectors, subexpression_values
from synth.prior import Prior
from synth.program import Program

#: "Aligned" in summaries: IIA at the best site at least this (the issue's threshold).
ALIGNED_IIA = 0.9
SITE_TOLERANCE = 0.02
MAX_DIMENSION = 16
N_RANDOM = 3
#: Samples per probe fit at most (pooled positions are subsampled, seeded): keeps one alignment
#: within the two minutes the issue allows on one core.
MAX_PROBE_SAMPLES = 3000
#: DAS training: full-batch Adam steps and learning rate (fixed on the planted network).
DAS_STEPS = 100
DAS_LR = 0.05


@dataclass(frozen=True)
class AlignData:
    """One split as alignment needs it: raw inputs ``X`` (n, k) (``pad_id`` or None); the model's
    input ``tokens`` (n, k') whose first k positions are ``X``'s; the ``readout`` position per row
    (None: every position is an output); ``scored`` (n, P) where outputs count (P = k for
    per-position outputs, 1 otherwise)."""

    X: np.ndarray
    tokens: np.ndarray
    readout: np.ndarray | None
    scored: np.ndarray
    pad_id: int | None = None

    def __len__(self) -> int:
        return len(self.X)

    def rows(self, index) -> AlignData:
        readout = None if self.readout is None else self.readout[index]
        return AlignData(self.X[index], self.tokens[index], readout, self.scored[index], self.pad_id)

    @property
    def real(self) -> np.ndarray:
        return np.ones(self.X.shape, bool) if self.pad_id is None else self.X != self.pad_id


def alignment_sites(model: nn.Module) -> list[str]:
    """The sites probed, in forward order: a transformer's residual stream before the first block and
    after each attention and MLP; an LSTM's embedding and each layer's hidden and cell state; an MLP's
    embedding and each hidden layer (after its activation)."""
    if isinstance(model, Transformer):
        sites = ["blocks.0.hook_resid_pre"]
        for layer in range(model.cfg.n_layers):
            if not model.cfg.attn_only:
                sites.append(f"blocks.{layer}.hook_resid_mid")
            sites.append(f"blocks.{layer}.hook_resid_post")
        return sites
    if isinstance(model, LSTM):
        sites = ["hook_embed"]
        for layer, block in enumerate(model.layers):
            sites.append(f"layers.{layer}.hook_hidden")
            if block.cell == "lstm":
                sites.append(f"layers.{layer}.hook_cell")
        return sites
    if isinstance(model, MLP):
        return ["hook_embed", *[f"blocks.{layer}.hook_post" for layer in range(len(model.blocks))]]
    raise ValueError(f"alignment covers transformer, LSTM and MLP networks, not {type(model).__name__}")


def _as_positions(act: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """A site's activation as (batch, positions, d): an MLP's is one vector per example."""
    return act.reshape(act.shape[0], 1, -1) if isinstance(model, MLP) else act


def site_activations(model: nn.Module, data: AlignData, sites: list[str]) -> dict[str, np.ndarray]:
    """Activations (n, positions, d) at each site, every input position (no readout shortcut)."""
    device = model_device(model)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in sites}
    for i in range(0, len(data), CHUNK):
        X = torch.as_tensor(data.tokens[i : i + CHUNK], device=device)
        _, cache = run_with_cache(model, X, None, names=sites)
        for s in sites:
            parts[s].append(_as_positions(cache[s], model).double().cpu().numpy())
    return {s: np.concatenate(p) for s, p in parts.items()}


def example_positions(model: nn.Module, data: AlignData) -> np.ndarray:
    """Where each row's per-example values are read: the readout position, the single vector of an
    MLP, else the last real position."""
    if isinstance(model, MLP):
        return np.zeros(len(data), np.int64)
    if data.readout is not None:
        return data.readout.astype(np.int64)
    return np.maximum(data.real.sum(axis=1) - 1, 0).astype(np.int64)


def _logits(model: nn.Module, data: AlignData, rows: np.ndarray, site: str | None, change) -> torch.Tensor:
    """The network's logits at the output positions of ``rows`` (m, P, C), with ``change`` (a function
    of the site's activation (rows, positions, d), the rows' indices and, inside an LSTM's recurrence,
    the step) applied at ``site``; differentiable (DAS trains through it)."""
    X = torch.as_tensor(data.tokens[rows], device=model_device(model))
    recurrent = _recurrent(model, site)
    if site is None:
        logits = model(X, None)
    elif recurrent is not None:
        # recurrent_logits calls the change once per step, in order: count the steps.
        steps = iter(range(X.shape[1]))

        def inside(h: torch.Tensor) -> torch.Tensor:
            return change(h[:, None], rows, next(steps))[:, 0]

        logits = recurrent_logits(model, X, None, recurrent, inside)
    else:

        def hook(act: torch.Tensor, _name: str) -> torch.Tensor:
            return change(_as_positions(act, model), rows, None).reshape(act.shape)

        with hooks(model, {site: hook}):
            logits = model(X, None)
    if isinstance(model, MLP):
        return logits
    if data.readout is not None:
        return logits[torch.arange(len(rows)), torch.as_tensor(data.readout[rows])][:, None]
    return logits[:, : data.X.shape[1]]


def predictions(model: nn.Module, data: AlignData, site: str | None = None, change=None) -> np.ndarray:
    """The network's predicted class at each output position (n, P), with ``change`` at ``site``
    (see :func:`_logits`)."""
    if isinstance(model, LSTM) and _recurrent(model, site) is not None and len(data):
        X = torch.as_tensor(data.tokens[: min(len(data), 16)], device=model_device(model))
        with torch.no_grad():
            if not torch.allclose(recurrent_logits(model, X, None), model(X, None), atol=1e-5):
                raise ValueError("mechanisms.probes.recurrent_logits no longer mirrors baselines.lstm")
    out = []
    with torch.no_grad():
        for i in range(0, len(data), CHUNK):
            rows = np.arange(i, min(i + CHUNK, len(data)))
            out.append(_logits(model, data, rows, site, change).argmax(-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, data.scored.shape[1]), np.int64)


def _recurrent(model: nn.Module, site: str | None) -> tuple[int, str] | None:
    if site is None or not isinstance(model, LSTM) or not site.startswith("layers."):
        return None
    _, layer, hook = site.split(".")
    return int(layer), hook.removeprefix("hook_")


@dataclass
class Variable:
    """A subexpression's values on the train and test rows, as integer labels, and where they live."""

    expression: Program
    per_position: bool
    train: np.ndarray  # (n,) or (n, k)
    test: np.ndarray
    train_real: np.ndarray  # same shape, bool: where the value is defined (not padding)
    test_real: np.ndarray


def _labels(value: np.ndarray, data: AlignData) -> tuple[np.ndarray, np.ndarray, bool]:
    """Integer labels of a value, where it is defined, and whether it is per position ((n, k) like
    the inputs) or per example ((n,))."""
    labels = np.asarray(value).astype(np.int64)
    if labels.ndim == 2 and labels.shape == data.X.shape:
        return labels, data.real.copy(), True
    return labels.reshape(len(labels)), np.ones(len(labels), bool), False


def program_variables(program: Program, dsl: DSL, train: AlignData, test: AlignData) -> list[Variable]:
    """The aligned subexpressions' labels on both splits (per position: (n, k) with realness). The
    program's own per-position output counts only where the task scores outputs: elsewhere the
    network was never asked for it."""
    tr_env, te_env = dsl.env(train.X), dsl.env(test.X)
    tr_vals, te_vals = subexpression_values(program, tr_env), subexpression_values(program, te_env)
    out = []
    for sub in aligned_subexpressions(program):
        a, a_real, per_position = _labels(tr_vals[sub], train)
        b, b_real, _ = _labels(te_vals[sub], test)
        if per_position and sub == program and train.scored.shape == a.shape and test.scored.shape == b.shape:
            a_real, b_real = a_real & train.scored, b_real & test.scored
        out.append(Variable(sub, per_position, a, b, a_real, b_real))
    return out


def _samples(
    model, acts: np.ndarray, data: AlignData, var_labels: np.ndarray, real: np.ndarray, per_position: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (m, d), labels (m,), and (row, position) of each sample."""
    if per_position:
        rows, pos = np.nonzero(real)
        return acts[rows, pos], var_labels[rows, pos], np.stack([rows, pos], 1)
    pos = example_positions(model, data)
    rows = np.arange(len(data))
    return acts[rows, pos], var_labels, np.stack([rows, pos], 1)


def _cap(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, MAX_PROBE_SAMPLES, replace=False)) if n > MAX_PROBE_SAMPLES else np.arange(n)


def _control(var: Variable, train: AlignData, test: AlignData, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n_tokens = int(max(train.X.max(initial=0), test.X.max(initial=0))) + 1
    if var.per_position:
        width = max(train.X.shape[1], test.X.shape[1])
        table = control_table(var.train[var.train_real], n_tokens, width, seed)
        return tuple(table[D.X, np.arange(D.X.shape[1])] for D in (train, test))  # type: ignore[return-value]
    # Per example, an input's type is its first token, last real token and length: with one token
    # alone, two or three types would often all draw one label, a control any probe gets right.
    kinds = [_example_types(D) for D in (train, test)]
    _, index = np.unique(np.concatenate([k for k in kinds]), axis=0, return_inverse=True)
    table = control_table(var.train, int(index.max()) + 1, 1, seed)[:, 0]
    labels = table[index.reshape(-1)]
    return labels[: len(train)], labels[len(train) :]


def _example_types(data: AlignData) -> np.ndarray:
    """(first token, last real token, length) of each row (n, 3)."""
    real = data.real
    length = real.sum(axis=1)
    last = data.X[np.arange(len(data)), np.maximum(length - 1, 0)]
    return np.stack([data.X[:, 0], last, length], axis=1)


def probe_row(
    model, site: str, var: Variable, train: AlignData, test: AlignData, tr_acts, te_acts, seed: int
) -> dict:
    """Probe and control accuracy of ``var`` at ``site``, and the aligned subspace (k, d)."""
    rng = np.random.default_rng(seed)
    tr_F, tr_y, _ = _samples(model, tr_acts, train, var.train, var.train_real, var.per_position)
    te_F, te_y, _ = _samples(model, te_acts, test, var.test, var.test_real, var.per_position)
    a, b = _cap(len(tr_y), rng), _cap(len(te_y), rng)
    accuracy, _ = fit_probe(tr_F[a], tr_y[a], te_F[b], te_y[b])
    tr_c, te_c = _control(var, train, test, seed + 7919)
    if var.per_position:
        tr_c, te_c = tr_c[var.train_real], te_c[var.test_real]
    control, _ = fit_probe(tr_F[a], tr_c[a], te_F[b], te_c[b])
    basis = probe_subspace(tr_F[a], tr_y[a]) if len(np.unique(tr_y[a])) > 1 else tr_F[:0]
    return {
        "site": site,
        "probe_accuracy": accuracy,
        "control_accuracy": control,
        "selectivity": accuracy - control,
        "basis": basis[:MAX_DIMENSION],
    }


def _most_causal(rows: list[dict]) -> dict | None:
    """The site where the probe-space swap has the highest IIA (the earliest of ties), with it."""
    scored = [r for r in rows if r["iia"] is not None]
    if not scored:
        return None
    top = max(scored, key=lambda r: r["iia"])
    return {"site": top["site"], "iia": top["iia"]}


def best_site(rows: list[dict]) -> dict:
    """The earliest row whose selectivity is within ``SITE_TOLERANCE`` of the largest."""
    top = max(r["selectivity"] for r in rows)
    return next(r for r in rows if r["selectivity"] >= top - SITE_TOLERANCE)


@dataclass
class Pairs:
    """Interchange pairs on the test rows: base row, source row, the position swapped (per-position
    variables; else the example positions), and the program's counterfactual output."""

    base: np.ndarray
    source: np.ndarray
    base_pos: np.ndarray
    source_pos: np.ndarray
    counterfactual: np.ndarray  # (m, P) int64 labels at the output positions
    changed: np.ndarray  # (m,) bool: the program's output changes at a scored position


def make_pairs(
    program: Program, dsl: DSL, model, var: Variable, test: AlignData, n_pairs: int, seed: int
) -> Pairs:
    """``n_pairs`` (base, source) pairs of test rows drawn with ``seed``, and what the program says."""
    rng = np.random.default_rng(seed)
    n = len(test)
    base = rng.integers(0, n, n_pairs)
    source = (base + rng.integers(1, max(n, 2), n_pairs)) % n if n > 1 else base
    env = dsl.env(test.X[base])
    values = subexpression_values(program, dsl.env(test.X))[var.expression]
    if var.per_position:
        both = var.test_real[base] & var.test_real[source]
        has = both.any(axis=1)
        # A random position real in both rows (rows without one keep position 0 and are dropped).
        score = np.where(both, rng.random(both.shape), -1.0)
        pos = np.argmax(score, axis=1)
        where = np.zeros(both.shape, bool)
        where[np.arange(n_pairs), pos] = has
        base_pos = source_pos = pos
    else:
        has = np.ones(n_pairs, bool)
        where = np.ones(n_pairs, bool)
        positions = example_positions(model, test)
        base_pos, source_pos = positions[base], positions[source]
    out = intervene(program, env, var.expression, values[source], where)
    before = program.evaluate(env)
    cf, orig = _outputs(out, dsl, base), _outputs(before, dsl, base)
    scored = test.scored[base] & (cf >= 0)
    changed = has & ((cf != orig) & scored).any(axis=1)
    return Pairs(base, source, base_pos, source_pos, np.where(scored, cf, -1), changed)


def _outputs(values: np.ndarray, dsl: DSL, rows: np.ndarray) -> np.ndarray:
    """Program outputs as labels shaped like the network's predictions (m, P); -1 where the program
    gives no label (no token selected, padding): no network output can equal that, so it is not
    scored."""
    labels = dsl.decode(np.asarray(values))
    return labels.reshape(len(rows), -1) if labels.ndim == 1 else labels


def swap(U: torch.Tensor, source: torch.Tensor, positions: torch.Tensor):
    """The change that replaces the component in span(``U``) (k, d, orthonormal rows) of each row's
    activation at its position in ``positions`` (m,) by that of ``source`` (m, d)."""

    def change(act: torch.Tensor, rows: np.ndarray, step: int | None) -> torch.Tensor:
        r = torch.as_tensor(rows)
        p = positions[r]
        if step is not None:  # inside the recurrence: only the rows swapped at this step
            r = r[p == step]
            if not len(r):
                return act
            p = torch.zeros_like(r)
        act = act.clone()
        local = r - int(rows[0])
        x = act[local, p]
        W = U.to(x)
        act[local, p] = x + ((source[r].to(x) - x) @ W.T) @ W
        return act

    return change


def _pair_inputs(pairs: Pairs, keep: np.ndarray, acts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(acts[pairs.source[keep], pairs.source_pos[keep]]), torch.as_tensor(
        pairs.base_pos[keep]
    )


def interchange_iia(
    model, site: str, basis: np.ndarray, pairs: Pairs, test: AlignData, te_acts: np.ndarray
) -> float | None:
    """IIA of a swap of the ``basis`` (k, d) component at ``site`` over the pairs that change the
    program's output; None when there is no such pair or no subspace."""
    keep = np.flatnonzero(pairs.changed)
    if not len(keep) or not len(basis):
        return None
    src, pos = _pair_inputs(pairs, keep, te_acts)
    change = swap(torch.as_tensor(np.asarray(basis)), src, pos)
    pred = predictions(model, test.rows(pairs.base[keep]), site, change)
    want = pairs.counterfactual[keep]
    agree = ((pred == want) | (want < 0)).all(axis=1)
    return float(agree.mean())


def das_basis(
    model,
    site: str,
    k: int,
    pairs: Pairs,
    train: AlignData,
    tr_acts: np.ndarray,
    seed: int,
    steps: int = DAS_STEPS,
) -> np.ndarray:
    """A k-dimensional subspace (k, d) at ``site`` learned as in DAS: an orthogonal rotation
    (``torch.nn.utils.parametrizations.orthogonal``) whose first k coordinates are swapped, trained
    (Adam, ``steps`` full-batch steps) so that the network's output after the swap is the program's
    counterfactual output (cross-entropy at the scored positions), on training pairs only."""
    keep = np.flatnonzero((pairs.counterfactual >= 0).any(axis=1))
    d = tr_acts.shape[-1]
    if not len(keep) or not 0 < k <= d:
        return np.zeros((0, d))
    torch.manual_seed(seed)  # the rotation's initial weights
    rotation = torch.nn.utils.parametrizations.orthogonal(nn.Linear(d, d, bias=False).double())
    opt = torch.optim.Adam(rotation.parameters(), lr=DAS_LR)
    src, pos = _pair_inputs(pairs, keep, tr_acts)
    data = train.rows(pairs.base[keep])
    want = torch.as_tensor(pairs.counterfactual[keep])
    rows = np.arange(len(keep))
    frozen = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in frozen:
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            U = rotation.weight[:k]
            logits = _logits(model, data, rows, site, swap(U, src, pos))
            mask = want >= 0
            loss = nn.functional.cross_entropy(logits[mask].double(), want[mask])
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p, was in frozen:
            p.requires_grad_(was)
    with torch.no_grad():
        return rotation.weight[:k].detach().cpu().numpy()


def selector_table(model, program: Program, dsl: DSL, data: AlignData) -> list[dict]:
    """Per selector: every head's attention share on the selected keys (from the queries where it
    selects any; with per-position outputs, the scored queries), and the best head."""
    sels = selectors(program)
    if not sels or not isinstance(model, Transformer):
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


def untrained_like(model: nn.Module, seed: int) -> nn.Module:
    """A freshly initialized network of ``model``'s architecture (the untrained baseline)."""
    fresh = type(model)(model.cfg, torch.Generator().manual_seed(seed))
    return fresh.to(model_device(model)).eval()


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
    rows_out, skipped = [], []
    variables = program_variables(program, dsl, train, test)
    if isinstance(model, MLP):  # one vector per example: a value per position has nowhere to live
        skipped = [str(v.expression) for v in variables if v.per_position]
        variables = [v for v in variables if not v.per_position]
    for i, var in enumerate(variables):
        s = seed + 101 * (i + 1)
        rows = [probe_row(model, site, var, train, test, tr_acts[site], te_acts[site], s) for site in sites]
        pairs = make_pairs(program, dsl, model, var, test, n_pairs, s)
        for r in rows:
            r["iia"] = interchange_iia(model, r["site"], r["basis"], pairs, test, te_acts[r["site"]])
        best = best_site(rows)
        site, k = best["site"], len(best["basis"])
        das_iia = das_untrained = random_iia = untrained_iia = None
        if das and k:
            train_pairs = make_pairs(program, dsl, model, var, train, n_pairs, s + 1)
            learned = das_basis(model, site, k, train_pairs, train, tr_acts[site], s)
            das_iia = interchange_iia(model, site, learned, pairs, test, te_acts[site])
        if baselines and k:
            d = best["basis"].shape[1]
            draws = [
                interchange_iia(model, site, random_directions(d, k, rng), pairs, test, te_acts[site])
                for _ in range(N_RANDOM)
            ]
            draws = [v for v in draws if v is not None]
            random_iia = float(np.mean(draws)) if draws else None
            u_tr = site_activations(untrained, train, [site])[site]
            u_te = site_activations(untrained, test, [site])[site]
            u_row = probe_row(untrained, site, var, train, test, u_tr, u_te, s)
            untrained_iia = interchange_iia(untrained, site, u_row["basis"], pairs, test, u_te)
            if das:  # DAS trains a map: on an untrained network it shows what training alone finds
                u_learned = das_basis(untrained, site, k, train_pairs, train, u_tr, s)
                das_untrained = interchange_iia(untrained, site, u_learned, pairs, test, u_te)
        rows_out.append(
            {
                "expression": str(var.expression),
                "type": var.expression.type.name,
                "per_position": var.per_position,
                "bits": prior.program_bits(var.expression),
                "site": best["site"],
                "probe_accuracy": best["probe_accuracy"],
                "control_accuracy": best["control_accuracy"],
                "selectivity": best["selectivity"],
                "dimension": k,
                "iia": best["iia"],
                "iia_das": das_iia,
                "iia_das_untrained": das_untrained,
                "iia_random": random_iia,
                "iia_untrained": untrained_iia,
                "pairs": int(pairs.changed.sum()),
                "iia_site": _most_causal(rows),
                "by_site": [
                    {
                        key: r[key]
                        for key in ("site", "probe_accuracy", "control_accuracy", "selectivity", "iia")
                    }
                    for r in rows
                ],
            }
        )
    return {
        "program": str(program),
        "bits": prior.program_bits(program),
        "sites": sites,
        "subexpressions": rows_out,
        "selectors": selector_table(model, program, dsl, test),
        "skipped": skipped,
    }


def aligned_count(result: dict, threshold: float = ALIGNED_IIA) -> tuple[int, int]:
    """(k, m): how many of the m subexpressions have IIA ≥ ``threshold`` at their best site."""
    subs = result["subexpressions"]
    return sum(1 for s in subs if s["iia"] is not None and s["iia"] >= threshold), len(subs)
