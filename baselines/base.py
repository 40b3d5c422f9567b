"""What every learner shares: input checks, vocabulary inference and masked scoring.

Labels are ``(n,)`` (one per example) or ``(n, L)`` per-position targets holding ``UNSCORED``
(-1) where a position is not scored; the mask is ``y != UNSCORED``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

from tasks import UNSCORED
from tasks.learners import LearnerInfo


def check_X(X) -> np.ndarray:
    """``X`` as an int64 array of shape (n, k); ValueError otherwise."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, k), got {X.shape}")
    if X.size and not np.issubdtype(X.dtype, np.integer):
        raise ValueError(f"X must hold integer token ids, got dtype {X.dtype}")
    if X.size and X.min() < 0:
        raise ValueError(f"token ids must be >= 0, found {int(X.min())}")
    return X.astype(np.int64, copy=False)


def check_Xy(X, y) -> tuple[np.ndarray, np.ndarray]:
    """``X`` (n, k) and ``y`` (n,) or (n, L) as int64 arrays; ValueError otherwise."""
    X = check_X(X)
    y = np.asarray(y)
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape (n,) or (n, L) with n = {X.shape[0]}, got {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer labels, got dtype {y.dtype}")
    y = y.astype(np.int64, copy=False)
    low = UNSCORED if y.ndim == 2 else 0
    if y.size and y.min() < low:
        raise ValueError(f"labels must be >= {low}, found {int(y.min())}")
    if len(X) == 0 or not (y != UNSCORED).any():
        raise ValueError("the training set has no scored labels")
    return X, y


def pad_to_width(X: np.ndarray, width: int, pad_id: int | None, who: str) -> np.ndarray:
    """``X`` right-padded with ``pad_id`` to ``width`` tokens (a learner with one slot per training
    position); ValueError for wider rows, or narrower ones without a pad id."""
    if X.shape[1] > width:
        raise ValueError(f"{who} was fitted on {width} tokens per example; got {X.shape[1]}")
    if X.shape[1] < width:
        if pad_id is None:
            raise ValueError(f"{who} takes {width} tokens per example and has no pad_id; got {X.shape[1]}")
        X = np.pad(X, ((0, 0), (0, width - X.shape[1])), constant_values=pad_id)
    return X


def apply_mask(y, mask) -> np.ndarray:
    """``y`` with ``UNSCORED`` wherever ``mask`` is False (the learners' one label format)."""
    y = np.asarray(y)
    if mask is None:
        return y
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != y.shape:
        raise ValueError(f"mask shape {mask.shape} differs from y shape {y.shape}")
    return np.where(mask, y, UNSCORED)


def as_pair(data) -> tuple[np.ndarray, np.ndarray]:
    """An eval set given as ``(X, y)`` or as anything with ``X``, ``y`` and ``mask`` (a ``tasks.Split``)."""
    if hasattr(data, "X") and hasattr(data, "y"):
        return data.X, apply_mask(data.y, getattr(data, "mask", None))
    X, y = data
    return X, y


def infer_sizes(
    d_vocab: int | None, n_classes: int | None, pad_id: int | None, pairs: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[int, int]:
    """``d_vocab`` and ``n_classes`` as given, or just large enough for the data in ``pairs``."""
    if d_vocab is None:
        d_vocab = 1 + max([int(X.max(initial=0)) for X, _ in pairs] + [pad_id if pad_id is not None else 0])
    if n_classes is None:
        n_classes = 1 + max(int(y.max(initial=0)) for _, y in pairs)
    return d_vocab, n_classes


def check_tokens(X: np.ndarray, d_vocab: int) -> None:
    """ValueError when a token id does not fit the learner's vocabulary."""
    if X.size and X.max() >= d_vocab:
        raise ValueError(
            f"token id {int(X.max())} is outside the vocabulary [0, {d_vocab}); pass d_vocab "
            "(the task's vocabulary size) so that every token the learner will see fits"
        )


class Learner(LearnerInfo, BaseEstimator):
    """Base of every learner here (the contract of :mod:`tasks.learners`, whose ``LearnerInfo.score``
    is the masked accuracy every learner shares)."""
