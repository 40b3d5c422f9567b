"""Program alignment, its data and sites: the splits as alignment reads them (:class:`AlignData`),
the sites and their activations, the program's subexpressions as labels (:class:`Variable`), and the
probe of a subexpression at a site with its control task (Hewitt & Liang 2019). See
:mod:`mechanisms.align` for the method."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from baselines.architectures import architecture, split_site
from baselines.hooks import run_with_cache
from mechanisms.heads import CHUNK, model_device
from mechanisms.probes import control_table, fit_probe, probe_subspace
from synth.dsl import DSL
from synth.intervene import aligned_subexpressions, subexpression_values
from synth.program import Program

SITE_TOLERANCE = 0.02
#: Samples per probe fit at most (pooled positions are subsampled, seeded): keeps one alignment
#: within the two minutes the issue allows on one core.
MAX_PROBE_SAMPLES = 3000


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
    """The sites probed, in forward order (:meth:`baselines.architectures.Architecture.alignment_sites`):
    a transformer's residual stream before the first block, and per block each head's output, the
    residual after attention, the MLP's input and output and the residual after the MLP; an LSTM's
    embedding and each layer's hidden and cell state (swapped inside the recurrence); an MLP's
    embedding and each hidden layer before and after its activation."""
    return architecture(model).alignment_sites(model)


def site_kinds(model: nn.Module) -> dict[str, str]:
    """The kind of each alignment site (``residual``, ``head_output``, ``mlp_pre``, ``cell``, ...)."""
    kinds = {site.name: site.kind for site in architecture(model).sites(model)}
    return {site: kinds[split_site(site)[0]] for site in alignment_sites(model)}


def site_activations(model: nn.Module, data: AlignData, sites: list[str]) -> dict[str, np.ndarray]:
    """Activations (n, positions, d) at each site, every input position (no readout shortcut); an
    architecture without positions has one vector per example (positions = 1)."""
    arch = architecture(model)
    device = model_device(model)
    parts: dict[str, list[np.ndarray]] = {s: [] for s in sites}
    points = list(dict.fromkeys(split_site(s)[0] for s in sites))  # a head site reads its hook's slice
    for i in range(0, len(data), CHUNK):
        X = torch.as_tensor(data.tokens[i : i + CHUNK], device=device)
        _, cache = run_with_cache(model, X, None, names=points)
        for s in sites:
            parts[s].append(arch.site_view(cache[split_site(s)[0]], s).double().cpu().numpy())
    return {s: np.concatenate(p) for s, p in parts.items()}


def example_positions(model: nn.Module, data: AlignData) -> np.ndarray:
    """Where each row's per-example values are read: the readout position, the single vector of an
    architecture without positions (an MLP), else the last real position."""
    if not architecture(model).has_positions:
        return np.zeros(len(data), np.int64)
    if data.readout is not None:
        return data.readout.astype(np.int64)
    return np.maximum(data.real.sum(axis=1) - 1, 0).astype(np.int64)


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
    """Probe and control accuracy of ``var`` at ``site``, and the aligned subspace (k, d): the
    probe's whole row space (k ≤ classes − 1 and ≤ the site's width; a token-valued variable over
    24 tokens needs 23 directions, which a fixed cap of 16 cut short)."""
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
        "basis": basis,
    }


def best_site(rows: list[dict], key: str | None = None) -> dict:
    """The earliest row whose ``key`` (an IIA on calibration pairs) is within ``SITE_TOLERANCE`` of
    the largest; where no row has one (no pair changes the program's output), or without ``key``,
    the earliest whose selectivity is within ``SITE_TOLERANCE`` of the largest."""
    scored = [r for r in rows if key is not None and r.get(key) is not None]
    if scored:
        top = max(r[key] for r in scored)
        return next(r for r in scored if r[key] >= top - SITE_TOLERANCE)
    top = max(r["selectivity"] for r in rows)
    return next(r for r in rows if r["selectivity"] >= top - SITE_TOLERANCE)
