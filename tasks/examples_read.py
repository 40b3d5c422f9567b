"""Reading an examples file, which is untrusted input: what it may make dlps read and allocate is
bounded, and any way it can be malformed is one :class:`ExamplesFileError` naming the file and line.

:func:`parse_examples` checks one file (``{"x": [ints], "y": int or [int or null, ...]}`` per line; see
:mod:`tasks.examples_file` for the format) into flat :class:`Records`; :mod:`tasks.examples_file`
turns records into splits and defines the task read from them.
"""

from __future__ import annotations

import json
import os
import re
import stat
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from tasks.base import UNSCORED
from tasks.errors import SpecError

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


def size_text(n: int) -> str:
    """``n`` bytes in the largest unit that keeps it >= 1 (``1.5 MB``), for error messages."""
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
        kind = file_kind(info.st_mode)
        raise ExamplesFileError(f"examples file {path!r} is {kind}; only regular files are read")
    if info.st_size > max_bytes:
        os.close(fd)
        raise ExamplesFileError(
            f"examples file {path!r} is {size_text(info.st_size)}; the limit is {size_text(max_bytes)} "
            f"(max_bytes={max_bytes})"
        )
    return os.fdopen(fd, "rb")


def file_kind(mode: int) -> str:
    """What a file of ``os.stat`` mode ``mode`` is, in words (``a FIFO (named pipe)``)."""
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
                f"examples file {path!r} is larger than the limit {size_text(max_bytes)} "
                f"(max_bytes={max_bytes})"
            )
        content = line.removesuffix(b"\n").removesuffix(b"\r")
        if len(content) > max_line_bytes:
            raise ExamplesFileError(
                f"{path}:{number}: the line is longer than the limit {size_text(max_line_bytes)} "
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
