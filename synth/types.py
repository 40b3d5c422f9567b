"""Types and typed primitives: the vocabulary a DSL is made of.

A value of a type is a numpy array whose **first axis is the example**: shape ``(n,)`` for a
scalar per example (an element of Z_p, a bool), ``(n, L)`` for a sequence per example, ``(n, L, L)``
for a selection matrix, and so on. The type fixes the dtype; the trailing shape comes from the
data (the width of ``X``), so a type does not declare it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Type:
    """A value type: a name (unique within a DSL) and the numpy dtype its values are stored in."""

    name: str
    dtype: np.dtype

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtype", np.dtype(self.dtype))

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Primitive:
    """A production of the grammar: ``name(args...) -> ret`` with vectorized semantics.

    ``fn`` computes the value for a whole batch at once. For a terminal (no args) it is called as
    ``fn(env)`` and returns an array of shape ``(n, *value_shape)``. Otherwise it is called with one
    array per argument; each argument has some leading batch axes (the enumerator broadcasts
    them: shapes ``(a, 1, n, ...)`` and ``(1, b, n, ...)`` for a binary primitive) followed by the
    example axis and the value axes. ``fn`` must act elementwise over the leading axes and the
    example axis (use ``axis=-1`` style indexing for value axes, never ``axis=0``) and broadcast
    like a numpy ufunc; it returns an array of dtype ``ret.dtype`` (or castable to it).

    ``weight`` is the default prior weight (the prior normalizes weights among the primitives of
    the same return type). ``commutative`` (binary, both arguments of one type) lets the
    enumerator build only one of ``f(a, b)`` and ``f(b, a)``; the property tests check it.
    """

    name: str
    args: tuple[Type, ...]
    ret: Type
    fn: Callable[..., np.ndarray] = field(compare=False, repr=False)
    weight: float = field(default=1.0, compare=False)
    commutative: bool = field(default=False, compare=False)
    doc: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name or any(ch.isspace() or ch in "()," for ch in self.name):
            raise ValueError(f"primitive name {self.name!r} must be non-empty, without spaces, ( ) or ,")
        if self.commutative and (len(self.args) != 2 or self.args[0] != self.args[1]):
            raise ValueError(
                f"{self.name}: only a binary primitive with equal argument types can be commutative"
            )
        if self.weight < 0:
            raise ValueError(f"{self.name}: weight must be >= 0, got {self.weight}")

    @property
    def arity(self) -> int:
        return len(self.args)

    def __str__(self) -> str:
        if not self.args:
            return f"{self.name} : {self.ret}"
        return f"{self.name} : {' -> '.join(map(str, (*self.args, self.ret)))}"
