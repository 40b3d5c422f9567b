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
import hashlib
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO

import numpy as np

from tasks.base import UNSCORED, SpecError, Split, Task, stable_seed
from tasks.examples_read import (
    ACCEPTED_KEYS,
    MAX_BYTES,
    MAX_CELLS,
    MAX_LABEL,
    MAX_LINE_BYTES,
    MAX_ROW,
    MAX_TOKEN,
    ExamplesFileError,
    Records,
    file_kind,
    parse_examples,
    size_text,
)
from tasks.registry import register

#: Reading one file (its limits, its errors) is :mod:`tasks.examples_read`; its names stay importable here.
__all__ = [
    "ACCEPTED_KEYS",
    "MAX_BYTES",
    "MAX_CELLS",
    "MAX_LABEL",
    "MAX_LINE_BYTES",
    "MAX_ROW",
    "MAX_TOKEN",
    "ExamplesFileError",
    "ExamplesTask",
    "Records",
    "build_splits",
    "example_records",
    "parse_examples",
    "read_examples",
    "write_examples",
]


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
    max_cells: int = MAX_CELLS,
) -> list[Split]:
    """Turn parsed files into splits sharing one vocabulary, label set, pad id and width.

    Values left as None are inferred from all the files together (see the module docstring). The
    padded matrix of all the files together holds at most ``max_cells`` values (rows × width)."""
    first = files[0]
    for records in files[1:]:
        if records.per_position != first.per_position:
            kinds = ("single labels", "per-position targets")
            raise ExamplesFileError(
                f"{records.path}:{records.lines[0]}: this file has {kinds[records.per_position]} but "
                f"{first.path} has {kinds[first.per_position]}"
            )
    n0, path0, line0 = int(first.lengths[0]), first.path, int(first.lines[0])
    odd = [(r, np.flatnonzero(r.lengths != n0)) for r in files]
    ragged = any(len(rows) for _, rows in odd)
    if ragged and pad_id is None and not (pad or first.per_position):
        r, rows = next((r, rows) for r, rows in odd if len(rows))
        raise ExamplesFileError(
            f"{r.path}:{r.lines[rows[0]]}: x has {r.lengths[rows[0]]} values but {path0}:{line0} has {n0}; "
            "rows of different lengths are token sequences only with pad=true (they are then right-padded)"
        )
    top_token = max(int(r.tokens.max()) for r in files)
    padded = pad_id is not None or ragged
    if padded and pad_id is None:
        pad_id = top_token + 1
    longest = max(files, key=lambda r: int(r.lengths.max()))
    width = width if width is not None else int(longest.lengths.max())
    rows = sum(len(r) for r in files)
    if rows * width > max_cells:
        at = longest.lines[int(np.argmax(longest.lengths))]
        raise ExamplesFileError(
            f"{longest.path}:{at}: {rows} rows padded to the longest ({width} tokens) are {rows * width} "
            f"values ({size_text(8 * rows * width)} per array); the limit is {max_cells} (max_cells=...)"
        )
    d_vocab = d_vocab if d_vocab is not None else max(top_token, pad_id if padded else 0) + 1
    if n_classes is None:
        scored = [r.labels[r.labels != UNSCORED] for r in files]
        if not any(len(s) for s in scored):
            raise ExamplesFileError(f"examples file {first.path!r} has no scored target (every y is null)")
        n_classes = max(int(s.max()) for s in scored if len(s)) + 1
    prefix = "t" if padded or first.per_position else "x"
    columns = columns if columns is not None else tuple(f"{prefix}{i}" for i in range(width))
    return [
        _to_split(r, name, padded, pad_id, width, d_vocab, n_classes, columns)
        for r, name in zip(files, names or [""] * len(files), strict=True)
    ]


def _first_row(r: Records, bad_tokens: np.ndarray) -> int | None:
    """The first row holding a True of ``bad_tokens`` (one flag per token), or None."""
    hits = np.flatnonzero(bad_tokens)
    return int(np.searchsorted(r.starts, hits[0], side="right")) - 1 if len(hits) else None


def _to_split(r: Records, name, padded, pad_id, width, d_vocab, n_classes, columns) -> Split:
    lengths = r.lengths
    # Each check finds its first bad row; the earliest one is reported (as a row-by-row check would).
    wide = np.flatnonzero(lengths > width)
    bad_token = r.tokens >= d_vocab
    if padded:
        bad_token |= r.tokens == pad_id
    bad_label = r.labels >= n_classes
    label_row = _first_row(r, bad_label) if r.per_position else (
        int(np.argmax(bad_label)) if bad_label.any() else None)
    problems = [
        (int(wide[0]) if len(wide) else None, 0),
        (_first_row(r, bad_token), 1),
        (label_row, 2),
    ]
    found = [(row, kind) for row, kind in problems if row is not None]
    if found:
        row, kind = min(found)
        where = f"{r.path}:{r.lines[row]}"
        x = r.row(row)
        if kind == 0:
            raise ExamplesFileError(f"{where}: x has {len(x)} values, more than the width {width}")
        if kind == 1:
            token = int(x.max()) if x.max() >= d_vocab else pad_id
            raise ExamplesFileError(
                f"{where}: token {token} is not accepted; tokens must lie "
                f"in [0, {d_vocab})" + (f" and differ from the pad id {pad_id}" if padded else "")
            )
        raise ExamplesFileError(
            f"{where}: label {int(r.scored(row).max())} is not accepted; labels lie in [0, {n_classes})"
        )
    n = len(r)
    inside = np.arange(width) < lengths[:, None]  # row-major, as the flat tokens are stored
    X = np.full((n, width), pad_id if padded else 0, dtype=np.int64)
    X[inside] = r.tokens
    if r.per_position:
        y = np.full((n, width), UNSCORED, dtype=np.int64)
        y[inside] = r.labels
    else:
        y = r.labels.astype(np.int64)
    mask = (y != UNSCORED) if r.per_position else None
    return Split(
        X=X, y=y, d_vocab=d_vocab, n_classes=n_classes, columns=columns, mask=mask,
        pad_id=pad_id if padded else None, name=name, meta={"file": r.path},
    )


def read_examples(
    path: str | os.PathLike,
    *,
    pad: bool = False,
    like: Split | None = None,
    name: str = "",
    max_cells: int = MAX_CELLS,
    **limits: int,
) -> Split:
    """The split held by an examples file. With ``like`` (for instance the split that was written),
    its ``d_vocab``, ``n_classes``, ``pad_id``, width and columns are used instead of inferred.
    ``limits`` are :func:`parse_examples`'s (``max_bytes=``, ``max_row=``, ...)."""
    records = parse_examples(path, **limits)
    if like is None:
        return build_splits([records], pad=pad, names=[name], max_cells=max_cells)[0]
    return build_splits(
        [records], pad=pad, d_vocab=like.d_vocab, n_classes=like.n_classes, pad_id=like.pad_id,
        width=like.X.shape[1], columns=like.columns, names=[name or like.name], max_cells=max_cells,
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


def _content_digest(files: list[Records], test_fraction: float, pad: bool) -> str:
    """A digest of what the files hold (rows, labels, per-position or not) and of the parameters
    that shape the splits: what seeds the held-out rows and the training draw, so that copies of
    the same files anywhere give the same splits."""
    digest = hashlib.sha256(f"{test_fraction!r}|{pad}|{len(files)}".encode())
    for records in files:
        digest.update(b"|per_position" if records.per_position else b"|single")
        for array in (records.tokens, records.starts, records.labels):
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
            digest.update(b"|")
    return digest.hexdigest()


@register
@dataclass(frozen=True)
class ExamplesTask(Task):
    """A task read from examples files: ``examples:train=PATH[,test=PATH]``.

    Without a test file, a ``test_fraction`` of the training file's rows, chosen by a hash of the
    files' content, is held out. Training rows whose inputs also occur in the test split are dropped (train
    and test never overlap); ``train_split(n, seed)`` takes the first ``n`` rows of the rest in an
    order drawn from the seed and the files' content (not their paths: the same files in another
    folder give the same draws). Both files share one vocabulary, label set, pad id and width.
    """

    train: str = ""
    test: str = ""
    test_fraction: float = 0.2
    pad: bool = False

    family = "examples"
    #: Its spec names files to open: a spec read from a saved network is never opened unless the
    #: user names the same spec (compare.workflow.saved_network).
    reads_files = True
    #: 2: the held-out rows and the training draw are seeded by the files' content, not by the spec
    #: (which holds their paths).
    generator_version = 2
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
            if not path:
                continue
            try:
                mode = os.stat(path).st_mode  # stat, not open: opening a FIFO would block
            except OSError:
                raise ExamplesFileError(f"examples: {key} file {path!r} not found") from None
            if not stat.S_ISREG(mode):
                raise ExamplesFileError(
                    f"examples: {key} file {path!r} is {file_kind(mode)}; only regular files are read"
                )
        if not 0.0 < self.test_fraction < 1.0:
            raise SpecError(
                f"examples: test_fraction={self.test_fraction} is not accepted; it must lie in (0, 1)"
            )

    @cached_property
    def _data(self) -> tuple[Split, Split, dict[bytes, np.ndarray]]:
        """(training pool, test split, label of every input row read)."""
        files = [parse_examples(self.train)] + ([parse_examples(self.test)] if self.test else [])
        splits = build_splits(files, pad=self.pad, names=["train", "test"][: len(files)])
        object.__setattr__(self, "_content", _content_digest(files, self.test_fraction, self.pad))
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
            rng = np.random.default_rng(stable_seed("examples/test", self._content))
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
        pool = self._data[0]  # reading the files sets their content digest
        rng = np.random.default_rng(stable_seed("examples/train", self._content, seed))
        order = rng.permutation(len(pool))
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
