"""mechanisms.modular on networks whose weights are set by hand to the trig algorithm, and on ones with none.

The planted networks compute, for key frequencies w, cos(w(a ± b)) and sin(w(a ± b)) from products of the
operands' cos/sin embeddings — each product uv as ((u + v)² − (u − v)²) / 4 with quadratic neurons — and read
the logit of c out as Σ_w cos(w(a ± b − c)). The MLP sees both embeddings at once; the transformer moves them
into separate subspaces with two heads that attend to the a and the b position.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from baselines.classic import LogisticLearner
from baselines.learners import LSTMLearner, MLPLearner, TransformerLearner
from mechanisms import fourier, modular
from mechanisms.plots_modular import top_neurons, write_plots
from tasks.modular import ModularTask

torch.manual_seed(0)

PRIMES = [5, 7, 11, 13, 17, 19, 23, 29, 31]
#: Logit scale of the planted readout: large enough that the loss is small, small enough for float32.
SCALE = 8.0
#: Attention score of the planted heads on their position (the others get 0): leaks e^-40 of the rest.
FOCUS = 40.0


def fitted(cls, task: ModularTask, seed: int = 0, **params):
    """A learner fitted for 0 steps (a seeded random initialization) on the task's whole training pool."""
    split = task.train_split(task.max_train, 0)
    learner = cls(d_vocab=task.p, n_classes=task.p, steps=0, device="cpu", random_state=seed, **params)
    return learner.fit(split.X, split.y), split


def trig_products(K: int, sign: int):
    """For each key frequency i the four products of the trig algorithm: (which of a's cos/sin, which of
    b's cos/sin, coefficient in cos(w(a ± b)), coefficient in sin(w(a ± b)))."""
    # cos(w(a ± b)) = cos a cos b ∓ sin a sin b;  sin(w(a ± b)) = sin a cos b ± cos a sin b
    for i in range(K):
        yield i, (0, 0, 1.0, 0.0)
        yield i, (1, 1, -sign, 0.0)
        yield i, (1, 0, 0.0, 1.0)
        yield i, (0, 1, 0.0, sign)


def plant_neurons(K: int, sign: int, a_dims: int, b_dims: int, d_in: int, n_dead: int):
    """Input weights (d_in, 8K + n_dead) and per-neuron readout coefficients (8K + n_dead, K, 2) of the
    quadratic neurons; a's cos/sin of frequency i sit at ``a_dims + 2i (+1)``, b's likewise. The last
    ``n_dead`` neurons read nothing (dead)."""
    d_mlp = 8 * K + n_dead
    W = np.zeros((d_in, d_mlp))
    read = np.zeros((d_mlp, K, 2))
    j = 0
    for i, (u, v, to_cos, to_sin) in trig_products(K, sign):
        for s in (1.0, -1.0):  # (u + v)² and (u − v)²: their difference is 4uv
            W[a_dims + 2 * i + u, j] = 1.0
            W[b_dims + 2 * i + v, j] = s
            read[j, i] = (s * to_cos / 4, s * to_sin / 4)
            j += 1
    return W, read


def trig_embedding(p: int, freqs: list[int]) -> np.ndarray:
    t = np.arange(p)
    return np.stack([f(2 * np.pi * w * t / p) for w in freqs for f in (np.cos, np.sin)], axis=1)


def class_readout(p: int, freqs: list[int]) -> np.ndarray:
    """(K, 2, p): the cos and sin of w·c for each class c, times the logit scale."""
    c = np.arange(p)
    return SCALE * np.stack([[np.cos(2 * np.pi * w * c / p), np.sin(2 * np.pi * w * c / p)] for w in freqs])


def _set(param: torch.nn.Parameter, value: np.ndarray) -> None:
    with torch.no_grad():
        param.copy_(torch.as_tensor(value, dtype=param.dtype))


def planted_mlp(task: ModularTask, freqs: list[int], n_dead: int = 0):
    p, K, sign = task.p, len(freqs), 1 if task.op == "x+y" else -1
    learner, split = fitted(
        MLPLearner, task, d_embed=2 * K, d_mlp=8 * K + n_dead, act="quadratic", use_bias=False
    )
    m = learner.model_
    _set(m.W_E, trig_embedding(p, freqs))
    W, read = plant_neurons(K, sign, 0, 2 * K, 4 * K, n_dead)  # the hidden layer sees [E[a], E[b]]
    _set(m.blocks[0].W, W)
    _set(m.W_U, np.einsum("nki,kic->nc", read, class_readout(p, freqs)))
    return learner, split


def planted_transformer(task: ModularTask, freqs: list[int], n_dead: int = 0):
    """Residual layout: E (token cos/sin) | A (a's, moved by head 0) | B (b's, head 1) | R (the MLP's
    cos/sin(w(a ± b))) | three one-hot positions."""
    p, K, sign = task.p, len(freqs), 1 if task.op == "x+y" else -1
    E, A, B, R, P = 0, 2 * K, 4 * K, 6 * K, 8 * K
    d_model, d_head = 8 * K + 3, 2 * K
    learner, split = fitted(
        TransformerLearner, task, n_layers=1, n_heads=2, d_model=d_model, d_head=d_head, d_mlp=8 * K + n_dead,
        act="quadratic", use_bias=False,
    )  # fmt: skip
    m = learner.model_
    W_E = np.zeros((p + 1, d_model))
    W_E[:p, E : E + 2 * K] = trig_embedding(p, freqs)  # the "=" row stays zero
    _set(m.W_E, W_E)
    W_pos = np.zeros(tuple(m.W_pos.shape))
    W_pos[:3, P : P + 3] = np.eye(3)
    _set(m.W_pos, W_pos)
    attn = m.blocks[0].attn
    W_Q, W_K = np.zeros((2, d_model, d_head)), np.zeros((2, d_model, d_head))
    W_V, W_O = np.zeros((2, d_model, d_head)), np.zeros((2, d_head, d_model))
    for h, dest in ((0, A), (1, B)):
        W_Q[h, P + 2, 0] = 1.0  # the "=" query ...
        W_K[h, P + h, 0] = FOCUS * math.sqrt(d_head)  # ... scores FOCUS on position h, 0 elsewhere
        W_V[h, E : E + 2 * K] = np.eye(2 * K)
        W_O[h, :, dest : dest + 2 * K] = np.eye(2 * K)
    for name, value in (("W_Q", W_Q), ("W_K", W_K), ("W_V", W_V), ("W_O", W_O)):
        _set(getattr(attn, name), value)
    W_in, read = plant_neurons(K, sign, A, B, d_model, n_dead)
    _set(m.blocks[0].mlp.W_in, W_in)
    W_out = np.zeros((8 * K + n_dead, d_model))
    W_out[:, R : R + 2 * K] = read.reshape(len(read), 2 * K)
    _set(m.blocks[0].mlp.W_out, W_out)
    W_U = np.zeros((d_model, p))
    W_U[R : R + 2 * K] = class_readout(p, freqs).reshape(2 * K, p)
    _set(m.W_U, W_U)
    return learner, split


PLANTERS = {"mlp": planted_mlp, "transformer": planted_transformer}


@st.composite
def planted_cases(draw):
    p = draw(st.sampled_from(PRIMES))
    K = (p - 1) // 2
    freqs = sorted(draw(st.lists(st.integers(1, K), min_size=1, max_size=min(3, K), unique=True)))
    return p, freqs, draw(st.sampled_from(["x+y", "x-y"])), draw(st.sampled_from(sorted(PLANTERS)))


@settings(max_examples=24)
@given(planted_cases())
def test_planted_trig_network_is_analysed_as_its_frequencies(case):
    p, freqs, op, kind = case
    task = ModularTask(op=op, p=p, test_fraction=0.5)
    learner, split = PLANTERS[kind](task, freqs)
    assert (learner.predict(modular.all_pairs(p)) == task.reference(modular.all_pairs(p))).all()
    result = modular.analyse(learner, task, split, n_rotations=4)
    f, s = result["fourier"], result["structure"]
    assert f["key_frequencies"] == freqs
    assert f["restricted_accuracy"] == 1.0
    assert f["restricted_loss"] == pytest.approx(f["loss"], rel=1e-4, abs=1e-6)
    assert f["embedding_key_share"] == pytest.approx(1.0)
    # Each neuron (u ± v)² holds 2uv (variance 1) plus u², v² (variance 1/8 each, at frequency 2w).
    assert f["neuron_key_share"] >= 0.8 - 1e-6  # float32 weights
    assert f["excluded_loss"] > math.log(p) - 0.5  # nothing left to classify with once the circuit is gone
    assert s["n_neurons"] == 8 * len(freqs) and s["dead_neurons"] == 0


@pytest.mark.parametrize("kind", sorted(PLANTERS))
def test_planted_dead_neurons_are_counted_and_left_out(kind):
    task = ModularTask(op="x+y", p=23, test_fraction=0.5)
    learner, split = PLANTERS[kind](task, [3, 7], n_dead=5)
    s = modular.analyse(learner, task, split, n_rotations=4)
    assert s["structure"]["dead_neurons"] == 5 and s["structure"]["n_neurons"] == 21
    assert s["fourier"]["key_frequencies"] == [3, 7]  # a dead neuron's argmax would be frequency 1


@pytest.mark.parametrize("cls", [MLPLearner, TransformerLearner])
def test_random_network_shows_no_circuit(cls):
    """Find nothing where nothing is: an untrained network has no sparse set of frequencies that
    classifies."""
    task = ModularTask(op="x+y", p=31, test_fraction=0.5)
    learner, split = fitted(cls, task, seed=3, d_mlp=128)
    result = modular.analyse(learner, task, split, n_rotations=10)
    f, s = result["fourier"], result["structure"]
    assert f["key_frequencies"] == []  # no neuron holds KEY_SHARE of its variance in one frequency
    assert f["restricted_accuracy"] < 0.2
    assert f["heldout_restricted_accuracy"] < 0.2  # chance is 1/31
    assert s["single_frequency_neurons"] <= 0.05
    _, acts = modular.run_pairs(learner, 31)
    assert np.median(fourier.neuron_frequencies(acts, 31)[1]) < 0.5  # planted neurons: 0.8


def lookup_table_mlp(task: ModularTask, n_pairs: int = 250):
    """A hand-set memorizer: one ReLU neuron per training pair (a, b), firing only on that pair (its
    two one-hot embeddings summed, less 1.5), voting for the pair's label; nothing else."""
    split = task.train_split(n_pairs, 0)
    learner = MLPLearner(d_vocab=task.p, n_classes=task.p, steps=0, device="cpu", random_state=0,
                         d_embed=task.p, d_mlp=n_pairs, act="relu", use_bias=True)
    learner.fit(split.X, split.y)
    m, p = learner.model_, task.p
    W = np.zeros((2 * p, n_pairs))
    W[split.X[:, 0], np.arange(n_pairs)] = 1.0
    W[p + split.X[:, 1], np.arange(n_pairs)] = 1.0
    read = np.zeros((n_pairs, p))
    read[np.arange(n_pairs), split.y] = 10.0
    _set(m.W_E, np.eye(p))
    _set(m.blocks[0].W, W)
    _set(m.blocks[0].b, np.full(n_pairs, -1.5))
    _set(m.W_U, read)
    _set(m.b_U, np.zeros(p))
    learner.checkpoints_ = []  # saved without checkpoints: the final network is all there is
    return learner, split


def test_a_lookup_table_saved_without_checkpoints_reports_no_circuit():
    """Train 1.0, test at chance: no key frequency, and the held-out control (test pairs alone) at
    chance, where the restricted accuracy over all pairs would vote with the memorized labels."""
    torch.manual_seed(0)
    task = ModularTask(op="x+y", p=31, test_fraction=0.5)
    learner, split = lookup_table_mlp(task)
    assert learner.score(split.X, split.y) == 1.0
    result = modular.analyse(learner, task, split, n_rotations=4)
    f = result["fourier"]
    assert f["key_frequencies"] == []
    assert f["heldout_restricted_accuracy"] <= 0.1  # chance is 1/31


def test_progress_over_planted_checkpoints():
    task = ModularTask(op="x-y", p=17, test_fraction=0.5)
    learner, split = planted_transformer(task, [2, 5])
    init, _ = fitted(TransformerLearner, task, n_layers=1, n_heads=2, d_model=19, d_head=4, d_mlp=16,
                     act="quadratic", use_bias=False)  # fmt: skip
    planted = {k: v.clone() for k, v in learner.model_.state_dict().items()}
    learner.checkpoints_ = {0: init.model_.state_dict(), 7: planted, 3: init.model_.state_dict()}
    rows = modular.progress(learner, task, split)
    assert [r["step"] for r in rows] == [0, 3, 7]
    assert set(rows[0]) == {
        "step", "train_accuracy", "test_accuracy", "train_loss", "test_loss", "restricted_accuracy",
        "restricted_loss", "excluded_loss", "heldout_restricted_accuracy", "embedding_key_share",
        "weight_norm",
    }  # fmt: skip
    last = rows[-1]
    assert (
        last["restricted_accuracy"] == 1.0 and last["test_accuracy"] == 1.0 and last["train_accuracy"] == 1.0
    )
    assert last["embedding_key_share"] == pytest.approx(1.0) and last["heldout_restricted_accuracy"] == 1.0
    assert rows[0]["heldout_restricted_accuracy"] < 0.5
    assert modular.emergence_step(rows, key="heldout_restricted_accuracy") == 7
    assert rows[0]["restricted_accuracy"] < 0.5 and rows[0]["embedding_key_share"] < 0.5
    norm = math.sqrt(sum(float((t.double() ** 2).sum()) for t in planted.values()))
    assert last["weight_norm"] == pytest.approx(norm)
    assert modular.emergence_step(rows) == 7 and modular.generalization_step(rows) == 7
    # The frequencies measured against can be given; the planted ones are the final network's anyway.
    assert modular.progress(learner, task, split, key_frequencies=[2, 5]) == rows


def test_named_steps():
    def rows(restricted, test):
        return [
            {"step": s, "restricted_accuracy": r, "test_accuracy": t}
            for s, r, t in zip([0, 10, 20, 40, 80], restricted, test, strict=True)
        ]

    # Emergence must hold at every later checkpoint: a dip moves it past the dip.
    assert modular.emergence_step(rows([0.1, 0.995, 0.5, 0.99, 1.0], [0] * 5)) == 40
    assert modular.emergence_step(rows([0.1, 0.995, 0.999, 0.99, 0.9], [0] * 5)) is None
    assert modular.emergence_step(rows([1.0] * 5, [0] * 5)) == 0
    assert modular.generalization_step(rows([0] * 5, [0.2, 0.991, 0.5, 1.0, 1.0])) == 10
    assert modular.generalization_step(rows([0] * 5, [0.2, 0.98, 0.5, 0.9, 0.989])) is None
    assert modular.emergence_step([]) is None and modular.generalization_step([]) is None


def test_run_pairs_agrees_with_predict():
    task = ModularTask(op="x+y", p=13, test_fraction=0.5)
    for cls in (MLPLearner, TransformerLearner):
        learner, _ = fitted(cls, task, seed=1, d_mlp=32)
        logits, acts = modular.run_pairs(learner, 13)
        assert logits.shape == (169, 13) and acts.shape == (169, 32)
        assert (logits.argmax(1) == learner.predict(modular.all_pairs(13))).all()


@pytest.mark.parametrize("cls", [MLPLearner, TransformerLearner])
def test_checkpoint_logits_run_in_stacks_match_each_checkpoint_run_alone(cls, monkeypatch):
    task = ModularTask(op="x+y", p=13, test_fraction=0.5)
    learner, _ = fitted(cls, task, seed=1, d_mlp=32)
    states = [fitted(cls, task, seed=s, d_mlp=32)[0].model_.state_dict() for s in range(5)]
    monkeypatch.setattr(modular, "CHECKPOINT_STACK", 2)  # stacks of 2, 2 and 1
    stacked = modular.checkpoint_logits(learner, 13, states)
    assert stacked.shape == (5, 169, 13)
    for state, logits in zip(states, stacked, strict=True):
        learner.model_.load_state_dict(state)
        alone, _ = modular.run_pairs(learner, 13, neurons=False)
        np.testing.assert_allclose(logits, alone, rtol=1e-5, atol=1e-6)


@given(
    n_rows=st.integers(1, 60),
    freqs=st.sets(st.integers(1, 8), min_size=1, max_size=4),
    seed=st.integers(0, 99),
)
@settings(max_examples=30, deadline=None)
def test_heldout_basis_projects_as_the_least_squares_fit(n_rows, freqs, seed):
    p = 17
    rng = np.random.default_rng(seed)
    rows = rng.choice(p * p, size=n_rows, replace=False)
    logits = rng.normal(size=(p * p, p))
    directions = fourier.key_directions(p, sorted(freqs))
    design = np.concatenate([np.full((1, p * p), 1.0 / p), directions])[:, rows].T
    coef, *_ = np.linalg.lstsq(design, logits[rows], rcond=None)
    held = fourier.heldout_restricted_logits(logits, rows, p, sorted(freqs))
    np.testing.assert_allclose(held, design @ coef, atol=1e-9)


def test_two_layer_transformer_reads_the_last_block():
    task = ModularTask(op="x+y", p=11, test_fraction=0.5)
    learner, split = fitted(TransformerLearner, task, n_layers=2, d_model=32, d_mlp=24)
    assert modular.neuron_hook(learner.model_) == "blocks.1.mlp.hook_post"
    assert modular.run_pairs(learner, 11)[1].shape == (121, 24)
    assert modular.analyse(learner, task, split, n_rotations=2)["structure"]["n_neurons"] == 24


def test_uncovered_tasks_and_learners_are_refused_in_one_line():
    add = ModularTask(op="x+y", p=11, test_fraction=0.5)
    mlp, split = fitted(MLPLearner, add)
    cases = [
        (ModularTask(op="x*y", p=11, test_fraction=0.5), mlp),
        (add, LogisticLearner()),
        (add, LSTMLearner()),
        (add, TransformerLearner(attn_only=True)),
    ]
    for task, learner in cases:
        with pytest.raises(ValueError, match="covers modular tasks with op x\\+y or x-y") as err:
            modular.covered(task, learner)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="x\\*y"):
        modular.analyse(mlp, ModularTask(op="x*y", p=11, test_fraction=0.5), split)
    modular.covered(ModularTask(op="x-y", p=11, test_fraction=0.5), mlp)  # covered: no error


def test_plots_are_written(tmp_path):
    task = ModularTask(op="x+y", p=11, test_fraction=0.5)
    learner, split = planted_mlp(task, [2, 3])
    init, _ = fitted(MLPLearner, task, d_embed=4, d_mlp=16, act="quadratic", use_bias=False)
    learner.checkpoints_ = {0: init.model_.state_dict(), 10: learner.model_.state_dict()}
    rows = modular.progress(learner, task, split)
    paths = write_plots(learner, task, split, tmp_path / "plots", progress=rows, top=3)
    assert [p.name for p in paths] == ["embedding_spectrum.png", "neurons.png", "progress.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    assert top_neurons(np.stack([np.zeros(5), np.arange(5.0), 3 * np.arange(5.0)], 1), 2) == [2, 1]
