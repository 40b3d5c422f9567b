"""The store at its edges: processes racing to create it or to run its cells (leases), reading without
write access, damaged files, and hand-edited values; every problem is one StoreError line."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli
from compare.grid.cells import Cell
from compare.results.store import CellResult, Store, StoreError, lease_owner

ROOT = Path(__file__).resolve().parents[1]
CELLS = [Cell("modular:p=5", "lookup", "lookup", n, seed) for n in (2, 4, 8) for seed in (0, 1)]


def filled(path: Path) -> Path:
    with Store(path) as store:
        store.put_many([(cell, CellResult(test_accuracy=0.5, ood={"x": 0.25})) for cell in CELLS])
    return path


def table_error(path: Path) -> str:
    """``dlps table`` on ``path``: it must fail with exit 2 and one line, no traceback."""
    result = CliRunner().invoke(cli.app, ["table", "--store", str(path), "--format", "csv"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    return result.output


# --- creating one store from several processes at once -------------------------------------------


def _open_and_put(path: str, barrier, n: int) -> str | None:
    barrier.wait()  # all processes open the new store at the same moment
    try:
        with Store(path) as store:
            store.put(Cell("modular:p=5", "lookup", "lookup", n, 0), CellResult(test_accuracy=1.0))
    except Exception as exc:  # noqa: BLE001 - the test reports any failure
        return f"{type(exc).__name__}: {exc}"
    return None


def test_processes_creating_one_store_at_once_all_succeed(tmp_path):
    # Before creation was one transaction, 27 of 30 such trials had a process fail.
    context = multiprocessing.get_context("fork")
    processes = 4
    with context.Manager() as manager, context.Pool(processes) as pool:
        for trial in range(12):
            path = str(tmp_path / f"s{trial}.sqlite")
            barrier = manager.Barrier(processes)
            errors = pool.starmap(_open_and_put, [(path, barrier, n) for n in range(1, processes + 1)])
            assert errors == [None] * processes, (trial, errors)
            with Store(path, create=False) as store:
                assert sorted(row.cell.n for row in store.rows()) == list(range(1, processes + 1))


# --- reading never writes --------------------------------------------------------------------------


def test_opening_for_reading_never_writes(tmp_path):
    path = filled(tmp_path / "r.sqlite")
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    time.sleep(0.01)
    with Store(path, create=False) as store:
        assert len(store.rows()) == len(CELLS) and store.finished_keys() == {c.key for c in CELLS}
        with pytest.raises(StoreError, match="opened for reading only"):
            store.put(CELLS[0], CellResult())
        with pytest.raises(StoreError, match="opened for reading only"):
            store.claim([CELLS[0].key], lease_owner(), 60)
        with pytest.raises(StoreError, match="opened for reading only"):
            store.check_writable()
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime


def test_reading_a_store_another_connection_is_writing(tmp_path):
    """A reader sees what a writer has committed (through the WAL), not a stale copy."""
    path = filled(tmp_path / "r.sqlite")
    with Store(path) as writer:
        writer.put(Cell("modular:p=5", "lookup", "lookup", 16, 0), CellResult(test_accuracy=1.0))
        with Store(path, create=False) as reader:
            assert len(reader.rows()) == len(CELLS) + 1


# --- without write permission (run as an unprivileged user: root can write anything) ---------------


def _as_user(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run Python ``code`` as an unprivileged user: this user, or ``nobody`` when the tests run as
    root (for whom file modes stop nothing); skipped where neither is possible."""
    command = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file permissions cannot be tested")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    if os.geteuid() == 0 and "Permission denied" in result.stderr and "import" in result.stderr:
        pytest.skip("the unprivileged user cannot run this Python")
    return result


@pytest.fixture
def shared_dir():
    """A folder an unprivileged user can enter (pytest's tmp_path is private to this user)."""
    path = Path(tempfile.mkdtemp(prefix="dlps-store-"))
    path.chmod(0o755)
    yield path
    for sub in (path, *path.iterdir()):
        sub.chmod(0o755)
    shutil.rmtree(path)


READ_AND_WRITE = """
from compare.results.store import Store, StoreError
path = {path!r}
with Store(path, create=False) as store:
    print("read", len(store.rows()))
try:
    Store(path)
except StoreError as exc:
    print("write refused:", exc)
"""


def test_a_folder_without_write_permission_can_be_read_not_written(shared_dir):
    folder = shared_dir / "locked"
    folder.mkdir()
    path = filled(folder / "r.sqlite")
    folder.chmod(0o555)
    path.chmod(0o644)
    result = _as_user(READ_AND_WRITE.format(path=str(path)))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"read {len(CELLS)}"
    assert lines[1].startswith(f"write refused: cannot write the results store {path}")
    assert not (folder / "r.sqlite-wal").exists()


def test_a_read_only_store_is_refused_before_any_cell_runs(shared_dir):
    folder = shared_dir / "open"
    folder.mkdir()
    folder.chmod(0o777)
    path = filled(folder / "r.sqlite")
    path.chmod(0o444)
    result = _as_user(READ_AND_WRITE.format(path=str(path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("write refused: cannot write the results store")
    run = _as_user(
        "import cli; cli.app(['run', '--tasks', 'modular:p=11', '--methods', 'lookup', '--sizes', '16', "
        f"'--seeds', '0..3', '--jobs', '1', '--store', {str(path)!r}])")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "cannot write the results store" in run.stderr and "Traceback" not in run.stderr
    assert "cells:" not in run.stdout  # nothing ran
    with Store(path, create=False) as store:
        assert len(store.rows()) == len(CELLS)


# --- damaged files and hand-edited values ------------------------------------------------------------


def test_a_damaged_store_says_damaged(tmp_path):
    path = filled(tmp_path / "r.sqlite")
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) >= 2 * page
    data[page:] = b"\xa5" * (len(data) - page)  # every page but the first (the header survives)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"is damaged \(not a readable SQLite database"):
        Store(path, create=False).rows()
    assert "is damaged" in table_error(path)

    header_only = tmp_path / "header.sqlite"
    header_only.write_bytes(b"SQLite format 3\x00" + b"\x00\xff" * 300)
    for create in (False, True):
        with pytest.raises(StoreError, match="is damaged"):
            Store(header_only, create=create)
    assert "is damaged" in table_error(header_only)


def test_a_file_of_another_kind_is_not_a_store(tmp_path):
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"PK\x03\x04 a zip file, not a database" * 50)
    assert f"{path} is not a dlps results store (not an SQLite database)" in table_error(path)
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    assert "an empty file, not a dlps results store" in table_error(empty)
    assert empty.read_bytes() == b""


EDITS = [
    ("test_accuracy", "'high'", "column test_accuracy, not a number or null"),
    ("n", "'eight'", "column n, not an integer"),
    ("steps_fit", "2.5", "column steps_fit, not an integer or null"),
    ("status", "'maybe'", "column status, not 'ok' or 'failed'"),
    ("ood", "'{\"x\": 0.5'", "column ood, not valid JSON"),
    ("ood", "'{\"x\": \"half\"}'", "column ood, not a JSON object of numbers"),
    ("metrics", "'[1, 2]'", "column metrics, not a JSON object"),
    ("artefacts", "'{}'", "column artefacts, not a JSON array"),
]


@pytest.mark.parametrize(("column", "value", "message"), EDITS)
def test_a_hand_edited_value_names_the_cell_and_column(tmp_path, column, value, message):
    path = filled(tmp_path / "r.sqlite")
    victim = CELLS[3]
    conn = sqlite3.connect(path)
    conn.execute(f"UPDATE cells SET {column} = {value} WHERE key = ?", (victim.key,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as caught:
        Store(path, create=False).rows()
    text = str(caught.value)
    assert message in text and victim.key in text
    if column != "n":
        assert f"n={victim.n}, seed={victim.seed}" in text
    assert f"DELETE FROM cells WHERE key='{victim.key}'" in text and "\n" not in text
    assert message in table_error(path)


def test_a_hand_edited_format_is_one_line(tmp_path):
    path = filled(tmp_path / "r.sqlite")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = 'abc' WHERE name = 'format'")
    conn.commit()
    conn.close()
    for create in (False, True):
        with pytest.raises(StoreError, match="the meta table's format is 'abc', not a result format number"):
            Store(path, create=create)
    assert "format is 'abc'" in table_error(path)


# --- leases: two runs on one store share the work ---------------------------------------------------


def test_claims_skip_what_another_live_owner_holds_and_what_is_stored(tmp_path):
    keys = [cell.key for cell in CELLS]
    with Store(tmp_path / "r.sqlite") as store:
        first, second = lease_owner(), lease_owner()
        assert store.claim(keys[:4], first, ttl=60) == keys[:4]
        assert store.claim(keys, second, ttl=60) == keys[4:]
        assert store.claim(keys, first, ttl=60) == keys[:4]  # one's own leases are renewed, not lost
        assert set(store.leases()) == set(keys)

        store.put_many([(CELLS[0], CellResult(test_accuracy=1.0))], owner=first)  # done: released
        store.put(CELLS[1], CellResult(status="failed", error="boom"), owner=first)
        store.release([keys[2], keys[4]], first)  # keys[4] is second's: left alone
        assert set(store.leases()) == {keys[3], *keys[4:]}
        third = lease_owner()
        assert store.claim(keys, third, ttl=60) == [keys[2]]
        assert store.claim(keys, third, ttl=60, include_failed=False) == [keys[1], keys[2]]


def test_expired_leases_and_dead_owners_do_not_block(tmp_path):
    keys = [cell.key for cell in CELLS]
    with Store(tmp_path / "r.sqlite") as store:
        store.claim(keys[:2], lease_owner(), ttl=-1)  # already expired
        dead = subprocess.Popen(["true"])
        dead.wait()
        host = lease_owner().split(":")[0]
        store.claim(keys[2:4], f"{host}:{dead.pid}:00000000", ttl=3600)  # its process is gone
        store.claim(keys[4:], f"elsewhere:{dead.pid}:00000000", ttl=3600)  # another host: trusted
        me = lease_owner()
        assert store.claim(keys, me, ttl=60) == keys[:4]
        assert store.renew(me, ttl=600) == 4
        assert all(expires > time.time() + 500 for owner, expires in store.leases().values() if owner == me)


def _claim_all(path: str, barrier, keys: list[str]) -> list[str]:
    barrier.wait()
    with Store(path) as store:
        return store.claim(keys, lease_owner(), ttl=60)


def test_processes_claiming_at_once_split_the_keys(tmp_path):
    keys = [f"k{i}" for i in range(40)]
    path = str(tmp_path / "r.sqlite")
    Store(path).close()
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager, context.Pool(4) as pool:
        barrier = manager.Barrier(4)
        claimed = pool.starmap(_claim_all, [(path, barrier, keys)] * 4)
    assert sorted(key for part in claimed for key in part) == sorted(keys)  # each key exactly once
