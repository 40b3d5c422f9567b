"""Examples files: a task read from JSON Lines, and any split written as one.

One example per line: ``{"x": [ints], "y": int}`` (one label per example) or
``{"x": [ints], "y": [int or null, ...]}`` (one target per token; null = not scored; as many as x).
Blank lines are skipped. Token ids and labels are integers >= 0.

Rows of one length are fixed-arity inputs (columns ``x0, x1, ...``). Rows of different lengths are
token sequences, right-padded with a pad id (one above the largest token unless given; columns
``t0, t1, ...``): always allowed for per-position targets, and for single labels when asked (``pad``),
since a short row in a file of fixed-arity inputs is more often a mistake.

:func:`write_examples` strips right padding, so :func:`read_examples` with ``like=split`` gives back
the same ``X``, ``y`` and ``mask`` and the same ``d_vocab``, ``n_classes``, ``pad_id`` and columns.
Without ``like`` these are inferred: the arrays come back equal whenever the split is unpadded, or
padded to its longest row with ``pad_id`` one above its largest token; ``d_vocab`` and
``n_classes`` come back as one above the largest token and label present.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO

import numpy as np

from tasks.base import UNSCORED, SpecError, Split, Task, stable_seed
from tasks.registry import register

ACCEPTED_KEYS = ("x", "y")


class ExamplesFileError(SpecError):
    """An examples file is missing or malformed; the message names the file and line."""


@dataclass
class Records:
    """The examples of one file, checked but not yet turned into arrays."""

    path: str
    xs: list[list[int]]
    ys: list[int] | list[list[int | None]]
    lines: list[int]
    per_position: bool


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_example(obj: object, where: str) -> tuple[list[int], int | list[int | None]]:
    if not isinstance(obj, dict):
        raise ExamplesFileError(f"{where}: expected an object with keys x and y, got {type(obj).__name__}")
    for key in obj:
        if key not in ACCEPTED_KEYS:
            raise ExamplesFileError(f"{where}: unknown key {key!r}; accepted: {', '.join(ACCEPTED_KEYS)}")
    for key in ACCEPTED_KEYS:
        if key not in obj:
            raise ExamplesFileError(f"{where}: missing key {key!r}")
    x, y = obj["x"], obj["y"]
    if not isinstance(x, list) or not x or not all(_is_int(v) and v >= 0 for v in x):
        raise ExamplesFileError(f"{where}: x must be a non-empty list of integers >= 0, got {json.dumps(x)}")
    if isinstance(y, list):
        if len(y) != len(x):
            raise ExamplesFileError(
                f"{where}: y has {len(y)} entries but x has {len(x)}; per-position targets need one per token"
            )
        if not all(v is None or (_is_int(v) and v >= 0) for v in y):
            raise ExamplesFileError(f"{where}: y must hold integers >= 0 or null, got {json.dumps(y)}")
    elif not (_is_int(y) and y >= 0):
        raise ExamplesFileError(
            f"{where}: y must be an integer >= 0 or a list of them (null = not scored), got {json.dumps(y)}"
        )
    return x, y


def parse_examples(path: str | os.PathLike) -> Records:
    """Read and check one examples file; :class:`ExamplesFileError` names the file and line."""
    path = str(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ExamplesFileError(f"examples file {path!r} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ExamplesFileError(f"examples file {path!r} cannot be read: {error}") from None
    records = Records(path, [], [], [], per_position=False)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            message = f"{where}: malformed JSON ({error.msg} at column {error.colno})"
            raise ExamplesFileError(message) from None
        x, y = _check_example(obj, where)
        if not records.lines:
            records.per_position = isinstance(y, list)
        elif isinstance(y, list) != records.per_position:
            first = "a list of targets" if records.per_position else "a single label"
            raise ExamplesFileError(
                f"{where}: mixed label kinds: line {records.lines[0]} has {first}, this line does not"
            )
        records.xs.append(x)
        records.ys.append(y)
        records.lines.append(number)
    if not records.lines:
        raise ExamplesFileError(f"examples file {path!r} holds no examples (it is empty)")
    return records


def build_splits(
    files: Sequence[Records],
    *,
    pad: bool = False,
    d_vocab: int | None = None,
    n_classes: int | None = None,
    pad_id: int | None = None,
    width: int | None = None,
    columns: tuple[str, ...] | None = None,
    names: Sequence[str] | None = None,
) -> list[Split]:
    """Turn parsed files into splits sharing one vocabulary, label set, pad id and width.

    Values left as None are inferred from all the files together (see the module docstring)."""
    first = files[0]
    for records in files[1:]:
        if records.per_position != first.per_position:
            kinds = ("single labels", "per-position targets")
            raise ExamplesFileError(
                f"{records.path}:{records.lines[0]}: this file has {kinds[records.per_position]} but "
                f"{first.path} has {kinds[first.per_position]}"
            )
    lengths = [(len(x), r.path, line) for r in files for x, line in zip(r.xs, r.lines, strict=True)]
    ragged = len({n for n, _, _ in lengths}) > 1
    if ragged and pad_id is None and not (pad or first.per_position):
        (n0, path0, line0), (n, path, line) = lengths[0], next(it for it in lengths if it[0] != lengths[0][0])
        raise ExamplesFileError(
            f"{path}:{line}: x has {n} values but {path0}:{line0} has {n0}; "
            "rows of different lengths are token sequences only with pad=true (they are then right-padded)"
        )
    top_token = max(max(x) for r in files for x in r.xs)
    padded = pad_id is not None or ragged
    if padded and pad_id is None:
        pad_id = top_token + 1
    width = width if width is not None else max(n for n, _, _ in lengths)
    d_vocab = d_vocab if d_vocab is not None else max(top_token, pad_id if padded else 0) + 1
    labels = [v for r in files for y in r.ys for v in (y if r.per_position else [y]) if v is not None]
    if n_classes is None:
        if not labels:
            raise ExamplesFileError(f"examples file {first.path!r} has no scored target (every y is null)")
        n_classes = max(labels) + 1
    prefix = "t" if padded or first.per_position else "x"
    columns = columns if columns is not None else tuple(f"{prefix}{i}" for i in range(width))
    return [
        _to_split(r, name, padded, pad_id, width, d_vocab, n_classes, columns)
        for r, name in zip(files, names or [""] * len(files), strict=True)
    ]


def _to_split(r: Records, name, padded, pad_id, width, d_vocab, n_classes, columns) -> Split:
    n = len(r.xs)
    X = np.full((n, width), pad_id if padded else 0, dtype=np.int64)
    y = np.full((n, width), UNSCORED, dtype=np.int64) if r.per_position else np.empty(n, dtype=np.int64)
    for i, (x, label, line) in enumerate(zip(r.xs, r.ys, r.lines, strict=True)):
        where = f"{r.path}:{line}"
        if len(x) > width:
            raise ExamplesFileError(f"{where}: x has {len(x)} values, more than the width {width}")
        if max(x) >= d_vocab or (padded and pad_id in x):
            raise ExamplesFileError(
                f"{where}: token {max(x) if max(x) >= d_vocab else pad_id} is not accepted; tokens must lie "
                f"in [0, {d_vocab})" + (f" and differ from the pad id {pad_id}" if padded else "")
            )
        scored = [v for v in (label if r.per_position else [label]) if v is not None]
        if scored and max(scored) >= n_classes:
            raise ExamplesFileError(
                f"{where}: label {max(scored)} is not accepted; labels lie in [0, {n_classes})"
            )
        X[i, : len(x)] = x
        if r.per_position:
            y[i, : len(x)] = [UNSCORED if v is None else v for v in label]
        else:
            y[i] = label
    mask = (y != UNSCORED) if r.per_position else None
    return Split(
        X=X, y=y, d_vocab=d_vocab, n_classes=n_classes, columns=columns, mask=mask,
        pad_id=pad_id if padded else None, name=name, meta={"file": r.path},
    )


def read_examples(
    path: str | os.PathLike, *, pad: bool = False, like: Split | None = None, name: str = ""
) -> Split:
    """The split held by an examples file. With ``like`` (for instance the split that was written),
    its ``d_vocab``, ``n_classes``, ``pad_id``, width and columns are used instead of inferred."""
    records = parse_examples(path)
    if like is None:
        return build_splits([records], pad=pad, names=[name])[0]
    return build_splits(
        [records], pad=pad, d_vocab=like.d_vocab, n_classes=like.n_classes, pad_id=like.pad_id,
        width=like.X.shape[1], columns=like.columns, names=[name or like.name],
    )[0]


def example_records(split: Split) -> list[dict]:
    """The rows of ``split`` as examples-file objects, right padding stripped (unscored → null)."""
    out = []
    for i in range(len(split)):
        row = split.X[i]
        keep = row != split.pad_id if split.pad_id is not None else np.ones(len(row), dtype=bool)
        if split.per_position:
            keep = keep | split.mask[i]  # a scored position is never stripped
        length = int(np.flatnonzero(keep)[-1]) + 1 if keep.any() else 0
        if split.per_position:
            scored = zip(split.y[i, :length].tolist(), split.mask[i, :length].tolist(), strict=True)
            y = [v if m else None for v, m in scored]
        else:
            y = int(split.y[i])
        out.append({"x": row[:length].tolist(), "y": y})
    return out


def write_examples(split: Split, file: str | os.PathLike | IO[str]) -> None:
    """Write ``split`` as JSON Lines to a path or an open text stream."""
    lines = "".join(json.dumps(record) + "\n" for record in example_records(split))
    if isinstance(file, str | os.PathLike):
        Path(file).write_text(lines, encoding="utf-8")
    else:
        file.write(lines)


@register
@dataclass(frozen=True)
class ExamplesTask(Task):
    """A task read from examples files: ``examples:train=PATH[,test=PATH]``.

    Without a test file, a ``test_fraction`` of the training file's rows, chosen by a hash of the
    spec, is held out. Training rows whose inputs also occur in the test split are dropped (train
    and test never overlap); ``train_split(n, seed)`` takes the first ``n`` rows of the rest in an
    order drawn from the seed. Both files share one vocabulary, label set, pad id and width.
    """

    train: str = ""
    test: str = ""
    test_fraction: float = 0.2
    pad: bool = False

    family = "examples"
    summary = 'your own examples: JSON Lines, one {"x": [ints], "y": int or [int or null, ...]} per line'

    param_help = {
        "train": "path of the training file (required; no commas)",
        "test": "path of the test file (optional; without it a test_fraction of train is held out)",
        "test_fraction": "share of the training file held out when there is no test file, in (0, 1)",
        "pad": "true: rows of different lengths are token sequences, right-padded (single labels)",
    }

    def __post_init__(self) -> None:
        if not self.train:
            raise SpecError("examples: train=PATH is required (an examples file, JSON Lines)")
        for key in ("train", "test"):
            path = getattr(self, key)
            if path and not os.path.isfile(path):
                raise ExamplesFileError(f"examples: {key} file {path!r} not found")
        if not 0.0 < self.test_fraction < 1.0:
            raise SpecError(
                f"examples: test_fraction={self.test_fraction} is not accepted; it must lie in (0, 1)"
            )

    @cached_property
    def _data(self) -> tuple[Split, Split, dict[bytes, np.ndarray]]:
        """(training pool, test split, label of every input row read)."""
        files = [parse_examples(self.train)] + ([parse_examples(self.test)] if self.test else [])
        splits = build_splits(files, pad=self.pad, names=["train", "test"][: len(files)])
        if self.test:
            pool, test = splits
        else:
            everything = splits[0]
            n_test = int(round(self.test_fraction * len(everything)))
            if not 0 < n_test < len(everything):
                raise SpecError(
                    f"examples: {self.train!r} has {len(everything)} examples, too few to hold out "
                    f"test_fraction={self.test_fraction}; give a test file"
                )
            rng = np.random.default_rng(stable_seed("examples/test", self.spec))
            order = rng.permutation(len(everything))
            test = everything.subset(np.sort(order[:n_test]))
            pool = everything.subset(np.sort(order[n_test:]))
        in_test = {row.tobytes() for row in test.X}
        fresh = np.array([row.tobytes() not in in_test for row in pool.X], dtype=bool)
        pool = pool.subset(fresh)
        labels = {row.tobytes(): y for part in (test, pool) for row, y in zip(part.X, part.y, strict=True)}
        return pool, dataclasses.replace(test, name="test"), labels

    @property
    def max_train(self) -> int:
        return len(self._data[0])

    def test_split(self) -> Split:
        return self._data[1]

    def train_split(self, n: int, seed: int = 0) -> Split:
        self.check_train_size(n)
        pool = self._data[0]
        order = np.random.default_rng(stable_seed("examples/train", self.spec, seed)).permutation(len(pool))
        split = pool.subset(order[:n])
        return dataclasses.replace(split, name="train", meta={**split.meta, "seed": seed})

    def ood_split(self, name: str) -> Split:
        raise SpecError(f"examples tasks have no out-of-distribution splits; asked for {name!r}")

    def reference(self, X: np.ndarray) -> np.ndarray:
        """The labels the files give these inputs (the files are the ground truth); an input row
        that is in neither file is an error."""
        labels = self._data[2]
        X = np.asarray(X, dtype=np.int64)
        try:
            return np.stack([labels[row.tobytes()] for row in X]) if len(X) else self._data[1].y[:0]
        except KeyError:
            raise ValueError("reference: an input row is in neither examples file") from None
