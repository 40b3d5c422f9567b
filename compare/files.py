"""Output folders and files: folders are checked before any work, so that nothing trained or run is
lost to a folder that cannot be written (``--save``, ``--plots``, ``--out``, ``--artefacts``), and a
user's existing file is replaced only when asked (``--force``). Files are written atomically
(:mod:`baselines.files`, re-exported here for the compare side: one implementation)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from baselines.files import existing, save_figure, write_atomically, write_text_atomically

__all__ = ["save_figure", "writable_folder", "write_atomically", "write_text_atomically"]


def writable_folder(path: str, what: str, names: tuple[str, ...] = (), force: bool = True) -> Path:
    """``path`` as a folder that exists (created if missing) and can be written; ValueError naming
    ``what`` it is for otherwise (checked before any work, so nothing trained is lost). Unless
    ``force``, it must hold none of ``names`` (file names or glob patterns the command writes)."""
    if not path:
        raise ValueError(f"{what}: give a folder name (got an empty one)")
    folder = Path(path)
    try:  # inside the try: a name too long for the file system is an OSError too
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"{what} {path} is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".dlps-write-test-", dir=folder)  # a fresh name: no planted link
        os.close(fd)
        os.unlink(probe)
        found = None if force else existing(folder, names)
    except OSError as exc:
        raise ValueError(f"cannot write {what} into {path[:120]}: {exc.strerror or exc}") from None
    if found is not None:
        raise ValueError(f"{found} exists; give --force to replace it")
    return folder
