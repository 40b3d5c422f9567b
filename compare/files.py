"""Output folders: checked before any work, so that nothing trained or run is lost to a folder that
cannot be written (``--save``, ``--plots``, ``--out``, ``--artefacts``)."""

from __future__ import annotations

import os
from pathlib import Path


def writable_folder(path: str, what: str) -> Path:
    """``path`` as a folder that exists (created if missing) and can be written; ValueError naming
    ``what`` it is for otherwise (checked before any work, so nothing trained is lost)."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{what} {path} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".dlps-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"cannot write {what} into {path}: {exc.strerror or exc}") from None
    return folder


