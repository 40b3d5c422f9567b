"""Learners 2..k: neural networks (torch) and classic scikit-learn baselines, with the sklearn API."""

from baselines.learners import LSTMLearner, MLPLearner, NeuralLearner, TransformerLearner  # isort: skip
from baselines import classic  # noqa: F401, E402  (registers the classic baselines, after the networks)
from baselines.batched import fit_many, limit_threads
from baselines.hooks import hook_points, run_with_cache, run_with_hooks

__all__ = [
    "LSTMLearner",
    "MLPLearner",
    "NeuralLearner",
    "TransformerLearner",
    "fit_many",
    "hook_points",
    "limit_threads",
    "run_with_cache",
    "run_with_hooks",
]
