"""The data contract shared by every task family and every learner.

A task is a frozen dataclass of its parameters with a spec string that round-trips
(``modular:op=x+y,p=97``). It produces :class:`Split` objects: integer arrays and
nothing else, so that every learner sees exactly the same examples.
"""

from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np

from tasks.errors import SpecError
from tasks.spec import format_spec

#: Label value stored in ``y`` at per-position targets that are not scored (``mask`` is False).
UNSCORED = -1
#: The most memory one split of a generated task may take (its X, y and mask, with the generator's
#: temporaries counted as three more copies of X); a larger split is refused before it is built.
MAX_SPLIT_BYTES = 4 * 2**30


@dataclass(frozen=True)
class Split:
    """Examples of one task: integer inputs and labels.

    ``X`` has shape ``(n, k)``: operands or tokens, padded with ``pad_id`` where sequences are
    shorter than ``k``. ``y`` has shape ``(n,)`` (one label per example) or ``(n, L)`` with a
    boolean ``mask`` of the same shape (per-position targets; unscored entries hold ``UNSCORED``).
    Token ids lie in ``[0, d_vocab)``; labels in ``[0, n_classes)``.
    """

    X: np.ndarray
    y: np.ndarray
    d_vocab: int
    n_classes: int
    columns: tuple[str, ...]
    mask: np.ndarray | None = None
    pad_id: int | None = None
    name: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.X.ndim != 2:
            raise ValueError(f"X must have shape (n, k), got {self.X.shape}")
        if self.y.shape[0] != self.X.shape[0]:
            raise ValueError(f"X has {self.X.shape[0]} rows but y has {self.y.shape[0]}")
        if self.mask is not None and self.mask.shape != self.y.shape:
            raise ValueError(f"mask shape {self.mask.shape} differs from y shape {self.y.shape}")
        if self.y.ndim == 2 and self.mask is None:
            raise ValueError("per-position targets (y of shape (n, L)) need a mask")

    def __len__(self) -> int:
        return int(self.X.shape[0])

    @property
    def per_position(self) -> bool:
        """True when ``y`` holds one target per position (scored where ``mask`` is True)."""
        return self.y.ndim == 2

    @property
    def lengths(self) -> np.ndarray:
        """Number of real (non-pad) tokens per row; all of ``k`` when there is no pad id."""
        if self.pad_id is None:
            return np.full(len(self), self.X.shape[1], dtype=np.int64)
        return (self.X != self.pad_id).sum(axis=1)

    def subset(self, index: np.ndarray | slice) -> Split:
        """The examples at ``index`` (rows), as a new split with the same metadata."""
        return Split(
            X=self.X[index],
            y=self.y[index],
            d_vocab=self.d_vocab,
            n_classes=self.n_classes,
            columns=self.columns,
            mask=None if self.mask is None else self.mask[index],
            pad_id=self.pad_id,
            name=self.name,
            meta=self.meta,
        )

    def copy(self) -> Split:
        """The same split with its own copies of the arrays and of ``meta``."""
        mask = None if self.mask is None else self.mask.copy()
        return replace(self, X=self.X.copy(), y=self.y.copy(), mask=mask, meta=dict(self.meta))


def drawn_once(method: Callable[..., Split]) -> Callable[..., Split]:
    """A split method of a frozen task (``test_split``, ``ood_split``), drawn once per process for
    each equal task and arguments: these splits depend on the task's parameters alone, and a grid
    cell, its scoring and its analyses each ask for them again (a Dyck-1 test split takes ~20 ms to
    draw; the quick preset's Dyck-1 LSTM and lookup cells asked for it 103 times). Every call
    returns its own copy of the arrays, so a caller that changes them changes no other caller's."""
    drawn = functools.lru_cache(maxsize=32)(method)

    @functools.wraps(method)
    def split(self: Task, *args: object, **kwargs: object) -> Split:
        return drawn(self, *args, **kwargs).copy()

    return split


def accuracy(y_true: np.ndarray, y_pred: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Share of correct labels; with a mask, over the masked (scored) positions only."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"predictions have shape {y_pred.shape}, labels {y_true.shape}")
    correct = y_true == y_pred
    if mask is not None:
        total = int(mask.sum())
        return float(correct[mask].sum() / total) if total else float("nan")
    return float(correct.mean()) if correct.size else float("nan")


def is_prime(n: int) -> bool:
    """True for a prime ``n`` (trial division: moduli here are at most a few thousand)."""
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from a hash of ``parts`` (stable across runs and machines, unlike ``hash``)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class Task(ABC):
    """One learning problem. Subclasses are frozen dataclasses of their parameters.

    The test split depends on the parameters alone; ``train_split(n, seed)`` sets are nested in
    ``n`` for a fixed seed and never overlap the test split.
    """

    #: Family name, the part of the spec before the colon.
    family: ClassVar[str]
    #: Names of the out-of-distribution splits, with a one-line description each.
    ood_descriptions: ClassVar[dict[str, str]] = {}
    #: One line saying what the family asks to learn (shown by ``dlps tasks``).
    summary: ClassVar[str] = ""
    #: One line per parameter: what it means and which values are accepted (shown by ``dlps tasks``).
    param_help: ClassVar[dict[str, str]] = {}
    #: Version of the family's data generator, part of every cell's fingerprint: bump it when the
    #: same parameters and seed start giving other examples, so stored cells are not reused.
    generator_version: ClassVar[int] = 1

    @property
    def spec(self) -> str:
        """The spec string, which :func:`tasks.parse_task` turns back into an equal task."""
        return format_spec(self)

    @property
    def ood_names(self) -> tuple[str, ...]:
        return tuple(self.ood_descriptions)

    @property
    @abstractmethod
    def max_train(self) -> int:
        """The most training examples ``train_split`` can give (the size of the training pool)."""

    @abstractmethod
    def test_split(self) -> Split:
        """The held-out examples every cell of this task is scored on."""

    @abstractmethod
    def train_split(self, n: int, seed: int = 0) -> Split:
        """``n`` training examples drawn with ``seed``; nested in ``n``, disjoint from the test split."""

    @abstractmethod
    def ood_split(self, name: str) -> Split:
        """The out-of-distribution split called ``name`` (one of ``ood_names``)."""

    @abstractmethod
    def reference(self, X: np.ndarray) -> np.ndarray:
        """The ground-truth labels of inputs ``X`` (plain numpy), with ``UNSCORED`` where not scored."""

    def split(self, name: str, n: int = 0, seed: int = 0) -> Split:
        """A split by name: ``train`` (needs ``n``), ``test``, or an OOD split name."""
        if name == "train":
            return self.train_split(n, seed)
        if name == "test":
            return self.test_split()
        if name in self.ood_descriptions:
            return self.ood_split(name)
        accepted = ", ".join(["train", "test", *self.ood_names])
        raise SpecError(f"unknown split {name!r} for {self.family}; accepted: {accepted}")

    def format_example(self, split: Split, i: int) -> str:
        """Row ``i`` of ``split`` as readable text (``dlps sample``); families may override.

        Per-position targets print as two aligned lines, ``x`` over ``y`` (``.`` = not scored)."""
        length = int(split.lengths[i])
        x = split.X[i, :length].tolist()
        if split.per_position:
            width = len(str(max(split.d_vocab, split.n_classes) - 1))
            scored = zip(split.y[i, :length].tolist(), split.mask[i, :length].tolist(), strict=True)
            y = [str(v) if m else "." for v, m in scored]
            return "x " + " ".join(f"{v:>{width}}" for v in x) + "\ny " + " ".join(f"{v:>{width}}" for v in y)
        if split.pad_id is None and len(split.columns) == len(x):
            inputs = " ".join(f"{c}={v}" for c, v in zip(split.columns, x, strict=True))
            return f"{inputs} -> {int(split.y[i])}"
        return f"x={x} -> {int(split.y[i])}"

    def check_split_memory(self, rows: int, width: int, what: str, limit: int | None = None) -> None:
        """SpecError, before anything is built, when a split of ``rows`` rows of ``width`` tokens would
        need more than ``limit`` bytes (default :data:`MAX_SPLIT_BYTES`), saying how much."""
        limit = MAX_SPLIT_BYTES if limit is None else limit
        need = rows * width * (8 * 4 + 8 + 1)  # X and three temporaries, int64 labels, a mask
        if need > limit:
            raise SpecError(
                f"{self.family}: the {what} split would hold {rows:,} rows of {width} tokens, about "
                f"{need / 2**30:,.1f} GB; the limit is {limit / 2**30:g} GB (lower the number of rows or "
                "their length)"
            )

    def check_train_size(self, n: int) -> None:
        """Raise :class:`SpecError` when ``n`` is negative or above the training pool."""
        if n < 0:
            raise SpecError(f"training size must be >= 0, got {n}")
        if n > self.max_train:
            raise SpecError(
                f"{self.spec} has {self.max_train} training examples in its pool; asked for {n}"
            )
