"""Program alignment, the interventions: interchange pairs and what the program says of them
(:class:`Pairs`), the swap of a subspace at a site, its IIA (Geiger et al. 2021), and a subspace
learned as in DAS (Geiger et al. 2023). A change runs through the architecture's adapter
(:meth:`baselines.architectures.Architecture.run_with_change`): at an LSTM's state its hook fires
inside the recurrence. See :mod:`mechanisms.align` for the method."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from baselines.architectures import architecture
from mechanisms.align_sites import AlignData, Variable, example_positions
from mechanisms.heads import CHUNK, model_device
from synth.dsl import DSL
from synth.intervene import intervene, subexpression_values
from synth.program import Program

#: DAS training: full-batch Adam steps and learning rate (fixed on the planted network).
DAS_STEPS = 100
DAS_LR = 0.05


def _logits(model: nn.Module, data: AlignData, rows: np.ndarray, site: str | None, change) -> torch.Tensor:
    """The network's logits at the output positions of ``rows`` (m, P, C), with ``change`` (a function
    of the site's activation (rows, positions, d) and the rows' indices) applied at ``site``;
    differentiable (DAS trains through it)."""
    arch = architecture(model)
    X = torch.as_tensor(data.tokens[rows], device=model_device(model))
    at_rows = None if change is None else lambda act: change(act, rows)
    logits = arch.run_with_change(model, X, None, site, at_rows)
    if not arch.has_positions:
        return logits
    if data.readout is not None:
        return logits[torch.arange(len(rows)), torch.as_tensor(data.readout[rows])][:, None]
    return logits[:, : data.X.shape[1]]


def predictions(model: nn.Module, data: AlignData, site: str | None = None, change=None) -> np.ndarray:
    """The network's predicted class at each output position (n, P), with ``change`` at ``site``
    (see :func:`_logits`)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(data), CHUNK):
            rows = np.arange(i, min(i + CHUNK, len(data)))
            out.append(_logits(model, data, rows, site, change).argmax(-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, data.scored.shape[1]), np.int64)


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

    def change(act: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        r = torch.as_tensor(rows)
        p = positions[r]
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


def program_outputs(program: Program, dsl: DSL, data: AlignData) -> np.ndarray:
    """The program's output labels on ``data`` shaped like the network's predictions (n, P); -1
    where it gives none."""
    return _outputs(program.evaluate(dsl.env(data.X)), dsl, np.arange(len(data)))


@dataclass(frozen=True)
class Scores:
    """A swap's interchange scores: ``iia`` over the ``pairs`` whose program output changes, and
    ``iia_corrected`` over the ``pairs_corrected`` among them whose counterfactual output also
    differs from the network's own unswapped prediction on the base (a network that ignores the
    swap scores 0 there, whatever share of counterfactuals happens to be its fixed answer)."""

    iia: float | None
    iia_corrected: float | None
    pairs: int
    pairs_corrected: int


def interchange_scores(
    model,
    site: str,
    basis: np.ndarray,
    pairs: Pairs,
    test: AlignData,
    te_acts: np.ndarray,
    own: np.ndarray | None = None,
) -> Scores:
    """:class:`Scores` of a swap of the ``basis`` (k, d) component at ``site``; ``own``: the
    network's unswapped predictions on the rows of ``test`` (n, P), computed when not given. IIAs
    are None where there is no pair to score or no subspace."""
    keep = np.flatnonzero(pairs.changed)
    want = pairs.counterfactual[keep]
    base_pred = own[pairs.base[keep]] if own is not None else predictions(model, test.rows(pairs.base[keep]))
    differs = ((want != base_pred) & (want >= 0)).any(axis=1)
    if not len(keep) or not len(basis):
        return Scores(None, None, len(keep), int(differs.sum()))
    src, pos = _pair_inputs(pairs, keep, te_acts)
    change = swap(torch.as_tensor(np.asarray(basis)), src, pos)
    pred = predictions(model, test.rows(pairs.base[keep]), site, change)
    agree = ((pred == want) | (want < 0)).all(axis=1)
    corrected = float(agree[differs].mean()) if differs.any() else None
    return Scores(float(agree.mean()), corrected, len(keep), int(differs.sum()))


def interchange_iia(
    model, site: str, basis: np.ndarray, pairs: Pairs, test: AlignData, te_acts: np.ndarray
) -> float | None:
    """IIA of a swap of the ``basis`` (k, d) component at ``site`` over the pairs that change the
    program's output; None when there is no such pair or no subspace."""
    return interchange_scores(model, site, basis, pairs, test, te_acts).iia


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


def untrained_like(model: nn.Module, seed: int) -> nn.Module:
    """A freshly initialized network of ``model``'s architecture (the untrained baseline)."""
    return architecture(model).untrained(model, seed)
