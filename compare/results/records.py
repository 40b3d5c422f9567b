"""The records of the results store and the columns they declare.

:class:`CellResult` (what one cell measured) and :class:`Row` (a stored cell with its result) are
plain dataclasses; the fields of :class:`~compare.grid.Cell` and :class:`CellResult` declare the
columns of the store's ``cells`` table (their type hints give each column's SQL type and how a stored
value is checked), so that a new field becomes a column of every store. The SQLite store itself is
:mod:`compare.results.store`, which imports this module (never the other way round).
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypedDict

from compare.grid.cells import Cell
from mechanisms.record import RecordError, mismatch
from mechanisms.registry import ANALYSES
from tasks import SpecError
from tasks.spec import split_spec


@dataclass
class CellResult:
    """Everything measured in one cell. Plain types only: it crosses process boundaries.

    ``ood`` maps each out-of-distribution split to its accuracy. ``program``/``bits``/``search``
    come from the synthesizer; ``steps_fit``/``steps_generalize`` (first evaluated step with train,
    resp. test, accuracy ≥ 0.99) from networks; ``artefacts`` lists saved files (checkpoints).
    ``extra`` holds diagnostics (tracebacks, warnings, histories); ``metrics`` holds measurements
    without a column of their own, e.g. ``metrics["mechanism"] = {"text": "k=4,17 r=1.00", ...}``
    (a short line for tables under ``"text"``, beside numbers).

    A new field becomes a column of every store, old ones included (see the module docstring); its
    type must be one of ``str``, ``int``, ``float`` (each optionally ``| None``), ``dict``, ``list``.
    """

    status: str = "ok"  # "ok" or "failed"
    error: str | None = None
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    ood: dict[str, float] = field(default_factory=dict)
    fit_seconds: float | None = None
    program: str | None = None
    bits: float | None = None
    search: dict[str, Any] = field(default_factory=dict)
    steps_fit: int | None = None
    steps_generalize: int | None = None
    artefacts: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """A stored cell with its result."""

    cell: Cell
    result: CellResult
    key: str


# --- columns, declared by the dataclasses ------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """One column of the ``cells`` table: its SQL type, whether it holds JSON, and its default."""

    name: str
    sql: str  # "TEXT", "INTEGER" or "REAL"
    check: Callable[[Any], bool]  # is a decoded value acceptable?
    expected: str  # what ``check`` accepts, for error messages
    json: bool = False
    nullable: bool = True
    default: Callable[[], Any] | None = None  # the value of rows written before the column existed
    #: For a JSON column, what :func:`metrics_problem` does for ``metrics``: the first value inside
    #: of the wrong type, as ``(key path, value, expected)``, or None.
    inside: Callable[[Any], tuple[str, Any, str] | None] | None = None

    def declaration(self, new_table: bool) -> str:
        """The column in ``CREATE TABLE`` (``new_table``) or ``ALTER TABLE ... ADD COLUMN``: an added
        column carries its default so that older rows read it."""
        text = f"{self.name} {self.sql}"
        if new_table and not self.nullable:
            text += " NOT NULL"
        if not new_table and self.default is not None and self.default() is not None:
            text += f" DEFAULT {_sql_literal(self.encode(self.default()))}"
        return text

    def encode(self, value: Any) -> Any:
        return json.dumps(value, sort_keys=True, default=_plain) if self.json else value


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _plain(value: Any) -> Any:
    """JSON for numpy scalars and arrays (learners' metrics often are); anything else is a bug."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store a {type(value).__name__} in a JSON column")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_CHECKS: dict[type, tuple[str, Callable[[Any], bool], str]] = {
    str: ("TEXT", lambda v: isinstance(v, str), "text"),
    int: ("INTEGER", lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: ("REAL", _is_number, "a number"),
}


def _column(name: str, hint: Any, default: Callable[[], Any] | None) -> _Column:
    """The column for a dataclass field of type ``hint``; a type the store cannot hold fails at import,
    so that a new field cannot be added without deciding how it is stored."""
    args = typing.get_args(hint)
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    nullable = is_union and type(None) in args
    base = next(a for a in args if a is not type(None)) if is_union else hint
    origin = typing.get_origin(base) or base
    if origin in (dict, list):
        value_type = typing.get_args(base)[-1] if typing.get_args(base) else Any
        numbers = origin is dict and value_type is float  # e.g. ood: tables average these

        def check(v: Any) -> bool:
            if not isinstance(v, origin):
                return False
            return not numbers or all(x is None or _is_number(x) for x in v.values())

        expected = f"a JSON {'object' if origin is dict else 'array'}" + (" of numbers" if numbers else "")
        return _Column(name, "TEXT", check, expected, json=True, nullable=False, default=default or origin)
    if base not in _CHECKS:
        raise TypeError(f"field {name}: type {hint} cannot be stored (use str, int, float, dict or list)")
    sql, test, expected = _CHECKS[base]
    if nullable:
        return _Column(name, sql, lambda v, t=test: v is None or t(v), f"{expected} or null", default=default)
    return _Column(name, sql, test, expected, nullable=False, default=default)


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _columns_of(cls: type) -> list[_Column]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        if f.default is not MISSING:
            default: Callable[[], Any] | None = _constant(f.default)
        elif f.default_factory is not MISSING:
            default = f.default_factory
        else:
            default = None
        out.append(_column(f.name, hints[f.name], default))
    return out


#: How deep a stored JSON value may nest. The deepest dlps writes is an alignment's subexpression
#: inside a program inside the metrics (5 levels); the limit keeps a hand-edited 100,000-deep value
#: from exhausting the stack of whatever reads it (the decoder, the report).
MAX_JSON_DEPTH = 32


def json_depth(value: Any) -> int:
    """How deep ``value`` nests (a scalar 0, ``[]`` 1, ``[[1]]`` 2); iterative, never recursing."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_JSON_DEPTH:  # deeper than the limit is refused anyway: stop counting
                stack += [(v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


class _StoredSubexpression(TypedDict, total=False):
    expression: str
    iia: float | None
    iia_corrected: float | None
    headline: str | None


class _StoredProgram(TypedDict, total=False):
    program: str
    headline: str | None
    subexpressions: list[_StoredSubexpression]


#: What the table and the report read inside a summary beyond its record's type hints (an
#: alignment's programs are ``list[dict[str, Any]]`` there): checked when the store is read.
_INSIDE: dict[str, dict[str, Any]] = {"alignment": {"programs": list[_StoredProgram] | None}}


def metrics_problem(metrics: dict[str, Any]) -> tuple[str, Any, str] | None:
    """The first value of the wrong type in a cell's ``metrics``: each registered analysis's summary
    must be a JSON object whose fields fit its record (:meth:`mechanisms.record.Record.from_metrics`)
    and what the report reads inside it; as ``(key path, value, expected)``, or None. Keys of no
    analysis are not read by dlps, and not checked."""
    for analysis in ANALYSES:
        if analysis.name not in metrics:
            continue
        stored = metrics[analysis.name]
        if not isinstance(stored, dict):
            return analysis.name, stored, "a JSON object"
        try:
            analysis.record.from_metrics(stored)
        except RecordError as exc:
            return f"{analysis.name}.{exc.path}", exc.value, exc.expected
        for name, hint in _INSIDE.get(analysis.name, {}).items():
            if name in stored and (found := mismatch(stored[name], hint, f"{analysis.name}.{name}")):
                return found
    return None


def _is_spec(value: Any) -> bool:
    """A task or method spec the table and the report can take apart (``family:key=value,...``)."""
    if not isinstance(value, str):
        return False
    try:
        split_spec(value)
    except SpecError:
        return False
    return True


def _cell_column(c: _Column) -> _Column:
    """The cell's columns, checked for what readers rely on beyond the type: a training size of at
    least 1 (learning curves take its logarithm), specs that parse."""
    if c.name == "n":
        return _Column(c.name, c.sql, lambda v: _CHECKS[int][1](v) and v >= 1, "an integer >= 1",
                       nullable=False, default=c.default)
    if c.name in ("task", "method", "method_spec"):
        return _Column(c.name, c.sql, _is_spec, "a spec family:key=value,...", nullable=False,
                       default=c.default)
    return c


_STATUSES = ("ok", "failed")
_KEY = _Column("key", "TEXT", lambda v: isinstance(v, str), "text", nullable=False)
_CELL = [_cell_column(c) for c in _columns_of(Cell)]
_RESULT = [
    _Column(c.name, c.sql, lambda v: v in _STATUSES, " or ".join(map(repr, _STATUSES)), nullable=False,
            default=c.default) if c.name == "status"
    else _Column(c.name, c.sql, c.check, c.expected, c.json, c.nullable, c.default, metrics_problem)
    if c.name == "metrics" else c
    for c in _columns_of(CellResult)
]
_BOOKKEEPING = [
    _Column("format", "INTEGER", _CHECKS[int][1], "an integer", nullable=False, default=lambda: 0),
    _Column("finished_at", "REAL", _is_number, "a number", nullable=False, default=lambda: 0.0),
]
_ALL = [_KEY, *_CELL, *_RESULT, *_BOOKKEEPING]
#: Columns every dlps store has had since its first format: without them rows cannot be read at all.
_REQUIRED = {"key", "task", "method", "method_spec", "n", "seed"}
