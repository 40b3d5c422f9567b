"""A full disk while writing pictures or a report (issue 29 item 4): ``report``, ``plot``,
``align --plots`` and ``llc-calibrate --out`` end in one line naming the folder (no ``OSError: [Errno
28]`` traceback) and leave no 0-byte PNG and no temporary file. The disk is made full by a savefig
that fails with ENOSPC after writing part of its file, as a write to a full disk does."""

from __future__ import annotations

import errno
import sys
from pathlib import Path

import matplotlib.figure
import pytest
from typer.testing import CliRunner

from cli import app

sys.path.insert(0, str(Path(__file__).parent))
from test_compare_report import make_store  # noqa: E402 - the report's own small store

runner = CliRunner()
NET = ["--method", "mlp:steps=5", "--n", "20"]


def _full_disk(self, fh, *args, **kwargs):
    fh.write(b"\x89PNG half")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("command", ["report", "plot", "align", "llc-calibrate"])
def test_a_full_disk_while_writing_pictures_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, command):
    store = make_store(tmp_path / "s.sqlite")
    out = tmp_path / "out"
    args = {
        "report": ["report", "--store", str(store), "--out", str(out)],
        "plot": ["plot", "--store", str(store), "--out", str(out)],
        "align": ["align", "modular:p=7", *NET, "--rows", "20", "--plots", str(out)],
        "llc-calibrate": ["llc-calibrate", "modular:p=7", *NET, "--chains", "1", "--draws", "5",
                          "--epsilons", "1e-4", "--nbetas", "1", "--out", str(out)],
    }[command]
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", _full_disk)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "No space left on device" in lines[0]
    assert str(out) in lines[0]
    left = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert all(p.suffix != ".png" and p.stat().st_size > 0 for p in left), left
