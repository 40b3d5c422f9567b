"""The Fourier view of modular arithmetic (Nanda et al. 2023): basis, key frequencies, restricted logits.

Everything here is a function of plain arrays over the p² input pairs ``(a, b)`` in row-major order (row
``a * p + b``), so that it checks the same way on a hand-built network and a trained one:

* :func:`fourier_basis`: a constant row 1/√p, then cos/sin(2πkx/p) for k = 1..(p−1)/2, each normalized
  (orthonormal for odd p);
* :func:`frequency_terms` / :func:`neuron_frequencies` / :func:`key_frequencies`: per neuron and frequency k
  the share of its (mean-centred) variance in the 2-D terms {const, cos k, sin k} × {const, cos k, sin k};
  a neuron's frequency is the argmax, the key frequencies are the distinct winners (no threshold);
* :func:`embedding_spectrum`: each frequency's share of the embedding's squared norm;
* :func:`logit_measures`: restricted logits (only the projections on cos/sin(w(a±b)) for key w, plus the
  mean over inputs) and excluded logits (those projections removed), with their losses and accuracies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Sign of b in the argument w(a ± b) that the logits of each covered operation are built from.
OP_SIGN = {"x+y": 1, "x-y": -1}


def n_frequencies(p: int) -> int:
    """The number of non-constant frequencies over Z_p for odd p: (p − 1) / 2."""
    if p < 3 or p % 2 == 0:
        raise ValueError(f"the Fourier basis here needs an odd modulus p >= 3, got {p}")
    return (p - 1) // 2


def fourier_basis(p: int) -> np.ndarray:
    """The orthonormal Fourier basis over Z_p as rows (p, p): const, cos 1, sin 1, ..., cos K, sin K."""
    K = n_frequencies(p)
    x = np.arange(p)
    k = np.arange(1, K + 1)[:, None]
    rows = np.empty((p, p))
    rows[0] = 1.0
    rows[1::2] = np.cos(2 * np.pi * k * x / p)
    rows[2::2] = np.sin(2 * np.pi * k * x / p)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def basis_labels(p: int) -> list[str]:
    """Names of :func:`fourier_basis`'s rows: ``const``, ``cos 1``, ``sin 1``, ..."""
    return ["const"] + [f"{f} {k}" for k in range(1, n_frequencies(p) + 1) for f in ("cos", "sin")]


def basis_frequencies(p: int) -> np.ndarray:
    """The frequency of each row of :func:`fourier_basis` (0 for the constant)."""
    return np.concatenate([[0], np.repeat(np.arange(1, n_frequencies(p) + 1), 2)])


def line_sums(grid: np.ndarray, p: int, sign: int) -> np.ndarray:
    """Sums of ``grid`` (p, p, ...) (axes a, b) along the lines a + sign·b ≡ s (mod p): (p, ...), row s."""
    a = np.arange(p)[:, None]
    b = (sign * (np.arange(p)[None, :] - a)) % p  # on line s (column) at row a: b = sign·(s − a)
    return grid[a, b].sum(axis=0)


def frequency_terms(acts: np.ndarray, p: int) -> np.ndarray:
    """The 2-D Fourier coefficients of each (mean-centred) column of ``acts`` (p², N) that belong to each
    frequency: (K, 8, N), frequency k + 1 at index k.

    Frequency k's terms are the products of {const, cos k, sin k} on the a axis with the same on the b
    axis, less const × const (zero once centred). The same 8-dimensional space is spanned by the
    orthonormal functions cos/sin of ka, kb, k(a + b) and k(a − b), whose coefficients are 1-D transforms
    of the row, column and (anti-)diagonal sums: O(p² N) rather than the full 2-D transform's O(p³ N).
    They are linear in ``acts``, so a rotation of neuron space rotates them alike (which
    :mod:`mechanisms.structure` relies on); their squares summed over the 8 give the variance (times p²)
    in frequency k.
    """
    K = n_frequencies(p)
    if acts.ndim != 2 or acts.shape[0] != p * p:
        raise ValueError(f"acts must have shape (p², N) = ({p * p}, N), got {acts.shape}")
    X = (acts - acts.mean(axis=0)).reshape(p, p, -1)
    sums = np.stack([X.sum(axis=1), X.sum(axis=0), line_sums(X, p, 1), line_sums(X, p, -1)])  # (4, p, N)
    coef = np.einsum("ts,gsn->gtn", fourier_basis(p)[1:], sums) / np.sqrt(p)  # (4, 2K, N): cos 1, sin 1, ...
    return coef.reshape(4, K, 2, -1).transpose(1, 0, 2, 3).reshape(K, 8, -1)


def frequency_variance(acts: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Each column's variance in each frequency's terms (K, N) and its total variance (N,) (both × p²)."""
    terms = frequency_terms(acts, p)
    total = ((acts - acts.mean(axis=0)) ** 2).sum(axis=0)
    return (terms**2).sum(axis=1), total


def variance_shares(power: np.ndarray, total: np.ndarray) -> np.ndarray:
    """``power`` (K, N) as shares of ``total`` (N,) (see :func:`frequency_variance`); 0 where a column has
    no variance at all."""
    scale = np.where(total > 0, total, 1.0)
    return np.where(total > 0, power / scale, 0.0)


def neuron_frequencies(acts: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Each neuron's best frequency (N,) (1..K) and the share of its variance in that frequency (N,)."""
    power, total = frequency_variance(acts, p)
    shares = variance_shares(power, total)
    best = shares.argmax(axis=0)
    return best + 1, shares[best, np.arange(shares.shape[1])]


#: A neuron names its best frequency a key frequency only when at least this share of its variance
#: lies there. A threshold fixed before any trained network was looked at, not a comparison with
#: random rotations of neuron space: rotating a layer whose neurons all share one frequency keeps that
#: frequency in every direction, so a one-frequency circuit would never stand out against rotations.
#: Fixed between the planted circuit's neurons, (u ± v)², which hold 0.8 of their variance in their
#: frequency, and untrained networks' neurons, whose best share was at most 0.59 (p = 23 to 59, 512
#: neurons, transformer and MLP, three seeds each); without it every neuron of a random network named
#: a frequency and 20 of 33 frequencies came out "key".
KEY_SHARE = 0.7


def key_frequencies(
    acts: np.ndarray, p: int, alive: np.ndarray | None = None, min_share: float = KEY_SHARE
) -> list[int]:
    """The distinct best frequencies of the ``alive`` neurons (all by default) that hold at least
    ``min_share`` of their neuron's variance (:data:`KEY_SHARE`), ascending."""
    best, share = neuron_frequencies(acts, p)
    if alive is not None:
        best, share = best[alive], share[alive]
    return sorted(int(k) for k in np.unique(best[share >= min_share]))


def key_variance_share(
    acts: np.ndarray, p: int, freqs: Sequence[int], alive: np.ndarray | None = None
) -> float:
    """The share of the (alive) neurons' summed variance that lies in the terms of the frequencies ``freqs``.

    Frequency blocks overlap only at const × const, which centring zeroes, so their variances add.
    """
    power, total = frequency_variance(acts if alive is None else acts[:, alive], p)
    denom = total.sum()
    return float(power[np.asarray(freqs, dtype=int) - 1].sum() / denom) if denom > 0 and len(freqs) else 0.0


def embedding_spectrum(W_E: np.ndarray, p: int) -> np.ndarray:
    """The share of the embedding's squared norm in each frequency (K + 1,): index 0 the constant, k the
    pair cos k, sin k. ``W_E`` (p, d): the embedding rows of the p operand tokens."""
    if W_E.shape[0] != p:
        raise ValueError(f"W_E must hold the p={p} operand rows, got {W_E.shape}")
    coef = fourier_basis(p) @ W_E  # (p, d)
    power = (coef**2).sum(axis=1)
    freq = basis_frequencies(p)
    per_freq = np.bincount(freq, weights=power, minlength=n_frequencies(p) + 1)
    total = power.sum()
    return per_freq / total if total > 0 else per_freq


def embedding_key_share(W_E: np.ndarray, p: int, freqs: Sequence[int]) -> float:
    """The share of the embedding's squared norm in the frequencies ``freqs``."""
    return float(embedding_spectrum(W_E, p)[np.asarray(freqs, dtype=int)].sum()) if len(freqs) else 0.0


def _check_frequencies(p: int, freqs: Sequence[int]) -> np.ndarray:
    K = n_frequencies(p)
    w = np.asarray(freqs, dtype=int).reshape(-1)
    if np.any((w < 1) | (w > K)) or len(set(w.tolist())) != len(w):
        raise ValueError(f"frequencies must be distinct and in 1..{K}, got {list(freqs)}")
    return w


def _op_sign(op: str) -> int:
    if op not in OP_SIGN:
        raise ValueError(f"key directions are defined for ops {', '.join(OP_SIGN)}, got {op!r}")
    return OP_SIGN[op]


def key_directions(p: int, freqs: Sequence[int], op: str = "x+y") -> np.ndarray:
    """Orthonormal directions in input space (2 |freqs|, p²): cos(w(a ± b)), sin(w(a ± b)) per key w, with
    ± the operation's sign (:data:`OP_SIGN`)."""
    sign, w = _op_sign(op), _check_frequencies(p, freqs)
    a, b = np.divmod(np.arange(p * p), p)
    angle = 2 * np.pi * w[:, None] * ((a + sign * b) % p) / p  # (|freqs|, p²)
    dirs = np.stack([np.cos(angle), np.sin(angle)], axis=1).reshape(2 * len(w), p * p)
    # Each has squared norm p²/2 for w != 0 (p odd), and distinct w are orthogonal.
    return dirs / np.sqrt(p * p / 2)


def split_logits(
    logits: np.ndarray, p: int, freqs: Sequence[int], op: str = "x+y"
) -> tuple[np.ndarray, np.ndarray]:
    """``logits`` (p², C) as ``(key, rest)``: the projection on :func:`key_directions` and what is left;
    ``key + rest == logits``.

    The key directions depend on (a, b) only through s = a ± b, so the projection is the 1-D projection of
    the sums along the lines s = const onto the key frequencies, spread back over each line (divided by
    its p points): O(p² C), without the (2 |freqs|, p²) direction matrix.
    """
    sign, w = _op_sign(op), _check_frequencies(p, freqs)
    if logits.ndim != 2 or logits.shape[0] != p * p:
        raise ValueError(f"logits must hold all p² = {p * p} pairs as rows, got {logits.shape}")
    B = fourier_basis(p)[np.stack([2 * w - 1, 2 * w], axis=1).reshape(-1)]  # (2 |freqs|, p)
    per_line = B.T @ (B @ line_sums(logits.reshape(p, p, -1), p, sign)) / p  # (p, C)
    a, b = np.divmod(np.arange(p * p), p)
    key = per_line[(a + sign * b) % p]
    return key, logits - key


def restricted_logits(logits: np.ndarray, p: int, freqs: Sequence[int], op: str = "x+y") -> np.ndarray:
    """Only the key-frequency part of the logits, plus each class's mean logit over the inputs (the key
    directions are orthogonal to the constant, so this is the mean of what was removed)."""
    return split_logits(logits, p, freqs, op)[0] + logits.mean(axis=0, keepdims=True)


def excluded_logits(logits: np.ndarray, p: int, freqs: Sequence[int], op: str = "x+y") -> np.ndarray:
    """The logits with their key-frequency part removed."""
    return split_logits(logits, p, freqs, op)[1]


def heldout_restricted_logits(
    logits: np.ndarray,
    rows: np.ndarray,
    p: int,
    freqs: Sequence[int],
    op: str = "x+y",
    basis: np.ndarray | None = None,
) -> np.ndarray:
    """The restricted logits of the pairs ``rows`` fitted from those rows alone: the least-squares fit of
    ``logits[rows]`` on the constant and the key directions restricted to ``rows`` (n_rows, C).

    Why: :func:`restricted_logits` projects over all p² pairs, and a projection on functions of a ± b
    averages each line a ± b = s, training pairs included — so a network that only memorized its training
    labels has restricted logits that classify every pair (the training labels of each line vote for it).
    Fitted on held-out pairs only, the key-frequency part carries just what the network computes there.
    ``basis``: :func:`heldout_basis` of these rows, when the caller already has it.
    """
    basis = heldout_basis(rows, p, freqs, op) if basis is None else basis
    return basis @ (basis.T @ logits[rows])


def heldout_basis(rows: np.ndarray, p: int, freqs: Sequence[int], op: str = "x+y") -> np.ndarray:
    """An orthonormal basis (n_rows, r) of the span of the constant and the key directions restricted to
    ``rows``: :func:`heldout_restricted_logits` is the projection onto it. Computed once, it serves every
    checkpoint of a network (the rows and frequencies do not change). Singular values below the cutoff of
    ``np.linalg.lstsq(rcond=None)`` are dropped, so the projection is that least-squares fit."""
    design = np.concatenate([np.full((1, p * p), 1.0 / p), key_directions(p, freqs, op)])[:, rows].T
    U, s, _ = np.linalg.svd(design, full_matrices=False)
    cutoff = np.finfo(design.dtype).eps * max(design.shape) * (s[0] if len(s) else 0.0)
    return U[:, s > cutoff]


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy, in float64 (late in grokking the loss falls below float32's resolution)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


def logit_measures(
    logits: np.ndarray,
    labels: np.ndarray,
    train_rows: np.ndarray,
    p: int,
    freqs: Sequence[int],
    op: str,
    heldout_rows: np.ndarray | None = None,
    heldout: np.ndarray | None = None,
) -> dict[str, float]:
    """Nanda et al.'s logit measures from the logits over all p² pairs (``labels`` (p²,)).

    ``loss``/``accuracy``: the full logits on all pairs; ``restricted_*``: :func:`restricted_logits` on all
    pairs (as Nanda et al. evaluate it); ``excluded_*``: :func:`excluded_logits` on the training pairs
    ``train_rows`` (indices a * p + b), where a network that memorizes keeps a low loss without the circuit.
    With ``heldout_rows`` (the test pairs), also ``heldout_restricted_*``: :func:`heldout_restricted_logits`
    on those rows, the control for the training labels' leak into the restricted logits; ``heldout``: their
    :func:`heldout_basis`, when the caller measures many networks on the same rows.
    """
    key, rest = split_logits(logits, p, freqs, op)
    restricted = key + logits.mean(axis=0, keepdims=True)
    out = {
        "loss": cross_entropy(logits, labels),
        "accuracy": accuracy(logits, labels),
        "restricted_loss": cross_entropy(restricted, labels),
        "restricted_accuracy": accuracy(restricted, labels),
        "excluded_loss": cross_entropy(rest[train_rows], labels[train_rows]),
        "excluded_accuracy": accuracy(rest[train_rows], labels[train_rows]),
    }
    if heldout_rows is not None:
        held = heldout_restricted_logits(logits, heldout_rows, p, freqs, op, basis=heldout)
        out["heldout_restricted_loss"] = cross_entropy(held, labels[heldout_rows])
        out["heldout_restricted_accuracy"] = accuracy(held, labels[heldout_rows])
    return out
