"""The learner contract (tasks.learners), checked on every registered method, the synthesizer included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from compare.methods import make_learner, method_names
from tasks import SpecError, Split

TINY = {"steps": 5, "eval_points": 3}


def modular_split(n: int = 40, p: int = 7) -> Split:
    rng = np.random.default_rng(0)
    X = rng.integers(0, p, size=(n, 2))
    return Split(X=X, y=(X[:, 0] + X[:, 1]) % p, d_vocab=p, n_classes=p, columns=("x", "y"))


def learner_for(name: str, split: Split, seed: int = 0):
    learner = make_learner(name, split, random_state=seed)
    return learner.set_params(**TINY) if learner.has_model else learner


@pytest.mark.parametrize("name", method_names())
def test_every_learner_clones_and_round_trips_its_params(name):
    learner = learner_for(name, modular_split())
    params = learner.get_params()
    copy = clone(learner)
    assert copy is not learner and copy.get_params() == params
    assert copy.set_params(random_state=7).get_params()["random_state"] == 7
    assert type(learner)(**params).get_params() == params


@pytest.mark.parametrize("name", method_names())
def test_every_learner_fits_predicts_and_scores_with_one_signature(name):
    split = modular_split()
    learner = learner_for(name, split)
    before = set(vars(learner))
    assert learner.fit(split.X, split.y, mask=None, eval_sets={"test": split}) is learner
    fitted = set(vars(learner)) - before
    assert fitted and all(attr.endswith("_") for attr in fitted), sorted(fitted)
    pred = learner.predict(split.X[:9])
    assert pred.shape == (9,) and pred.dtype == np.int64 and ((0 <= pred) & (pred < 7)).all()
    assert 0.0 <= learner.score(split.X, split.y) <= 1.0
    assert learner.score(split.X, split.y, mask=None) == learner.score(split.X, split.y)
    summary = learner.fitted_summary()
    assert isinstance(summary, dict)


@pytest.mark.parametrize("name", method_names())
def test_the_same_seed_gives_the_same_predictions(name):
    split = modular_split()
    torch.manual_seed(0)
    a = learner_for(name, split, seed=3).fit(split.X, split.y).predict(split.X)
    torch.manual_seed(1)  # the learner's own seed decides, not torch's global state
    b = learner_for(name, split, seed=3).fit(split.X, split.y).predict(split.X)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name", method_names())
def test_a_mask_is_the_same_as_unscored_labels(name):
    """Per-position targets: ``mask`` False and ``y = -1`` mean the same to every learner that takes them."""
    rng = np.random.default_rng(2)
    X = rng.integers(0, 3, size=(24, 5))
    y = np.roll(X, 1, axis=1)
    mask = np.ones(X.shape, bool)
    mask[:, 0] = False
    split = Split(X=X, y=np.where(mask, y, -1), d_vocab=3, n_classes=3, columns=tuple("abcde"), mask=mask)
    if name == "mlp":
        pytest.skip("the MLP takes one label per example")
    if name == "synth":
        learner = make_learner("synth:dsl=seq", split, max_candidates=20000)
    else:
        learner = learner_for(name, split)
    masked = clone(learner).fit(X, y, mask=mask).predict(X)
    unscored = clone(learner).fit(X, np.where(mask, y, -1)).predict(X)
    assert np.array_equal(masked[mask], unscored[mask])
    assert learner.fit(X, y, mask=mask).score(X, y, mask=mask) == learner.score(X, np.where(mask, y, -1))


@pytest.mark.parametrize(
    "spec, words",
    [
        ("transformer:n_layers=-1", ["n_layers=-1", "[0, inf)"]),
        ("transformer:d_model=0", ["d_model=0", "[1, inf)"]),
        ("transformer:n_heads=0", ["n_heads=0"]),
        ("transformer:d_model=30,n_heads=4", ["not divisible"]),
        ("mlp:d_mlp=-4", ["d_mlp=-4"]),
        ("mlp:lr=inf", ["lr=inf", "(0, inf)"]),
        ("mlp:eval_points=0", ["eval_points=0"]),
        ("lstm:warmup_steps=-10", ["warmup_steps=-10"]),
        ("lstm:validation_fraction=1.5", ["validation_fraction=1.5", "(0, 1)"]),
        ("lstm:cell=rnn", ["cell='rnn'", "lstm, gru"]),
        ("mlp:device=bogus", ["device='bogus'", "auto, cpu"]),
        ("knn:n_neighbors=0", ["n_neighbors=0"]),
        ("gbt:learning_rate=nan", ["learning_rate=nan"]),
        ("synth:max_bits=-5", ["max_bits=-5"]),
        ("synth:max_candidates=-1", ["max_candidates=-1"]),
        ("synth:time_limit=nan", ["time_limit=nan"]),
    ],
)
def test_every_numeric_parameter_has_a_declared_range(spec, words):
    with pytest.raises(SpecError) as error:
        make_learner(spec, modular_split())
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_without_a_gpu_is_refused_up_front():
    with pytest.raises(SpecError, match="no CUDA GPU"):
        make_learner("mlp:device=cuda", modular_split())
