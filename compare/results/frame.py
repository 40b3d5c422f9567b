"""A store as data: one flat record per cell, written as CSV, JSON lines or Parquet, or read into a
pandas DataFrame for a notebook.

A record holds the cell (``key``, ``task``, ``method``, ``method_spec``, ``n``, ``seed``) and every
field of its result, nested dictionaries flattened to dotted keys (``ood.longer``,
``search.candidates``, ``metrics.mechanism.restricted_accuracy``); lists stay values (JSON text in
CSV and Parquet, where a column holds one type). ``extra`` (tracebacks, training histories) is left
out: it is diagnostics, large, and read from the store where needed. Every record has every column
(None where a cell has no such value), so the schema of a file depends only on what the store holds,
and the columns come in a fixed order: the cell's, the result's fixed fields, then the dotted keys
sorted.

pandas and pyarrow are optional (``pip install 'dlps[frames]'``) and imported only inside the
functions that need them; nothing here imports torch, so reading a store stays quick.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from compare.results.records import CellResult
from compare.results.store import Row, Store

EXPORT_FORMATS = ("csv", "jsonl", "parquet")
CELL_FIELDS = ("key", "task", "method", "method_spec", "n", "seed")
#: Result fields left out of a record (see the module docstring).
LEFT_OUT = ("extra",)
EXTRA = "pip install 'dlps[frames]'"


class MissingExtra(ImportError):
    """An optional dependency (pandas, pyarrow) is not installed; the message says how to add it."""


def _flatten(value: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(item, Mapping):
            _flatten(item, name, out)  # an empty dict adds no column: it holds no value
        else:
            out[name] = item


def record(row: Row) -> dict[str, Any]:
    """One cell as a flat dict: the cell's fields, then its result's, nested dicts as dotted keys."""
    out: dict[str, Any] = {"key": row.key}
    out |= {name: getattr(row.cell, name) for name in CELL_FIELDS[1:]}
    result = {f.name: getattr(row.result, f.name) for f in dataclasses.fields(row.result)
              if f.name not in LEFT_OUT}
    _flatten(result, "", out)
    # The name train's and mechanisms' JSON use for the same step; steps_generalize (the stored
    # field) stays beside it for one release.
    out["generalization_step"] = row.result.steps_generalize
    return out


def records(rows: Iterable[Row]) -> list[dict[str, Any]]:
    """:func:`record` of each row, each with every column of all of them (None where absent)."""
    flat = [record(row) for row in rows]
    fixed = [*CELL_FIELDS, *(f.name for f in dataclasses.fields(CellResult) if f.name not in LEFT_OUT)]
    seen = dict.fromkeys(name for r in flat for name in r)
    columns = [c for c in fixed if c in seen] + sorted(c for c in seen if c not in fixed)
    return [{c: r.get(c) for c in columns} for r in flat]


def read_rows(store: str | Path, tasks: Sequence[str] = (), methods: Sequence[str] = ()) -> list[Row]:
    """The store's rows (read only), filtered as ``dlps table`` filters them; a missing or foreign
    file is a ValueError naming it."""
    from compare.results.tables import matches

    with Store(store, create=False) as results:
        rows = results.rows()
    return [r for r in rows if matches(r.cell.task, tasks)
            and (matches(r.cell.method, methods) or matches(r.cell.method_spec, methods))]


def _plain(value: Any) -> Any:
    """A value for a one-type column: lists (and any other container) as JSON text."""
    return json.dumps(value) if isinstance(value, list | tuple | dict) else value


def to_csv(flat: Sequence[Mapping[str, Any]]) -> str:
    """CSV text: a header of every column, one line per cell (None as an empty field)."""
    buffer = io.StringIO()
    if flat:
        writer = csv.DictWriter(buffer, list(flat[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else _plain(v) for k, v in r.items()} for r in flat)
    return buffer.getvalue()


def to_jsonl(flat: Sequence[Mapping[str, Any]]) -> str:
    """JSON lines: one object per cell (lists kept as lists, NaN as null)."""
    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and v != v else v

    return "".join(json.dumps({k: clean(v) for k, v in r.items()}) + "\n" for r in flat)


def to_parquet(flat: Sequence[Mapping[str, Any]]) -> bytes:
    """Parquet bytes (pyarrow; MissingExtra without it)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingExtra(f"parquet needs pyarrow, which is not installed: {EXTRA}") from None
    table = pa.Table.from_pylist([{k: _plain(v) for k, v in r.items()} for r in flat])
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def export_store(store: str, format: str, out: str | None = None, force: bool = False) -> str:
    """``dlps export``: the store in ``format`` (:data:`EXPORT_FORMATS`), returned as text to print,
    or written to ``out`` atomically (then a one-line note is returned). ValueError (exit 2) for an
    unknown format, a missing extra, parquet without ``out``, an existing ``out`` without ``force``,
    or a file that is not a store."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {format!r}; accepted: {', '.join(EXPORT_FORMATS)}")
    if format == "parquet" and out is None:
        raise ValueError("parquet is binary: give a file with --out")
    if out is not None and Path(out).exists() and not force:
        raise ValueError(f"{out} exists; --force replaces it")
    flat = records(read_rows(store))
    try:
        data = to_parquet(flat) if format == "parquet" else {"csv": to_csv, "jsonl": to_jsonl}[format](flat)
    except MissingExtra as exc:
        raise ValueError(str(exc)) from None
    if out is None:
        return str(data)
    # The project's one atomic writer; it lives in baselines, so only writing a file pays its import.
    from compare.files import write_atomically

    payload = data if isinstance(data, bytes) else data.encode()
    write_atomically(out, lambda fh: fh.write(payload))
    return f"{len(flat)} cells written to {out}\n"


def load_frame(store: str | Path, tasks: Sequence[str] = (), methods: Sequence[str] = ()) -> Any:
    """The store as a pandas DataFrame, one row per cell, columns as :func:`records` (lists kept as
    Python lists). Raises :class:`MissingExtra` (one line, naming the extra) without pandas.

    >>> from compare.results.frame import load_frame
    >>> df = load_frame("dlps-results.sqlite", tasks=["modular"])
    >>> df.groupby(["method", "n"])["test_accuracy"].mean()
    """
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtra(f"load_frame needs pandas, which is not installed: {EXTRA}") from None
    flat = records(read_rows(store, tasks, methods))
    return pd.DataFrame.from_records(flat, columns=list(flat[0]) if flat else list(CELL_FIELDS))
