"""Classic baselines with the learners' interface; scikit-learn does the work.

* :class:`LookupTableLearner`: a memorizer: the label of an exact match in the training set (the
  most common one among duplicates), else the most common training label.
* :class:`KNNLearner`: k-nearest neighbours on one-hot tokens (Euclidean there = Hamming on tokens).
* :class:`LogisticLearner`: multinomial logistic regression on one-hot tokens.
* :class:`GBTLearner`: histogram gradient-boosted trees on the raw token ids.

Per-position targets ``y`` (n, L) are handled causally, like the sequence networks: position ``j``
is predicted from the prefix ``X[:, :j+1]`` by its own estimator (fitted on the rows where ``j`` is
scored), so that no learner can read a later token that the target was computed from (in the
induction task the target at ``j`` *is* ``X[:, j+1]``). The lookup table keys each position by its
prefix.

Inputs narrower than the training width are padded with ``pad_id``; wider ones raise ValueError
(these baselines have one feature per training position), except for the lookup table, where a
row of another width simply has no exact match.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from baselines.base import Learner, apply_mask, check_X, check_Xy, pad_to_width
from tasks import UNSCORED, Split
from tasks.learners import AT_LEAST_1, NON_NEGATIVE, POSITIVE, Range, register_learner


def _most_common(labels: np.ndarray) -> int:
    values, counts = np.unique(labels, return_counts=True)
    return int(values[np.argmax(counts)])  # ties: the smallest label, deterministically


class Constant:
    """Predicts one label (where only one class was seen, or nothing was scored)."""

    def __init__(self, label: int) -> None:
        self.label = label

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.label, dtype=np.int64)


@dataclass(eq=False, repr=False, kw_only=True)
class ClassicLearner(Learner):
    """One scikit-learn estimator per output (one, or one per position on its prefix)."""

    pad_id: int | None = None
    random_state: int | None = 0

    not_canonical: ClassVar[tuple[str, ...]] = ("pad_id", "random_state")
    param_ranges: ClassVar[dict[str, Range]] = {"pad_id": NON_NEGATIVE}
    #: Whether the estimator fits one model per class (a tree a class a boosting round, a weight
    #: column a class; one for two classes): what its cost grows with (:mod:`compare.grid.cost`).
    fits_per_class: ClassVar[bool] = False

    @classmethod
    def data_params(cls, split: Split, params: dict) -> dict:
        return {} if params.get("pad_id") is not None else {"pad_id": split.pad_id}

    def _estimator(self, n_rows: int):
        """A fresh scikit-learn estimator for a training set of ``n_rows`` rows."""
        raise NotImplementedError

    def _fit_one(self, X: np.ndarray, y: np.ndarray):
        if len(np.unique(y)) < 2:  # scikit-learn classifiers need two classes
            return Constant(int(y[0]))
        return self._estimator(len(X)).fit(X, y)

    def _width(self, X: np.ndarray) -> np.ndarray:
        return pad_to_width(X, self.n_features_in_, self.pad_id, type(self).__name__)

    def fit(self, X, y, *, mask=None, eval_sets: dict | None = None):
        """Fit on ``X`` (n, k) and ``y`` (n,) or (n, L) (scored where ``mask``); ``eval_sets`` is
        accepted and ignored."""
        self.check()
        X, y = check_Xy(X, apply_mask(y, mask))
        self.n_features_in_ = X.shape[1]
        self.per_position_ = y.ndim == 2
        if not self.per_position_:
            self.estimator_ = self._fit_one(X, y)
            return self
        if y.shape[1] > X.shape[1]:
            raise ValueError(
                f"per-position targets need at most X's {X.shape[1]} positions, got {y.shape[1]}"
            )
        self.fallback_ = _most_common(y[y != UNSCORED])
        self.estimators_ = []
        for j in range(y.shape[1]):
            rows = y[:, j] != UNSCORED
            self.estimators_.append(
                self._fit_one(X[rows, : j + 1], y[rows, j]) if rows.any() else Constant(self.fallback_)
            )
        return self

    def predict(self, X) -> np.ndarray:
        """Labels (n,), or (n, L) for per-position targets."""
        X = self._width(check_X(X))
        if not self.per_position_:
            return np.asarray(self.estimator_.predict(X), dtype=np.int64)
        # Positions beyond the trained ones (only where _width lets wider rows in) get the fallback.
        extra = [Constant(self.fallback_)] * max(0, X.shape[1] - self.n_features_in_)
        columns = [
            np.asarray(e.predict(X[:, : j + 1]), dtype=np.int64)
            for j, e in enumerate([*self.estimators_, *extra])
        ]
        return np.stack(columns, axis=1) if columns else np.zeros((len(X), 0), dtype=np.int64)


class Table:
    """Exact-match memory: row bytes → most common label among the training duplicates."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> Table:
        votes: dict[bytes, Counter] = {}
        for row, label in zip(X, y, strict=True):
            votes.setdefault(row.tobytes(), Counter())[int(label)] += 1
        # most_common breaks ties by first insertion; sort labels first so ties go to the smallest.
        self.table = {key: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for key, c in votes.items()}
        self.default = _most_common(y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.int64)
        return np.array([self.table.get(row.tobytes(), self.default) for row in X], dtype=np.int64)


@register_learner("lookup")
@dataclass(eq=False, repr=False, kw_only=True)
class LookupTableLearner(ClassicLearner):
    """Memorizer: exact match, else the most common training label (per position: prefix match)."""

    def _fit_one(self, X: np.ndarray, y: np.ndarray) -> Table:
        return Table().fit(X, y)

    def _width(self, X: np.ndarray) -> np.ndarray:
        return X  # any width: rows of another width just never match


def _onehot() -> OneHotEncoder:
    # Tokens unseen in training encode as all zeros instead of failing.
    return OneHotEncoder(handle_unknown="ignore")


@register_learner("knn")
@dataclass(eq=False, repr=False, kw_only=True)
class KNNLearner(ClassicLearner):
    """k-nearest neighbours on one-hot tokens (ties in distance: sklearn's order)."""

    n_neighbors: int = 1
    weights: str = "uniform"

    param_ranges: ClassVar[dict[str, Range]] = ClassicLearner.param_ranges | {"n_neighbors": AT_LEAST_1}
    param_choices: ClassVar[dict[str, tuple[str, ...]]] = {"weights": ("uniform", "distance")}

    def _estimator(self, n_rows: int):
        knn = KNeighborsClassifier(n_neighbors=min(self.n_neighbors, n_rows), weights=self.weights)
        return make_pipeline(_onehot(), knn)


@register_learner("logistic")
@dataclass(eq=False, repr=False, kw_only=True)
class LogisticLearner(ClassicLearner):
    """Multinomial logistic regression on one-hot tokens."""

    C: float = 1.0
    max_iter: int = 300

    fits_per_class: ClassVar[bool] = True

    param_ranges: ClassVar[dict[str, Range]] = ClassicLearner.param_ranges | {
        "C": POSITIVE, "max_iter": AT_LEAST_1,
    }

    def _estimator(self, n_rows: int):
        return make_pipeline(_onehot(), LogisticRegression(C=self.C, max_iter=self.max_iter))


@register_learner("gbt")
@dataclass(eq=False, repr=False, kw_only=True)
class GBTLearner(ClassicLearner):
    """Gradient-boosted trees (scikit-learn's histogram GBT) on the raw token ids."""

    max_iter: int = 50
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31

    fits_per_class: ClassVar[bool] = True

    param_ranges: ClassVar[dict[str, Range]] = ClassicLearner.param_ranges | {
        "max_iter": AT_LEAST_1, "learning_rate": POSITIVE, "max_leaf_nodes": Range(2),
    }

    def _estimator(self, n_rows: int):
        return HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            early_stopping=False,  # its internal validation split would change with n; fixed budget
            random_state=self.random_state,
        )
