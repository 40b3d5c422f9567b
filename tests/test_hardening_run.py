"""``dlps run`` under faults and beside another run (issue 29 items 4, 12, 13): a full disk ends in one
line saying what happened and that the committed cells are safe, and leaves nothing that stops
``dlps table``; the dry run refuses what the run refuses; two runs on one store share the work.

A full disk is simulated without root: a connection whose writes fail as SQLite's do on a full disk
(``database or disk is full``), an executor raising ``OSError(ENOSPC)``, or a process whose file-size
limit (``RLIMIT_FSIZE``) stops every file from growing, as 0 bytes free does."""

from __future__ import annotations

import errno
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cli import app
from compare.grid.cells import Cell
from compare.grid.executors import InProcessExecutor
from compare.grid.runner import RunStopped, run_grid
from compare.results.store import Store

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
CELLS = [Cell("modular:p=5", "lookup", "lookup", n, seed) for n in (2, 4, 8) for seed in range(4)]
GRID = ["--tasks", "modular:p=5", "--methods", "lookup", "--sizes", "2,4,8", "--seeds", "0..3", "--jobs", "1"]


def one_line(result, code: int = 2) -> str:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


# --- item 13: two runs on one store share the work ---------------------------------------------------


def test_two_runs_on_one_store_share_the_work(tmp_path):
    path = tmp_path / "s.sqlite"
    beside = {}

    class StartsAnotherRun(InProcessExecutor):
        """Runs its jobs; after the first comes back, a second run on the same store runs to its end."""

        def run(self, jobs):
            for item in super().run(jobs):
                yield item
                if not beside:
                    with Store(path) as other:
                        beside["summary"] = run_grid(CELLS, other, InProcessExecutor(), claim_jobs=2)

    with Store(path) as store:
        first = run_grid(CELLS, store, StartsAnotherRun(), claim_jobs=2)
        rows, leases = store.rows(), store.leases()
    second = beside["summary"]
    assert first.ran > 0 and second.ran > 0, (first, second)  # both did cells
    assert first.ran + second.ran == len(CELLS) == len(rows)  # none twice, none left
    assert first.elsewhere > 0 and second.elsewhere > 0  # each left to the other what it held
    assert leases == {}


# --- item 4: a full disk during a run ---------------------------------------------------------------


class FullDisk:
    """A store's connection whose writes fail as SQLite's do on a full disk once ``cells`` batches of
    cells are stored: cell rows only (``leases_too=False``: the leases can still be given back), or
    every write."""

    def __init__(self, conn: sqlite3.Connection, cells: int, leases_too: bool) -> None:
        self.conn, self.left, self.leases_too = conn, cells, leases_too

    def _write(self, sql: str) -> None:
        if sql.startswith("INSERT OR REPLACE INTO cells"):
            self.left -= 1
            if self.left < 0:
                raise sqlite3.OperationalError("database or disk is full")
        elif self.left < 0 and self.leases_too and sql.startswith(("INSERT", "UPDATE", "DELETE")):
            raise sqlite3.OperationalError("database or disk is full")

    def execute(self, sql: str, *args):
        self._write(sql)
        return self.conn.execute(sql, *args)

    def executemany(self, sql: str, rows):
        self._write(sql)
        return self.conn.executemany(sql, rows)

    def __getattr__(self, name: str):
        return getattr(self.conn, name)


def fill_disk_after(monkeypatch, cells: int, leases_too: bool) -> None:
    opened = Store._open

    def open_then_fill(self, create: bool) -> None:
        opened(self, create)
        if create:
            self.conn = FullDisk(self.conn, cells, leases_too)

    monkeypatch.setattr(Store, "_open", open_then_fill)


def test_a_full_disk_mid_run_is_one_line_and_the_committed_cells_stay(tmp_path, monkeypatch):
    store = tmp_path / "s.sqlite"
    fill_disk_after(monkeypatch, cells=3, leases_too=False)
    line = one_line(runner.invoke(app, ["run", *GRID, "--store", str(store)]), code=1)
    assert "the run stopped after 3 cells" in line and "database or disk is full" in line
    assert f"Every cell committed before is safe in {store}" in line and "run the same command" in line
    monkeypatch.undo()
    with Store(store, create=False) as results:
        assert len(results.rows()) == 3 and results.leases() == {}  # stored stays; leases given back
    again = runner.invoke(app, ["run", *GRID, "--store", str(store)])
    assert again.exit_code == 0 and "3 already in the store, 9 run" in again.stdout


def test_leases_a_full_disk_keeps_free_themselves_when_the_run_ends(tmp_path):
    """Where even giving the leases back fails, they name the stopped process: a run after it (this
    test's own process) takes every cell at once, not after LEASE_SECONDS."""
    store = tmp_path / "s.sqlite"
    code = (
        "import sys; sys.path.insert(0, 'tests'); import pytest\n"
        "from test_hardening_run import fill_disk_after, GRID\n"
        "from typer.testing import CliRunner\nfrom cli import app\n"
        "with pytest.MonkeyPatch.context() as mp:\n"
        "    fill_disk_after(mp, cells=2, leases_too=True)\n"
        f"    r = CliRunner().invoke(app, ['run', *GRID, '--store', {str(store)!r}])\n"
        "print(r.exit_code); print(r.stderr.strip()); print(repr(r.exception))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    exit_code, message, exception = out.stdout.strip().splitlines()[-3:]
    assert exit_code == "1" and "the run stopped after 2 cells" in message, out.stdout + out.stderr
    assert exception in ("None", "SystemExit(1)") and "Traceback" not in out.stdout + out.stderr
    with Store(store, create=False) as results:
        assert len(results.rows()) == 2 and results.leases()  # left behind, naming the dead process
    again = runner.invoke(app, ["run", *GRID, "--store", str(store)])
    assert again.exit_code == 0 and "2 already in the store, 10 run" in again.stdout


def test_an_os_error_during_a_run_is_run_stopped_naming_the_cause(tmp_path):
    class DiskFills(InProcessExecutor):
        def run(self, jobs):
            for i, item in enumerate(super().run(jobs)):
                if i == 2:
                    raise OSError(errno.ENOSPC, "No space left on device", "/data/artefacts/model.pt")
                yield item

    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(RunStopped) as caught:
            run_grid(CELLS, store, DiskFills(), claim_jobs=8)
        assert len(store.rows()) == 2 and store.leases() == {}
    message = str(caught.value)
    assert "stopped after 2 cells: no space left on the device (/data/artefacts/model.pt)" in message
    assert "\n" not in message


def _dlps_at_zero_bytes_free(*args: str) -> subprocess.CompletedProcess:
    """``dlps ARGS`` in a process whose files cannot grow past 20,000 bytes (an existing store is
    larger, a -shm needs 32 KiB): what a disk with 0 bytes free allows."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), not kills
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    code = "import sys; from cli import app; sys.exit(app())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, preexec_fn=limit, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_at_zero_bytes_free_a_run_is_one_line_and_table_still_reads_the_store(tmp_path):
    store = tmp_path / "s.sqlite"
    assert runner.invoke(app, ["run", *GRID, "--store", str(store)]).exit_code == 0
    assert store.stat().st_size > 20_000
    grid = [*GRID[:7], "0..7", *GRID[8:]]  # more seeds: cells to store
    run = _dlps_at_zero_bytes_free("run", *grid, "--store", str(store))
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith("Error: cannot write the results store") and run.stderr.count("\n") == 1
    assert "free space on the disk" in run.stderr
    shm = store.with_name(store.name + "-shm")
    assert not shm.exists() or shm.stat().st_size >= 32768  # no half-written -shm left behind
    shm.write_bytes(b"\0\0\0")  # as an older dlps (or another program) left it
    table = _dlps_at_zero_bytes_free("table", "--store", str(store), "--format", "csv")
    assert table.returncode == 0, table.stderr
    assert len(table.stdout.strip().splitlines()) > 1 and "lookup" in table.stdout


# --- item 12: the dry run refuses what the run refuses -----------------------------------------------


MISTAKES = [
    (["--store", "/nonexistent/dlps-dir/s.sqlite"], "folder /nonexistent/dlps-dir does not exist"),
    (["--jobs", "0"], "--jobs must be >= 1, got 0"),
    (["--scheduler", "localhost:8786"], "bad scheduler address"),
    (["--device", "tpu"], "unknown --device 'tpu'"),
    (["--artefacts", "FILE"], "is a file, not a folder"),
    (["--store", "DIR"], "is a folder, not a dlps results store"),
]


@pytest.mark.parametrize(("args", "needle"), MISTAKES)
def test_the_dry_run_refuses_what_the_run_refuses_in_the_same_words(tmp_path, args, needle):
    (tmp_path / "FILE").write_text("x")
    (tmp_path / "DIR").mkdir()
    args = [str(tmp_path / a) if a in ("FILE", "DIR") else a for a in args]
    base = [*GRID[:-2], *(["--store", str(tmp_path / "s.sqlite")] if "--store" not in args else [])]
    dry = one_line(runner.invoke(app, ["run", *base, *args, "--dry-run"]))
    real = one_line(runner.invoke(app, ["run", *base, *args]))
    assert needle in dry and dry == real
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DIR", "FILE"]  # neither created anything


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_the_dry_run_refuses_device_cuda_without_a_gpu(tmp_path):
    args = ["run", *GRID, "--store", str(tmp_path / "s.sqlite"), "--device", "cuda"]
    dry = one_line(runner.invoke(app, [*args, "--dry-run"]))
    assert dry == one_line(runner.invoke(app, args)) and "no CUDA device" in dry
    assert not (tmp_path / "s.sqlite").exists()


def test_the_dry_run_checks_the_artefacts_folder_without_making_it(tmp_path):
    args = ["run", *GRID, "--store", str(tmp_path / "s.sqlite"), "--artefacts", str(tmp_path / "a" / "b")]
    result = runner.invoke(app, [*args, "--dry-run"])
    assert result.exit_code == 0 and "12 to run" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_dry_run_of_a_large_grid_needs_yes_as_the_run_does(tmp_path):
    large = ["run", "--tasks", "modular:p=59", "--methods", "lookup;knn", "--sizes", "1..600+1", "--seeds",
             "0..9", "--store", str(tmp_path / "s.sqlite")]
    message = one_line(runner.invoke(app, [*large, "--dry-run"]))
    assert "12,000 cells" in message and "--yes" in message
