"""Atomic writes of artefacts (saved networks, plots, reports): a file is either its old self or
complete, never half-written, never empty after a failed write, and never written through a link.

Each write goes to a temporary file created exclusively (``O_CREAT | O_EXCL`` by :func:`tempfile.mkstemp`,
a fresh random name in the target's folder: nobody can plant a link at a name known in advance), is
flushed to disk, then renamed over the target. A rename replaces a symlink at the target itself, so
a link planted there is replaced, and the file it pointed to is left alone. Whether an existing file
may be replaced is the caller's decision (the commands' ``--force``), taken before any work.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

# Files are created with the permissions a plain ``open`` would give them (mkstemp gives 0600).
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomically(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fh)`` on a fresh temporary file beside ``path`` and rename it to ``path``; on
    any error (a full disk, a failing writer) the temporary file is removed, ``path`` is left as
    it was, and the error propagates. Returns ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_text_atomically(path: str | Path, text: str) -> Path:
    """``text`` (UTF-8) into ``path``, atomically (:func:`write_atomically`)."""
    return write_atomically(path, lambda fh: fh.write(text.encode("utf-8")))


def save_figure(fig: Any, path: str | Path, **kwargs: Any) -> Path:
    """A matplotlib figure at ``path`` (PNG, or the format its suffix names, as matplotlib reads
    it), atomically: a failed write leaves no 0-byte PNG."""
    kind = Path(path).suffix[1:].lower() or "png"
    return write_atomically(path, lambda fh: fig.savefig(fh, format=kind, **kwargs))


def existing(folder: str | Path, names: tuple[str, ...]) -> Path | None:
    """The first of ``names`` (file names or glob patterns) that exists in ``folder`` (a symlink
    counts, even a dangling one), or None."""
    folder = Path(folder)
    for name in names:
        matches = sorted(folder.glob(name)) if any(c in name for c in "*?[") else [folder / name]
        for path in matches:
            if path.is_symlink() or path.exists():
                return path
    return None
