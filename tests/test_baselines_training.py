"""Training: masked losses, the evaluation schedule, overfitting, determinism, early stopping,
checkpoints, and batched training that matches one-by-one training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import baselines.training as training
from baselines import LSTMLearner, MLPLearner, TransformerLearner, fit_many
from baselines.batched import OVERHEAD_ROWS, plan_stacks
from baselines.training import eval_schedule, first_step, masked_stats

TINY = dict(steps=60, lr=1e-2, weight_decay=0.0, eval_points=8, random_state=0, device="cpu")
SMALL_TRANSFORMER = dict(d_model=16, n_heads=2, d_mlp=32) | TINY
LEARNERS = {
    "transformer": lambda **kw: TransformerLearner(**(SMALL_TRANSFORMER | kw)),
    "mlp": lambda **kw: MLPLearner(**(dict(d_embed=8, d_mlp=32) | TINY | kw)),
    "lstm": lambda **kw: LSTMLearner(**(dict(d_embed=8, d_hidden=16) | TINY | kw)),
}


def random_set(n: int, k: int = 3, vocab: int = 7, classes: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, vocab, size=(n, k))
    return X, rng.integers(0, classes, size=n)


@settings(max_examples=25)
@given(seed=st.integers(0, 10_000), noise=st.floats(-5, 5))
def test_unscored_entries_do_not_change_loss_or_accuracy(seed, noise):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 5, 4, 6, generator=g)
    T = torch.randint(-1, 6, (2, 5, 4), generator=g)
    moved = logits.clone()
    moved[T < 0] += noise
    for a, b in zip(masked_stats(logits, T), masked_stats(moved, T), strict=True):
        assert torch.allclose(a, b)


@settings(max_examples=50)
@given(steps=st.integers(0, 100_000), points=st.integers(1, 200))
def test_eval_schedule_is_sorted_and_spans_the_run(steps, points):
    sched = eval_schedule(steps, points)
    assert sched[0] == 0 and sched[-1] == steps
    assert sched == sorted(set(sched))
    assert len(sched) <= points + 2


def test_first_step():
    history = {"step": [0, 10, 100], "test_acc": [0.1, 0.995, 0.98]}
    assert first_step(history, "test_acc", 0.99) == 10
    assert first_step(history, "test_acc", 0.999) is None


@pytest.mark.parametrize("name", list(LEARNERS))
def test_a_tiny_model_overfits_a_tiny_set(name):
    X, y = random_set(12)
    learner = LEARNERS[name](steps=150).fit(X, y)
    assert learner.score(X, y) == 1.0
    assert learner.history_["train_acc"][-1] == 1.0
    assert learner.history_["step"][-1] == 150


@pytest.mark.parametrize("name", list(LEARNERS))
def test_same_seed_same_predictions(name):
    X, y = random_set(20)
    grid = random_set(50, seed=1)[0]
    a, b = LEARNERS[name]().fit(X, y), LEARNERS[name]().fit(X, y)
    assert np.array_equal(a.predict(grid), b.predict(grid))
    assert a.history_ == b.history_
    c = LEARNERS[name](random_state=1).fit(X, y)
    assert not all(
        torch.equal(p, q) for p, q in zip(a.model_.parameters(), c.model_.parameters(), strict=True)
    )


@pytest.mark.parametrize("name", list(LEARNERS))
@pytest.mark.parametrize("batch_size", [None, 8])
def test_batched_training_matches_one_by_one(name, batch_size):
    template = LEARNERS[name](steps=25, batch_size=batch_size, d_vocab=7, n_classes=4)
    X, y = random_set(30)
    sets = [(X[:5], y[:5]), (X[:12], y[:12]), (X, y)]
    seeds = [3, 4, 5]
    test = random_set(40, seed=9)
    together = fit_many(template, sets, seeds, eval_sets={"test": test})
    for (Xs, ys), seed, fitted in zip(sets, seeds, together, strict=True):
        alone = LEARNERS[name](steps=25, batch_size=batch_size, d_vocab=7, n_classes=4, random_state=seed)
        alone.fit(Xs, ys, eval_sets={"test": test})
        for key, value in alone.model_.state_dict().items():
            assert torch.allclose(fitted.model_.state_dict()[key], value, atol=1e-4), key
        assert np.allclose(fitted.history_["test_loss"], alone.history_["test_loss"], atol=1e-4)
        assert np.array_equal(fitted.predict(test[0]), alone.predict(test[0]))


@pytest.mark.parametrize(
    "name, settings",
    [
        ("transformer", dict(n_layers=2, positional="relative", normalization=True)),
        ("transformer", dict(positional="rotary", attn_only=True)),
        ("lstm", dict(cell="gru")),
        ("lstm", {}),
    ],
)
@pytest.mark.parametrize("per_position", [False, True])
def test_batched_sequences_match_one_by_one(name, settings, per_position):
    """Padded rows read out at the separator, or per-position targets with unscored entries, in
    stacks of different training sizes (padding rows of the stack are unscored)."""
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 7, size=24)
    X = np.full((24, 6), 4)
    for i, n in enumerate(lengths):
        X[i, :n] = rng.integers(0, 4, size=n)
    if per_position:
        y = np.where(X != 4, (X + np.arange(6)) % 3, -1)
    else:
        y = X[np.arange(24), lengths - 1]
    kw = dict(steps=20, pad_id=4, d_vocab=5, n_classes=4, batch_size=8) | settings
    sets, seeds = [(X[:6], y[:6]), (X[:10], y[:10]), (X, y)], [0, 7, 2]
    together = fit_many(LEARNERS[name](**kw), sets, seeds)
    for (Xs, ys), seed, fitted in zip(sets, seeds, together, strict=True):
        alone = LEARNERS[name](random_state=seed, **kw).fit(Xs, ys)
        for key, value in alone.model_.state_dict().items():
            assert torch.allclose(fitted.model_.state_dict()[key], value, atol=1e-4), key
        assert np.allclose(fitted.history_["train_loss"], alone.history_["train_loss"], atol=1e-5)
        assert np.array_equal(fitted.predict(X), alone.predict(X))


def test_eval_sets_are_logged_but_never_change_training():
    X, y = random_set(20)
    Xt, yt = random_set(30, seed=1)
    plain = LEARNERS["mlp"](early_stopping="train").fit(X, y)
    logged = LEARNERS["mlp"](early_stopping="train").fit(X, y, eval_sets={"test": (Xt, (yt + 1) % 4)})
    assert "test_acc" in logged.history_ and "test_acc" not in plain.history_
    assert plain.stopped_step_ == logged.stopped_step_
    assert np.array_equal(plain.predict(Xt), logged.predict(Xt))


def test_early_stopping_on_train_accuracy_stops_and_keeps_that_model():
    X, y = random_set(12)
    learner = LEARNERS["mlp"](steps=2000, eval_points=60, early_stopping="train").fit(X, y)
    assert learner.stopped_step_ < 2000
    assert learner.history_["step"][-1] == learner.stopped_step_
    assert learner.score(X, y) == 1.0


def test_early_stopping_on_validation_carves_it_from_training_data():
    X, y = random_set(40)
    learner = LEARNERS["mlp"](early_stopping="validation", patience=2, validation_fraction=0.25).fit(X, y)
    assert "val_acc" in learner.history_
    assert learner.history_["step"][-1] == learner.stopped_step_
    with pytest.raises(ValueError, match="at least 2"):
        LEARNERS["mlp"](early_stopping="validation").fit(X[:1], y[:1])


def test_checkpoints_hold_the_weights_of_their_step():
    X, y = random_set(20)
    learner = LEARNERS["transformer"](checkpoint_steps=(0, 30)).fit(X, y)
    assert sorted(learner.checkpoints_) == [0, 30]
    untrained = LEARNERS["transformer"](steps=0).fit(X, y)
    for key, value in untrained.model_.state_dict().items():
        assert torch.equal(learner.model_at(0).state_dict()[key], value)
    with pytest.raises(ValueError, match="no checkpoint at step 5"):
        learner.model_at(5)


def test_per_position_targets_are_learned_where_scored():
    """Per-position targets with a mask: the previous token, scored at odd positions only."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(64, 6))
    y = np.full(X.shape, -1)
    y[:, 1::2] = X[:, :-1:2]
    for name in ("transformer", "lstm"):
        learner = LEARNERS[name](steps=300, lr=1e-2).fit(X, y)
        pred = learner.predict(X)
        assert pred.shape == X.shape
        assert learner.score(X, y) > 0.95, name
    with pytest.raises(ValueError, match="per-position targets need a causal"):
        LEARNERS["mlp"]().fit(X, y)


def test_padded_sequences_are_read_at_the_separator():
    """Label = the last real token of right-padded rows (pad id 4), so the readout must find it."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 6, size=80)
    X = np.full((80, 5), 4)
    for i, n in enumerate(lengths):
        X[i, :n] = rng.integers(0, 4, size=n)
    y = X[np.arange(80), lengths - 1]
    for name in ("transformer", "lstm"):
        learner = LEARNERS[name](steps=200, pad_id=4).fit(X, y)
        assert learner.score(X, y) == 1.0, name
        longer = np.concatenate([X, np.full((80, 3), 4)], axis=1)  # more padding: same answers
        assert np.array_equal(learner.predict(longer), learner.predict(X))


def test_vocabulary_is_inferred_or_checked():
    X, y = random_set(10)
    learner = LEARNERS["mlp"](steps=1).fit(X, y)
    assert learner.d_vocab_ == X.max() + 1 and learner.n_classes_ == y.max() + 1
    with pytest.raises(ValueError, match="pass d_vocab"):
        learner.predict(X + 10)
    with pytest.raises(ValueError, match="pass d_vocab"):
        LEARNERS["mlp"](d_vocab=3).fit(X, y)
    with pytest.raises(ValueError, match="no scored labels"):
        LEARNERS["lstm"]().fit(X, np.full((10, 3), -1))


@settings(max_examples=60)
@given(
    sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=20),
    batch=st.one_of(st.none(), st.integers(1, 512)),
    cap=st.one_of(st.none(), st.integers(1, 6)),
)
def test_stack_plan_is_a_partition_no_costlier_than_all_apart_or_all_together(sizes, batch, cap):
    stacks = plan_stacks(sizes, batch, cap)
    assert sorted(i for s in stacks for i in s) == list(range(len(sizes)))
    assert all(len(s) <= (cap or len(sizes)) for s in stacks)

    def cost(plan):
        rows = [min(sizes[i], batch) if batch else sizes[i] for i in range(len(sizes))]
        return sum(OVERHEAD_ROWS + len(s) * max(rows[i] for i in s) for s in plan)

    assert cost(stacks) <= cost([[i] for i in range(len(sizes))])
    if cap is None:
        assert cost(stacks) <= cost([list(range(len(sizes)))])


def test_evaluation_in_small_chunks_gives_the_same_history(monkeypatch):
    """Training-set and eval-set scores do not depend on how evaluation is chunked (a stack of
    models with different training sizes, one row per model per chunk)."""
    template = LEARNERS["transformer"](steps=5, d_vocab=7, n_classes=4)
    X, y = random_set(30)
    sets, seeds, test = [(X[:3], y[:3]), (X[:12], y[:12]), (X, y)], [0, 1, 2], random_set(17, seed=5)
    whole = fit_many(template, sets, seeds, eval_sets={"test": test})
    monkeypatch.setattr(training, "EVAL_BUDGET", 1)  # one row per model per chunk
    chunked = fit_many(template, sets, seeds, eval_sets={"test": test})
    for a, b in zip(whole, chunked, strict=True):
        for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
            assert np.allclose(a.history_[key], b.history_[key], atol=1e-6), key
