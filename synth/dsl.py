"""DSLs: typed primitives with vectorized semantics, and the registry that builds them from specs.

How to add a DSL (one small module, e.g. ``synth/dsl_seq.py``, imported in ``synth/__init__.py``):

1. **Parameters.** Write a frozen dataclass subclassing :class:`DSL` whose fields are the DSL's
   parameters (they become the spec: ``arith:p=97``), with a ``family`` class attribute, and
   decorate it with :func:`register_dsl`. ``parse_dsl("family:key=value")`` then builds it
   (values coerced to the field types, unknown keys named in a :class:`tasks.SpecError`).
   Validate parameters in ``__post_init__`` and raise ``SpecError`` with the accepted range.
2. **Types.** Make one :class:`synth.types.Type` per kind of value, each with a small numpy dtype
   (``uint8`` when values fit: the bank stores one row of values per program, and smaller rows are
   faster to build, hash and compare).
3. **Primitives.** Return them from ``build_primitives()``: terminals read the inputs from the
   :class:`synth.program.Env` (``fn(env) -> (n, ...)``); the others get one array per argument and
   compute on whole batches. The **first axis after the enumerator's batch axes is the example**:
   an argument of a scalar type has shape ``(..., n)``, of a sequence type ``(..., n, L)``, of a
   selection matrix ``(..., n, L, L)``. Write semantics on the trailing axes only (``axis=-1``,
   ``x[..., :-1]``) and let numpy broadcast the leading ones; the enumerator calls a binary
   primitive once with shapes ``(a, 1, n, ...)`` and ``(1, b, n, ...)`` to build ``a*b``
   candidates at once. Keep intermediates in small integer dtypes (and avoid Python loops over
   examples): this is the inner loop of the search. Give each primitive a default prior ``weight``
   (1.0: uniform) and mark symmetric binary ones ``commutative``.
4. **Data.** Implement ``env(X)`` (turn a split's integer ``X`` into named typed inputs; raise
   ``ValueError`` naming the first value that does not fit, e.g. ``x=97 is not in [0, 97)``),
   ``target(y, mask)`` (the labels as values of the output type, a :class:`Target`; a per-position
   target keeps its mask: unscored entries never count), and ``decode(values)`` (program values
   back to integer labels of the task's shape). Optionally ``sample_inputs(n, rng)`` (random
   inputs, used as unlabeled probes by the posterior predictive).
5. **Default for data.** Optionally register a guesser with :func:`register_guesser`: given a
   split it returns a spec (or None) so ``dlps synth`` picks the DSL when none is given; and
   override :meth:`DSL.params_for` so that a spec that leaves parameters out (``--dsl seq``) gets
   them from the data (:func:`complete_dsl`).

Sequence-valued types need nothing special from the enumerator: the bank stores values of any
trailing shape as rows (``n * L`` entries for a sequence type), hashes and compares whole rows,
and checks targets through a mask, so padding positions can be excluded from scoring.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from synth.program import Env, Program, parse_program
from synth.types import Primitive, Type
from tasks.base import SpecError, Split
from tasks.spec import build, format_spec, split_spec, typed_params


@dataclass(frozen=True)
class Target:
    """What a program must output: values of ``type`` (shape ``(n, ...)``); where ``mask`` is
    given, only entries where it is True must match (the others are free)."""

    type: Type
    values: np.ndarray
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.mask is not None and self.mask.shape != self.values.shape:
            raise ValueError(f"target mask shape {self.mask.shape} differs from values {self.values.shape}")

    def _matches(self, values: np.ndarray) -> np.ndarray:
        """Per row of ``values`` (shape ``(m, n, ...)``), the scored entries: equal to the target?"""
        flat = values.reshape(len(values), -1)
        want = self.values.reshape(-1)
        if self.mask is None:
            return flat == want
        m = self.mask.reshape(-1)
        return flat[:, m] == want[m]

    def consistent(self, values: np.ndarray) -> np.ndarray:
        """Per row of ``values`` (shape ``(m, n, ...)``): does it match the target?"""
        return self._matches(values).all(axis=1)

    def score(self, values: np.ndarray) -> np.ndarray:
        """Per row of ``values``: the share of scored entries that match (training accuracy)."""
        matches = self._matches(values)
        return matches.mean(axis=1) if matches.shape[1] else np.ones(len(matches))


class DSL(ABC):
    """A domain-specific language: types, typed primitives, and the conversion from task data."""

    family: ClassVar[str]

    @property
    def spec(self) -> str:
        """The spec string (``arith:p=97``) that :func:`parse_dsl` turns back into an equal DSL."""
        return format_spec(self)

    @abstractmethod
    def build_primitives(self) -> tuple[Primitive, ...]:
        """All primitives, terminals first (their order is the enumeration order within a level)."""

    @cached_property
    def primitives(self) -> tuple[Primitive, ...]:
        prims = self.build_primitives()
        names = [p.name for p in prims]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.family}: duplicate primitive names in {names}")
        return prims

    @cached_property
    def by_name(self) -> dict[str, Primitive]:
        return {p.name: p for p in self.primitives}

    @property
    def types(self) -> tuple[Type, ...]:
        seen: dict[Type, None] = {}
        for p in self.primitives:
            for t in (*p.args, p.ret):
                seen.setdefault(t)
        return tuple(seen)

    def parse(self, text: str) -> Program:
        """A program of this DSL from its printed form."""
        return parse_program(text, self.by_name)

    @abstractmethod
    def env(self, X: np.ndarray) -> Env:
        """The typed inputs for integer inputs ``X`` (n, k); ValueError if a value does not fit."""

    @abstractmethod
    def target(self, y: np.ndarray, mask: np.ndarray | None = None) -> Target:
        """The labels ``y`` as values of the output type; ValueError if a label does not fit."""

    @abstractmethod
    def decode(self, values: np.ndarray) -> np.ndarray:
        """Values of the output type back to int64 labels (the shape of ``y``)."""

    def data_primitives(self, X: np.ndarray) -> tuple[Primitive, ...]:
        """The primitives the prior ranges over for training inputs ``X``, in enumeration order; all
        of them by default. A DSL whose constants name data values (token ids) keeps only the
        values that occur in ``X``, so the prior does not depend on how the data is labelled."""
        return self.primitives

    def sample_inputs(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random input rows (like ``X``); used as unlabeled probes. Optional."""
        raise NotImplementedError(f"the {self.family} DSL cannot sample inputs; pass X_unlabeled")

    @classmethod
    def params_for(cls, split: Split) -> dict[str, str]:
        """Parameters inferred from the data of ``split`` (spec text), for :func:`complete_dsl`;
        none by default."""
        return {}

    def probe_inputs(self, X: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random input rows shaped like the rows of ``X`` (the posterior's unlabeled probes);
        by default :meth:`sample_inputs`. A DSL whose rows vary in width (sequences) overrides it."""
        return self.sample_inputs(n, rng)


#: The DSL families by name.
DSLS: dict[str, type[DSL]] = {}
_GUESSERS: list[Callable[[Split], str | None]] = []


def register_dsl(cls: type[DSL]) -> type[DSL]:
    """Class decorator: make a DSL reachable by its ``family`` name in specs."""
    DSLS[cls.family] = cls
    return cls


def register_guesser(guess: Callable[[Split], str | None]) -> Callable[[Split], str | None]:
    """Register a function that proposes a DSL spec for a split (or None when it does not fit)."""
    _GUESSERS.append(guess)
    return guess


def parse_dsl(spec: str | DSL) -> DSL:
    """The DSL named by ``spec`` (``family:key=value,...``); SpecError names what is wrong."""
    if isinstance(spec, DSL):
        return spec
    _refuse_old_form(spec)
    family, params = split_spec(spec)
    if family not in DSLS:
        raise SpecError(f"unknown DSL {family!r}; accepted: {', '.join(sorted(DSLS))}")
    return build(DSLS[family], family, params)


def _refuse_old_form(spec: str) -> None:
    """DSL specs inside method specs once wrote their commas as ``/``; say the new form in one line."""
    if "/" in spec and "(" not in spec and "=" in spec.partition("/")[2]:
        new = spec.replace("/", ",")
        raise SpecError(f"DSL parameters are separated by commas now, with the DSL in parentheses in a "
                        f"method spec: synth:dsl=({new}) (got {spec!r})")


def check_dsl_spec(spec: str) -> None:
    """SpecError unless ``spec`` names a DSL family with parameters it takes, of the right types
    (without building it: ``seq`` alone is fine, its vocabulary comes from the data)."""
    _refuse_old_form(spec)
    family, params = split_spec(spec)
    if family not in DSLS:
        raise SpecError(f"unknown DSL {family!r}; accepted: {', '.join(sorted(DSLS))}")
    typed_params(DSLS[family], family, params)


def complete_dsl(spec: str, split: Split) -> str:
    """``spec`` with the parameters it leaves out inferred from the data of ``split`` (the DSL's
    :meth:`DSL.params_for`): ``seq`` becomes ``seq:d_vocab=3,pad=2,out=auto``; parameters the spec
    names are kept. SpecError for an unknown family or parameter."""
    _refuse_old_form(spec)
    family, params = split_spec(spec)
    if family not in DSLS:
        raise SpecError(f"unknown DSL {family!r}; accepted: {', '.join(sorted(DSLS))}")
    cls = DSLS[family]
    return format_spec(build(cls, family, cls.params_for(split) | params))


def default_dsl(split: Split) -> str:
    """A DSL spec suited to the data of ``split``; SpecError when no registered DSL fits."""
    for guess in _GUESSERS:
        spec = guess(split)
        if spec is not None:
            return spec
    raise SpecError(f"no DSL fits data with columns {split.columns}; pass one of: {', '.join(sorted(DSLS))}")
