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
import re
import stat
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, BinaryIO

import numpy as np

from tasks.base import UNSCORED, SpecError, Split, Task, stable_seed
from tasks.registry import register

ACCEPTED_KEYS = ("x", "y")

# Limits: an examples file is untrusted input, so what it may make dlps read and allocate is bounded
# (module defaults; each reader takes a keyword to raise or lower its limit).
#: Largest file read (bytes). A FIFO or device is refused outright: it may never end.
MAX_BYTES = 256 * 2**20
#: Longest line (bytes, without its newline): what one ``json.loads`` may be asked to parse.
MAX_LINE_BYTES = 2**20
#: Most tokens in one row: twice the longest induction sequence, so any split exports and reads back.
MAX_ROW = 8192
#: Largest token id and label: learners allocate one embedding row or output class per value.
MAX_TOKEN = 65_535
MAX_LABEL = 65_535
#: Most values in the padded matrix (rows × longest row): one long row pads every short one to it.
MAX_CELLS = 2**25
#: Deepest JSON nesting looked at: an example is two levels deep, and json.loads recurses in C.
_MAX_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


class ExamplesFileError(SpecError):
    """An examples file is missing or malformed; the message names the file and line."""


@dataclass
class Records:
    """The examples of one file, checked but not yet turned into arrays.

    Stored flat (one int32 per token, not a Python list per row), so reading a file needs a small,
    fixed multiple of its size: row ``i`` is ``tokens[starts[i]:starts[i + 1]]``; ``labels`` holds
    one label per row, or one target per token for per-position files (``UNSCORED`` for null)."""

    path: str
    tokens: np.ndarray
    starts: np.ndarray
    labels: np.ndarray
    lines: np.ndarray
    per_position: bool

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per row."""
        return np.diff(self.starts)

    def row(self, i: int) -> np.ndarray:
        return self.tokens[self.starts[i] : self.starts[i + 1]]

    def scored(self, i: int) -> np.ndarray:
        """The scored labels of row ``i``."""
        if not self.per_position:
            return self.labels[i : i + 1]
        labels = self.labels[self.starts[i] : self.starts[i + 1]]
        return labels[labels != UNSCORED]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: object, limit: int = 60) -> str:
    """``value`` as JSON, cut short: an error message stays one readable line whatever the input."""
    text = json.dumps(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} characters)"


def _size(n: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _check_value(value: int, what: str, limit: int, keyword: str, where: str) -> None:
    if value > limit:
        raise ExamplesFileError(
            f"{where}: {what} {_show(value, 40)} is above the limit {limit} ({keyword}=...)"
        )


def _check_example(
    obj: object, where: str, max_row: int, max_token: int, max_label: int
) -> tuple[list[int], int | list[int | None]]:
    if not isinstance(obj, dict):
        raise ExamplesFileError(f"{where}: expected an object with keys x and y, got {type(obj).__name__}")
    for key in obj:
        if key not in ACCEPTED_KEYS:
            shown = repr(key) if len(key) <= 30 else _show(key, 40)
            raise ExamplesFileError(f"{where}: unknown key {shown}; accepted: {', '.join(ACCEPTED_KEYS)}")
    for key in ACCEPTED_KEYS:
        if key not in obj:
            raise ExamplesFileError(f"{where}: missing key {key!r}")
    x, y = obj["x"], obj["y"]
    if isinstance(x, list) and len(x) > max_row:
        raise ExamplesFileError(f"{where}: x has {len(x)} tokens; the limit is {max_row} a row (max_row=...)")
    if not isinstance(x, list) or not x or not all(_is_int(v) and v >= 0 for v in x):
        raise ExamplesFileError(f"{where}: x must be a non-empty list of integers >= 0, got {_show(x)}")
    _check_value(max(x), "token", max_token, "max_token", where)
    if isinstance(y, list):
        if len(y) != len(x):
            raise ExamplesFileError(
                f"{where}: y has {len(y)} entries but x has {len(x)}; per-position targets need one per token"
            )
        if not all(v is None or (_is_int(v) and v >= 0) for v in y):
            raise ExamplesFileError(f"{where}: y must hold integers >= 0 or null, got {_show(y)}")
        scored = [v for v in y if v is not None]
        if scored:
            _check_value(max(scored), "label", max_label, "max_label", where)
    elif not (_is_int(y) and y >= 0):
        raise ExamplesFileError(
            f"{where}: y must be an integer >= 0 or a list of them (null = not scored), got {_show(y)}"
        )
    else:
        _check_value(y, "label", max_label, "max_label", where)
    return x, y


def _open_regular(path: str, max_bytes: int) -> BinaryIO:
    """``path`` opened for reading if it is a regular file within ``max_bytes``.

    Opened without blocking and checked on the open descriptor: ``open`` on a FIFO waits for a
    writer, and checking the path first would race with a rename."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ExamplesFileError(f"examples file {path!r} not found") from None
    except OSError as error:
        raise ExamplesFileError(f"examples file {path!r} cannot be read: {error.strerror or error}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = _kind(info.st_mode)
        raise ExamplesFileError(f"examples file {path!r} is {kind}; only regular files are read")
    if info.st_size > max_bytes:
        os.close(fd)
        raise ExamplesFileError(
            f"examples file {path!r} is {_size(info.st_size)}; the limit is {_size(max_bytes)} "
            f"(max_bytes={max_bytes})"
        )
    return os.fdopen(fd, "rb")


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _lines(handle: BinaryIO, path: str, max_bytes: int, max_line_bytes: int) -> Iterator[tuple[int, bytes]]:
    """The numbered lines of ``handle`` (newline stripped), never reading more than the limits allow
    (the file may grow after its size was checked, and /proc files report size 0)."""
    total = 0
    for number in range(1, 2**62):
        line = handle.readline(max_line_bytes + 2)  # room for "\r\n" after a line at the limit
        if not line:
            return
        total += len(line)
        if total > max_bytes:
            raise ExamplesFileError(
                f"examples file {path!r} is larger than the limit {_size(max_bytes)} (max_bytes={max_bytes})"
            )
        content = line.removesuffix(b"\n").removesuffix(b"\r")
        if len(content) > max_line_bytes:
            raise ExamplesFileError(
                f"{path}:{number}: the line is longer than the limit {_size(max_line_bytes)} "
                f"(max_line_bytes={max_line_bytes})"
            )
        yield number, content
    raise AssertionError("unreachable")  # pragma: no cover


def _nesting(line: bytes) -> int:
    """How deep brackets nest in ``line`` outside strings (cheap: only called on lines with many)."""
    codes = np.frombuffer(_STRING.sub(b"", line), dtype=np.uint8)
    steps = (np.isin(codes, (91, 123)).astype(np.int64) - np.isin(codes, (93, 125)))  # [{ and ]}
    return int(np.cumsum(steps).max(initial=0))


def _decode(raw: bytes, number: int, where: str) -> object:
    """The JSON value of one line; any way it can fail is one line naming ``where``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ExamplesFileError(f"{where}: not UTF-8 text (byte {error.start + 1} of the line)") from None
    if number == 1:
        text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    if not text.strip():
        return None
    # Checked before parsing: json.loads recurses once per level, in C.
    if raw.count(b"[") + raw.count(b"{") > _MAX_DEPTH and (depth := _nesting(raw)) > _MAX_DEPTH:
        raise ExamplesFileError(f"{where}: JSON nested {depth} levels deep; an example is an object of lists")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ExamplesFileError(f"{where}: malformed JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        message = f"{where}: JSON nested too deeply; an example is an object of lists"
        raise ExamplesFileError(message) from None
    except ValueError as error:  # an integer of more than sys.get_int_max_str_digits() digits
        reason = str(error).split(";")[0]
        raise ExamplesFileError(f"{where}: malformed JSON ({reason})") from None


def parse_examples(
    path: str | os.PathLike,
    *,
    max_bytes: int = MAX_BYTES,
    max_line_bytes: int = MAX_LINE_BYTES,
    max_row: int = MAX_ROW,
    max_token: int = MAX_TOKEN,
    max_label: int = MAX_LABEL,
) -> Records:
    """Read and check one examples file; :class:`ExamplesFileError` names the file and line.

    Only regular files are read, of at most ``max_bytes`` and lines of at most ``max_line_bytes``;
    rows hold at most ``max_row`` tokens, token ids are at most ``max_token`` and labels at most
    ``max_label`` (an error names the limit and the keyword that changes it)."""
    path = str(path)
    tokens, starts, labels, lines = array("i"), array("q", [0]), array("i"), array("q")
    per_position = False
    with _open_regular(path, max_bytes) as handle:
        for number, raw in _lines(handle, path, max_bytes, max_line_bytes):
            where = f"{path}:{number}"
            obj = _decode(raw, number, where)
            if obj is None:
                continue  # a blank line
            x, y = _check_example(obj, where, max_row, max_token, max_label)
            if not lines:
                per_position = isinstance(y, list)
            elif isinstance(y, list) != per_position:
                first = "a list of targets" if per_position else "a single label"
                raise ExamplesFileError(
                    f"{where}: mixed label kinds: line {lines[0]} has {first}, this line does not"
                )
            tokens.extend(x)
            starts.append(len(tokens))
            if per_position:
                labels.extend(UNSCORED if v is None else v for v in y)
            else:
                labels.append(y)
            lines.append(number)
    if not lines:
        raise ExamplesFileError(f"examples file {path!r} holds no examples (it is empty)")
    as_numpy = (np.frombuffer(a, dtype=np.int32 if a.typecode == "i" else np.int64)
                for a in (tokens, starts, labels, lines))
    return Records(path, *as_numpy, per_position=per_position)


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
            f"values ({_size(8 * rows * width)} per array); the limit is {max_cells} (max_cells=...)"
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
            if not path:
                continue
            try:
                mode = os.stat(path).st_mode  # stat, not open: opening a FIFO would block
            except OSError:
                raise ExamplesFileError(f"examples: {key} file {path!r} not found") from None
            if not stat.S_ISREG(mode):
                raise ExamplesFileError(
                    f"examples: {key} file {path!r} is {_kind(mode)}; only regular files are read"
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
