"""What every registered analysis (:mod:`mechanisms.registry`) shares: the :class:`Subject` it reads
and the :class:`Record` base of the typed summary it stores in a grid cell's metrics."""

from __future__ import annotations

import dataclasses
import functools
import numbers
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from tasks import Split, Task


@dataclass(frozen=True)
class Subject:
    """What an analysis reads: a fitted ``learner``, the ``task`` its data came from, the ``train``
    split it was fitted on, the ``seed`` of the cell (analyses draw their samples from it) and the
    analysis's own ``params`` (from ``--analyses NAME:key=value``)."""

    learner: Any
    task: Task
    train: Split
    seed: int = 0
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """A typed per-cell summary. Stored as a plain JSON object (:meth:`to_metrics`); read back from
    one (:meth:`from_metrics`), keeping only the fields the record declares, so that summaries
    written by older code still read, and refusing a field whose value is not of its declared type
    (:class:`RecordError`). Fields in ``KEEP_NONE`` are stored even when None (a step never reached
    is an answer); others are left out when None."""

    KEEP_NONE: ClassVar[tuple[str, ...]] = ()

    def to_metrics(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None or f.name in self.KEEP_NONE}

    @classmethod
    def from_metrics(cls, stored: Mapping[str, Any]) -> Self:
        """The record in ``stored``: unknown keys are left out; a declared field whose value does not
        fit its type hint (a hand-edited store: ``"llc": "abc"``) is a :class:`RecordError` naming
        the field, never a record that crashes whoever reads it later."""
        hints = _field_hints(cls)
        for name, hint in hints.items():
            if name in stored and (found := mismatch(stored[name], hint, name)) is not None:
                raise RecordError(*found)
        return cls(**{k: v for k, v in stored.items() if k in hints})


class RecordError(ValueError):
    """A stored summary holds a value of another type than its record declares; one line naming the
    key (``llc``, ``programs[0].subexpressions``), the value and the type expected. ``path``,
    ``value`` and ``expected`` are kept for callers that add where the summary was (the cell)."""

    def __init__(self, path: str, value: Any, expected: str) -> None:
        self.path, self.value, self.expected = path, value, expected
        super().__init__(f"{path} holds {short(value)}, not {expected}")


def short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line errors (a value may be huge)."""
    if isinstance(value, list | dict) and len(value) > limit:
        return f"a {'list' if isinstance(value, list) else 'JSON object'} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.cache
def _field_hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def mismatch(value: Any, hint: Any, path: str) -> tuple[str, Any, str] | None:
    """Where ``value`` (plain JSON data, or numpy values a learner computed) first fails the type
    ``hint``: ``(path, the value there, what was expected)``; None where it fits. Understands
    ``Any``, ``None``, ``bool``, ``int`` (an integral float too: JSON and SQLite may write 3.0),
    ``float``, ``str``, unions, ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]`` and TypedDicts. It
    recurses along the hint, never deeper than the hint goes, so a deeply nested value cannot
    exhaust the stack."""
    if hint is Any:
        return None
    if hasattr(value, "tolist") and not isinstance(value, list | str):
        value = value.tolist()  # numpy scalars and arrays, as a learner's fresh summary holds them
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        found = [mismatch(value, option, path) for option in args]
        if any(f is None for f in found):
            return None
        deeper = [f for f in found if f is not None and f[0] != path]  # the container fit, an item did not
        return deeper[0] if deeper else (path, value, " or ".join(_describe(a) for a in args))
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list | tuple):
            return path, value, _describe(hint)
        item = args[0] if args else Any
        for i, element in enumerate(value):
            if (found := mismatch(element, item, f"{path}[{i}]")) is not None:
                return found
        return None
    if typing.is_typeddict(hint):
        if not isinstance(value, Mapping):
            return path, value, _describe(hint)
        items = typing.get_type_hints(hint)
        return next((f for k, v in value.items() if k in items
                     and (f := mismatch(v, items[k], f"{path}.{k}")) is not None), None)
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            return path, value, _describe(hint)
        item = args[-1] if args else Any
        found = (mismatch(v, item, f"{path}.{k}") for k, v in value.items())
        return next((f for f in found if f is not None), None)
    return None if _fits_scalar(value, hint) else (path, value, _describe(hint))


def _fits_scalar(value: Any, hint: Any) -> bool:
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint: Any) -> str:
    """A type hint in a user's words, for :class:`RecordError`."""
    names = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "text"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint) or hint
    if origin in (list, tuple):
        return "a list"
    if origin is dict or typing.is_typeddict(hint):
        return "a JSON object"
    return getattr(hint, "__name__", str(hint))
