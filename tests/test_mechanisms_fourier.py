"""mechanisms.fourier and mechanisms.structure on arrays whose answers are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mechanisms import fourier, structure

ODD_PRIMES = [p for p in range(3, 212) if all(p % d for d in range(2, int(p**0.5) + 1))]
SMALL_PRIMES = [p for p in ODD_PRIMES if p <= 31]


def grid(p: int) -> tuple[np.ndarray, np.ndarray]:
    """a and b of every pair, row-major (row a * p + b)."""
    return np.divmod(np.arange(p * p), p)


def wave(p: int, k: int, x: np.ndarray, phase: float = 0.0) -> np.ndarray:
    return np.cos(2 * np.pi * k * x / p + phase)


@given(st.sampled_from(ODD_PRIMES))
def test_basis_is_orthonormal_and_labelled(p):
    B = fourier.fourier_basis(p)
    np.testing.assert_allclose(B @ B.T, np.eye(p), atol=1e-10)
    labels, freqs = fourier.basis_labels(p), fourier.basis_frequencies(p)
    assert len(labels) == len(freqs) == p and labels[0] == "const" and freqs[0] == 0
    K = (p - 1) // 2
    assert labels[2 * K - 1 : 2 * K + 1] == [f"cos {K}", f"sin {K}"] and freqs[-1] == K
    np.testing.assert_allclose(B[0], 1 / np.sqrt(p))
    np.testing.assert_allclose(B[2 * K - 1], wave(p, K, np.arange(p)) / np.sqrt(p / 2), atol=1e-12)


def test_even_or_tiny_moduli_are_refused():
    for p in (2, 4, 1):
        with pytest.raises(ValueError, match="odd modulus"):
            fourier.fourier_basis(p)


@st.composite
def neuron_cases(draw):
    p = draw(st.sampled_from(SMALL_PRIMES))
    K = (p - 1) // 2
    return p, draw(st.integers(1, K)), draw(st.floats(0, 2 * np.pi)), draw(st.floats(0, 2 * np.pi))


@given(neuron_cases())
def test_a_neuron_of_one_frequency_has_all_its_variance_there(case):
    p, k, phi, psi = case
    a, b = grid(p)
    acts = np.stack(
        [
            wave(p, k, a + b, phi),  # the product terms
            wave(p, k, a, phi) + 0.5 * wave(p, k, b, psi) + 3.0,  # the single-axis terms, shifted
            wave(p, k, a, phi) * wave(p, k, b, psi),
        ],
        axis=1,
    )
    best, share = fourier.neuron_frequencies(acts, p)
    assert best.tolist() == [k] * 3
    np.testing.assert_allclose(share, 1.0, atol=1e-9)
    assert fourier.key_frequencies(acts, p) == [k]
    assert structure.single_frequency_share(acts, p) == 1.0


@settings(max_examples=30)
@given(st.sampled_from(SMALL_PRIMES), st.integers(0, 2**32 - 1))
def test_frequency_variances_split_the_variance(p, seed):
    rng = np.random.default_rng(seed)
    acts = rng.standard_normal((p * p, 4))
    power, total = fourier.frequency_variance(acts, p)
    assert power.shape == ((p - 1) // 2, 4)
    assert (power.sum(axis=0) <= total + 1e-9).all()  # the rest is in cross-frequency terms
    # Every frequency's block together with the cross terms is the whole (Parseval on the 2-D basis).
    B = fourier.fourier_basis(p)
    F = B @ (acts - acts.mean(0)).reshape(p, p, 4).transpose(2, 0, 1) @ B.T
    np.testing.assert_allclose((F**2).sum(axis=(1, 2)), total, rtol=1e-9)
    freqs = [1, (p - 1) // 2] if p > 3 else [1]
    share = fourier.key_variance_share(acts, p, freqs)
    assert share == pytest.approx(power[np.array(freqs) - 1].sum() / total.sum())


@settings(max_examples=30)
@given(st.sampled_from(SMALL_PRIMES), st.integers(0, 2**32 - 1))
def test_frequency_variance_is_the_3x3_block_of_the_2d_transform(p, seed):
    """The line-sum shortcut gives Nanda et al. (2023)'s definition: the energy of the 2-D transform in
    the entries {const, cos k, sin k} x {const, cos k, sin k} of the centred activations."""
    acts = np.random.default_rng(seed).standard_normal((p * p, 3)) ** 3
    B = fourier.fourier_basis(p)
    F = np.einsum("ia,jb,abn->ijn", B, B, (acts - acts.mean(0)).reshape(p, p, 3))
    expected = []
    for k in range(1, (p - 1) // 2 + 1):
        idx = np.array([0, 2 * k - 1, 2 * k])
        expected.append((F[idx[:, None], idx[None, :]] ** 2).sum(axis=(0, 1)))
    np.testing.assert_allclose(
        fourier.frequency_variance(acts, p)[0], np.array(expected), rtol=1e-9, atol=1e-9
    )


def test_a_neuron_of_two_frequencies_is_split_by_variance():
    p = 13
    a, b = grid(p)
    acts = (2 * wave(p, 2, a + b) + wave(p, 5, a - b))[:, None]  # variances 2 and 0.5
    best, share = fourier.neuron_frequencies(acts, p)
    assert best[0] == 2 and share[0] == pytest.approx(0.8)
    assert structure.single_frequency_share(acts, p) == 0.0
    assert fourier.key_variance_share(acts, p, [2, 5]) == pytest.approx(1.0)


def test_constant_neuron_has_no_share():
    acts = np.ones((25, 2))
    best, share = fourier.neuron_frequencies(acts, 5)
    assert (share == 0).all() and fourier.key_variance_share(acts, 5, [1]) == 0.0


@given(st.sampled_from(SMALL_PRIMES), st.integers(0, 2**32 - 1))
def test_embedding_spectrum(p, seed):
    rng = np.random.default_rng(seed)
    K = (p - 1) // 2
    k = int(rng.integers(1, K + 1))
    t = np.arange(p)
    W = np.stack([wave(p, k, t, 0.3), 2 * wave(p, k, t, 1.1)], axis=1)
    spectrum = fourier.embedding_spectrum(W, p)
    assert spectrum.shape == (K + 1,) and spectrum[k] == pytest.approx(1.0)
    assert fourier.embedding_key_share(W, p, [k]) == pytest.approx(1.0)
    noise = rng.standard_normal((p, 6))
    spectrum = fourier.embedding_spectrum(noise, p)
    assert spectrum.sum() == pytest.approx(1.0) and (spectrum >= 0).all()
    assert fourier.embedding_key_share(noise, p, []) == 0.0
    const = np.ones((p, 3))
    assert fourier.embedding_spectrum(const, p)[0] == pytest.approx(1.0)


@st.composite
def logit_cases(draw):
    p = draw(st.sampled_from(SMALL_PRIMES))
    K = (p - 1) // 2
    freqs = draw(st.lists(st.integers(1, K), min_size=0, max_size=K, unique=True))
    return p, freqs, draw(st.sampled_from(["x+y", "x-y"])), draw(st.integers(0, 2**32 - 1))


@settings(max_examples=50)
@given(logit_cases())
def test_restricted_and_excluded_parts_sum_back_to_the_logits(case):
    p, freqs, op, seed = case
    logits = np.random.default_rng(seed).standard_normal((p * p, p)) * 3
    key, rest = fourier.split_logits(logits, p, freqs, op)
    np.testing.assert_allclose(key + rest, logits, atol=1e-10)
    restricted = fourier.restricted_logits(logits, p, freqs, op)
    excluded = fourier.excluded_logits(logits, p, freqs, op)
    np.testing.assert_allclose(restricted - logits.mean(0, keepdims=True) + excluded, logits, atol=1e-10)
    # A projection: the key part is its own key part, and the rest has none.
    np.testing.assert_allclose(fourier.split_logits(key, p, freqs, op)[0], key, atol=1e-10)
    np.testing.assert_allclose(fourier.split_logits(rest, p, freqs, op)[0], 0, atol=1e-10)
    U = fourier.key_directions(p, freqs, op)
    np.testing.assert_allclose(U @ U.T, np.eye(2 * len(freqs)), atol=1e-10)
    np.testing.assert_allclose(key, U.T @ (U @ logits), atol=1e-10)  # the line-sum shortcut is the projection
    np.testing.assert_allclose(U.sum(axis=1), 0, atol=1e-9)  # orthogonal to the constant


@given(st.sampled_from(SMALL_PRIMES[2:]), st.sampled_from(["x+y", "x-y"]))
def test_the_trig_logits_are_all_key_part(p, op):
    a, b = grid(p)
    c = np.arange(p)
    target = (a + b) % p if op == "x+y" else (a - b) % p
    logits = 5 * (wave(p, 1, target[:, None] - c) + wave(p, 2, target[:, None] - c))
    key, rest = fourier.split_logits(logits, p, [1, 2], op)
    np.testing.assert_allclose(rest, 0, atol=1e-9)
    other = "x-y" if op == "x+y" else "x+y"
    assert np.abs(fourier.split_logits(logits, p, [1, 2], other)[1]).max() > 1  # the other op's directions
    m = fourier.logit_measures(logits, target, np.arange(0, p * p, 2), p, [1, 2], op)
    assert m["accuracy"] == m["restricted_accuracy"] == 1.0
    assert m["restricted_loss"] == pytest.approx(m["loss"])
    assert m["excluded_loss"] == pytest.approx(np.log(p))  # nothing left: uniform logits
    assert fourier.logit_measures(logits, target, np.arange(p * p), p, [3], op)["restricted_accuracy"] < 0.5


@pytest.mark.parametrize("n_key", [2, 18])
def test_a_memorizer_fools_the_restricted_accuracy_but_not_the_heldout_one(n_key):
    """Logits that only memorize the training labels (test pairs: noise) have, with many key frequencies,
    restricted logits that classify every pair — each line a + b = s averages its training labels into a
    vote — so restricted accuracy alone cannot tell a circuit from a lookup table (the fewer the key
    frequencies, the weaker the vote); fitted on held-out pairs, it can."""
    p = 37
    rng = np.random.default_rng(0)
    labels = (grid(p)[0] + grid(p)[1]) % p
    train = rng.permutation(p * p)[: int(0.4 * p * p)]
    test = np.setdiff1d(np.arange(p * p), train)
    logits = rng.standard_normal((p * p, p))
    logits[train, labels[train]] += 10.0
    freqs = list(range(1, n_key + 1))
    m = fourier.logit_measures(logits, labels, train, p, freqs, "x+y", heldout_rows=test)
    assert m["accuracy"] < 0.5
    if n_key == 18:
        assert m["restricted_accuracy"] > 0.95  # the leak
    assert m["heldout_restricted_accuracy"] < 0.1
    # A network that computes the answer everywhere keeps its held-out restricted accuracy.
    c = np.arange(p)
    trig = 5 * sum(wave(p, w, labels[:, None] - c) for w in (3, 7))
    held = fourier.logit_measures(trig, labels, train, p, [3, 7], "x+y", heldout_rows=test)
    assert held["heldout_restricted_accuracy"] == 1.0
    assert held["heldout_restricted_loss"] == pytest.approx(held["restricted_loss"], rel=1e-6)


def test_bad_frequencies_and_ops_are_refused():
    with pytest.raises(ValueError, match="distinct and in 1..5"):
        fourier.key_directions(11, [6])
    with pytest.raises(ValueError, match="distinct"):
        fourier.key_directions(11, [2, 2])
    with pytest.raises(ValueError, match="x\\+y, x-y"):
        fourier.key_directions(11, [1], "x*y")


@given(st.integers(0, 2**32 - 1))
def test_cross_entropy_and_accuracy_match_torch(seed):
    g = np.random.default_rng(seed)
    logits = g.standard_normal((40, 7)) * 10
    labels = g.integers(0, 7, 40)
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    assert fourier.cross_entropy(logits, labels) == pytest.approx(expected, rel=1e-12)
    assert fourier.accuracy(logits, labels) == float((logits.argmax(1) == labels).mean())


# --- structure -------------------------------------------------------------------------------------


def test_dead_neurons():
    acts = np.array([[0.0, 1e-7, 2.0, -3.0], [0.0, 1e-6, 0.0, 1e-5]])
    assert structure.dead_neurons(acts).tolist() == [True, True, False, False]


def test_random_rotation_is_orthogonal_and_seeded():
    q1 = structure.random_rotation(6, np.random.default_rng(4))
    np.testing.assert_allclose(q1 @ q1.T, np.eye(6), atol=1e-12)
    np.testing.assert_array_equal(q1, structure.random_rotation(6, np.random.default_rng(4)))


def test_single_frequency_basis_is_privileged_and_rotations_are_not():
    p = 23
    a, b = grid(p)
    rng = np.random.default_rng(0)
    freqs = [1, 4, 6, 9, 11]
    acts = np.stack([wave(p, freqs[n % 5], a + b, rng.uniform(0, 6.3)) for n in range(20)], axis=1)
    assert structure.single_frequency_share(acts, p) == 1.0
    rotated = structure.rotation_baselines(acts, p, np.random.default_rng(1), n_rotations=30)[
        "single_frequency"
    ]
    assert rotated["mean"] < 0.1 and rotated["sd"] >= 0
    # When every neuron has one frequency, a rotation cannot mix frequencies: the baseline stays at 1.
    same = np.stack([wave(p, 4, a + b, rng.uniform(0, 6.3)) for _ in range(6)], axis=1)
    rotated = structure.rotation_baselines(same, p, np.random.default_rng(1), n_rotations=10)[
        "single_frequency"
    ]
    assert rotated["mean"] == 1.0


def test_single_frequency_random_equals_rotating_the_activations():
    """The shortcut (rotate the Fourier terms) gives what rotating the activations themselves gives."""
    p = 11
    acts = np.random.default_rng(2).standard_normal((p * p, 5)) ** 2
    a, b = grid(p)
    acts[:, 0] = wave(p, 3, a - b)
    acts[:, 1] = wave(p, 3, a + b) + 0.01 * acts[:, 1]
    Qs = [structure.random_rotation(5, np.random.default_rng(9)) for _ in range(1)]
    direct = structure.single_frequency_share(acts @ Qs[0], p, threshold=0.3)
    fast = structure.rotation_baselines(acts, p, np.random.default_rng(9), n_rotations=1, threshold=0.3)
    # Equal up to rounding: the two paths multiply in different orders (BLAS may split them by thread).
    assert fast["single_frequency"]["mean"] == pytest.approx(direct, abs=1e-9)
    assert fast["kurtosis"]["mean"] == pytest.approx(structure.kurtosis(acts @ Qs[0]), rel=1e-9)
    assert fast["single_frequency"]["sd"] == fast["kurtosis"]["sd"] == 0.0


def test_kurtosis_sparse_basis_against_rotations():
    rng = np.random.default_rng(0)
    p, N = 53, 40
    n = p * p
    sparse = np.zeros((n, N))
    sparse[np.arange(n), rng.integers(0, N, n)] = rng.exponential(1.0, n) + 1  # one neuron per input
    k = structure.kurtosis(sparse)
    rotated = structure.rotation_baselines(sparse, p, np.random.default_rng(1), n_rotations=20)["kurtosis"]
    assert k > 10 and rotated["mean"] < 4 and k > rotated["mean"] + 10 * rotated["sd"]
    gauss = rng.standard_normal((n, N))
    assert structure.kurtosis(gauss) == pytest.approx(3 * N / (N + 2), rel=0.1)
    assert structure.kurtosis(np.zeros((5, 1))) is None and structure.kurtosis(np.zeros((5, 3))) is None


def test_structure_summary_keys_and_seed():
    p = 7
    acts = np.abs(np.random.default_rng(0).standard_normal((p * p, 9)))
    acts[:, 2] = 0.0
    s1 = structure.structure(acts, p, seed=5, n_rotations=5)
    assert s1 == structure.structure(acts, p, seed=5, n_rotations=5)
    assert set(s1) == {
        "n_neurons", "dead_neurons", "single_frequency_neurons", "single_frequency_random", "kurtosis",
        "kurtosis_random",
    }  # fmt: skip
    assert s1["n_neurons"] == 9 and s1["dead_neurons"] == 1
    assert set(s1["single_frequency_random"]) == set(s1["kurtosis_random"]) == {"mean", "sd"}
    # Undefined statistics keep their keys, with None (JSON null), so that readers can index them.
    none = structure.structure(np.zeros((p * p, 3)), p, n_rotations=5)
    assert none["dead_neurons"] == 3 and none["single_frequency_neurons"] == 0.0
    assert none["single_frequency_random"] == {"mean": 0.0, "sd": 0.0}
    assert none["kurtosis"] is None and none["kurtosis_random"] == {"mean": None, "sd": None}
