"""The learner contract (tasks.learners), checked by tasks.contract on every registered learner."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator

import baselines  # noqa: F401  (registers the networks and the classic baselines)
import synth  # noqa: F401  (registers the synthesizer)
from tasks import SpecError, Split
from tasks.contract import CHECKS, QUICK_BUDGETS, check_learner, single_label_split
from tasks.learners import AT_LEAST_1, LEARNERS, LearnerInfo, NotApplicable
from tasks.spec import split_spec, typed_params


def test_every_learner_is_registered():
    assert len(LEARNERS) >= 2 and all(issubclass(cls, LearnerInfo) for cls in LEARNERS.values())


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_every_learner_follows_the_contract(name, check):
    """Each rule of :func:`tasks.contract.check_learner`, run on every registered learner."""
    check(LEARNERS[name], QUICK_BUDGETS)


class Majority(LearnerInfo, BaseEstimator):
    """A small learner that follows the contract (not registered): the most common label of each
    position, ties broken by ``random_state``; ``smoothing`` only exists to have a range."""

    param_ranges = {"smoothing": AT_LEAST_1}

    def __init__(self, *, smoothing: int = 1, random_state: int | None = 0) -> None:
        self.smoothing = smoothing
        self.random_state = random_state

    def fit(self, X, y, *, mask=None, eval_sets=None):
        y = np.asarray(y) if mask is None else np.where(mask, y, -1)
        rows = y.reshape(len(y), -1)
        tie = np.random.default_rng(self.random_state).random(int(rows.max()) + 2) / 2
        self.labels_ = np.array([np.argmax(np.bincount(c[c >= 0], minlength=len(tie) - 1) + tie[:-1])
                                 for c in rows.T])
        self.per_position_ = np.ndim(y) == 2
        return self

    def predict(self, X):
        if not self.per_position_:
            return np.full(len(X), self.labels_[0], dtype=np.int64)
        return np.tile(self.labels_[: np.shape(X)[1]], (len(X), 1)).astype(np.int64)


class GlobalSeed(Majority):
    def fit(self, X, y, *, mask=None, eval_sets=None):
        self.random_state = int(np.random.randint(100))  # draws from the global state, changes a param
        return super().fit(X, y, mask=mask, eval_sets=eval_sets)


class UnderscorelessFit(Majority):
    def fit(self, X, y, *, mask=None, eval_sets=None):
        self.labels = 0
        return super().fit(X, y, mask=mask, eval_sets=eval_sets)


class WrongScore(Majority):
    def score(self, X, y, mask=None) -> float:
        return 1.0


class PositionalInit(Majority):
    def __init__(self, smoothing: int = 1, *, random_state: int | None = 0) -> None:
        super().__init__(smoothing=smoothing, random_state=random_state)


class UnrangedParam(Majority):
    param_ranges = {}


class SaysNoPerPosition(Majority):
    takes_per_position = False  # but accepts such data

    @classmethod
    def data_params(cls, split, params):
        if split.per_position:
            raise NotApplicable("no per-position targets")
        return {}


def test_check_learner_passes_a_learner_that_follows_the_contract():
    check_learner(Majority)


@pytest.mark.parametrize(
    "cls, words",
    [
        (GlobalSeed, "random_state"),
        (UnderscorelessFit, "not ending in _"),
        (WrongScore, "accuracy"),
        (PositionalInit, "keyword-only"),
        (UnrangedParam, "without a declared range"),
        (SaysNoPerPosition, "fit accepts per-position targets"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_check_learner_fails_a_learner_that_breaks_it(cls, words):
    with pytest.raises(AssertionError, match=words):
        check_learner(cls)


def modular_split() -> Split:
    return single_label_split()


def made(spec: str, split: Split):
    """The checked learner of a method spec (as a grid makes it, without compare's shape defaults)."""
    name, text = split_spec(spec)
    cls = LEARNERS[name]
    params = typed_params(cls, name, text)
    learner = cls(**(params | cls.data_params(split, params)))
    learner.check()
    return learner


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
        made(spec, modular_split())
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_cuda_without_a_gpu_is_refused_up_front():
    with pytest.raises(SpecError, match="no CUDA GPU"):
        made("mlp:device=cuda", modular_split())
