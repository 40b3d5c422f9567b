"""Structure of a layer of neurons: dead units, and whether the neuron basis is privileged.

"Privileged" follows Elhage et al. (2023): a statistic is computed in the neuron basis and compared with its
distribution over random rotations of neuron space (directions that mix neurons). Two statistics:

* the share of neurons with at least 90% of their variance in one frequency (the Fourier terms of
  :func:`mechanisms.fourier.frequency_terms`) — the test of "neurons vs random directions";
* the kurtosis of the activation vector across neurons, averaged over inputs (3 for a Gaussian vector; a
  basis in which few neurons carry each input scores higher).

Both are computed on the alive neurons' mean-centred activations, so that dead neurons (:func:`dead_neurons`)
and the shared mean activation do not enter either side of the comparison.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from mechanisms.fourier import frequency_terms, variance_shares

#: A neuron is dead when its post-activation is at most this on every input (a usual choice).
DEAD_EPS = 1e-6
#: A neuron (or direction) is single-frequency when at least this share of its variance is in one frequency.
SINGLE_FREQUENCY = 0.9
#: Rows of activations the rotation baseline of the kurtosis uses at most (each rotation costs rows × N²).
KURTOSIS_ROWS = 2048


def dead_neurons(acts: np.ndarray, eps: float = DEAD_EPS) -> np.ndarray:
    """Boolean (N,): the neurons whose post-activation is ≤ ``eps`` on every row of ``acts`` (n, N)."""
    return (acts <= eps).all(axis=0)


def random_rotation(n: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random orthogonal matrix (n, n): QR of a Gaussian matrix, signs fixed by R's diagonal."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def _best_shares(terms: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Each column's largest single-frequency share from its Fourier terms (K, 8, N) and variance (N,)."""
    return variance_shares((terms**2).sum(axis=1), total).max(axis=0)


def single_frequency_share(acts: np.ndarray, p: int, threshold: float = SINGLE_FREQUENCY) -> float:
    """The share of the columns of ``acts`` (p², N) with ≥ ``threshold`` of their variance in one
    frequency."""
    if acts.shape[1] == 0:
        return 0.0
    total = ((acts - acts.mean(axis=0)) ** 2).sum(axis=0)
    return float((_best_shares(frequency_terms(acts, p), total) >= threshold).mean())


def kurtosis(acts: np.ndarray) -> float | None:
    """Mean over rows of the kurtosis of the row across the columns of ``acts`` (n, N), columns mean-centred
    over rows first; rows with no spread are skipped. None when undefined (fewer than 2 columns)."""
    if acts.shape[1] < 2:
        return None
    X = acts - acts.mean(axis=0)
    d = X - X.mean(axis=1, keepdims=True)
    m2 = (d**2).mean(axis=1)
    keep = m2 > 1e-12 * max(float(m2.max()), 1e-300)
    if not keep.any():
        return None
    return float(((d[keep] ** 4).mean(axis=1) / m2[keep] ** 2).mean())


def rotation_baselines(
    acts: np.ndarray,
    p: int,
    rng: np.random.Generator,
    n_rotations: int = 100,
    threshold: float = SINGLE_FREQUENCY,
    max_rows: int = KURTOSIS_ROWS,
) -> dict[str, dict[str, float] | None]:
    """Both statistics for the directions of ``n_rotations`` random rotations of the columns' space (each
    rotation drawn once, used for both): ``{"single_frequency": {mean, sd}, "kurtosis": {mean, sd}}`` over
    rotations; mean and sd are None where the statistic is undefined (no rotation, or fewer than 2 columns
    for the kurtosis); with no column at all the single-frequency share is 0, as
    :func:`single_frequency_share` has it.

    The Fourier terms are linear in the activations, so :func:`single_frequency_share` of a rotation
    rotates the terms (K, 8, N) and the centred Gram matrix rather than re-transforming all p² rows. The
    kurtosis is a mean over rows: at most ``max_rows`` rows (drawn from ``rng``) enter it, since the rotated
    product costs rows × N² per rotation.
    """
    n = acts.shape[1]
    if n == 0 or n_rotations < 1:
        return {"single_frequency": _mean_sd([0.0] if n == 0 else []), "kurtosis": _mean_sd([])}
    X = acts - acts.mean(axis=0)
    terms = frequency_terms(acts, p)
    flat = terms.reshape(-1, n)  # one matrix product per rotation rather than K small ones
    gram = X.T @ X
    rows = X if len(X) <= max_rows else X[rng.choice(len(X), max_rows, replace=False)]
    single, kurt = [], []
    with threadpool_limits(1):  # small QRs and products: more BLAS threads only contend (105 s vs 16 s)
        for _ in range(n_rotations):
            single_q, kurt_q = _rotated(gram, flat, terms.shape, rows, random_rotation(n, rng), threshold)
            single.append(single_q)
            kurt.append(kurt_q)
    return {"single_frequency": _mean_sd(single), "kurtosis": _mean_sd([v for v in kurt if v is not None])}


def _rotated(gram, flat, shape, rows, Q, threshold) -> tuple[float, float | None]:
    """Both statistics of the directions of the rotation ``Q``."""
    total = ((gram @ Q) * Q).sum(axis=0)  # diag(Qᵀ G Q): each direction's variance
    return float((_best_shares((flat @ Q).reshape(shape), total) >= threshold).mean()), kurtosis(rows @ Q)


def _mean_sd(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "sd": None}
    return {"mean": float(np.mean(values)), "sd": float(np.std(values))}


def structure(acts: np.ndarray, p: int, seed: int = 0, n_rotations: int = 100) -> dict:
    """The structure summary of neurons ``acts`` (p², N) over all input pairs (JSON-able).

    ``n_neurons``, ``dead_neurons`` (count), ``single_frequency_neurons`` (share of the alive neurons) and
    ``single_frequency_random`` (the same for random directions: mean, sd), ``kurtosis`` and
    ``kurtosis_random`` (mean, sd); the random entries over ``n_rotations`` rotations seeded by ``seed``
    (:func:`rotation_baselines`); ``kurtosis`` and the means and sds are None where undefined.
    """
    dead = dead_neurons(acts)
    alive = acts[:, ~dead].astype(np.float64)
    rotated = rotation_baselines(alive, p, np.random.default_rng(seed), n_rotations)
    return {
        "n_neurons": int(acts.shape[1]),
        "dead_neurons": int(dead.sum()),
        "single_frequency_neurons": single_frequency_share(alive, p),
        "single_frequency_random": rotated["single_frequency"],
        "kurtosis": kurtosis(alive),
        "kurtosis_random": rotated["kurtosis"],
    }
