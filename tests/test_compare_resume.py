"""Kill a grid run (SIGKILL, Ctrl-C) midway, resume it, and get the uninterrupted table; the
executors (in-process, local processes, dask.distributed) give the same results."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli

ROOT = Path(__file__).resolve().parent.parent
# Classic learners and a tiny MLP (fitted as one batched job per task, which a kill interrupts).
GRID = ["--tasks", "modular:p=11;brackets:max_len=8,n_test=10", "--methods", "lookup;knn;mlp:steps=40",
        "--sizes", "2..32x2", "--seeds", "0..2"]
TOTAL = 2 * 3 * 5 * 3


def cli_table(store: Path) -> str:
    result = CliRunner().invoke(cli.app, ["table", "--store", str(store), "--format", "json"])
    assert result.exit_code == 0, result.output
    return result.output


def stored(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not written yet
        return 0


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid`` (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) == pgid and stat[0] != "Z":
                members.append(int(entry.name))
    return members


def run_and_stop(store: Path, at_least: int, jobs: int, interrupt: bool = False) -> tuple[int, int, str]:
    """Start ``dlps run --jobs JOBS`` and, once ``at_least`` cells are stored, SIGKILL the coordinator
    alone (or, with ``interrupt``, press Ctrl-C: SIGINT to the whole process group); check that no
    worker outlives it. Returns the cells stored by then, the exit status and stderr."""
    # Ctrl-C as at a terminal, even where this test runs with SIGINT ignored (a background job of a
    # script, such as CI started with '&'), which a child would inherit and keep.
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "run", *GRID, "--store", str(store), "--jobs", str(jobs)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while stored(store) < at_least and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, f"the run ended before it could be stopped: {process.stderr.read()!r}"
    if interrupt:
        os.killpg(process.pid, signal.SIGINT)
    else:
        os.kill(process.pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    for _ in range(100):  # the forkserver and the workers notice and end
        if not group_members(process.pid):
            break
        time.sleep(0.05)
    assert group_members(process.pid) == []
    return stored(store), process.returncode, stderr


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process groups from /proc")
def test_sigkill_midway_then_resume_gives_the_uninterrupted_table(tmp_path):
    killed = tmp_path / "killed.sqlite"
    first, status, _ = run_and_stop(killed, 1, jobs=2)  # local worker processes must not outlive it
    assert status == -signal.SIGKILL
    second, status, stderr = run_and_stop(killed, first + 10, jobs=2, interrupt=True)
    assert status == 130 and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "Interrupted: every finished cell is stored; run the same command to go on.")
    third, _, _ = run_and_stop(killed, second + 10, jobs=1)  # in-process
    assert 1 <= first < second < third < TOTAL
    resumed = CliRunner().invoke(cli.app, ["run", *GRID, "--store", str(killed), "--jobs", "1"])
    assert resumed.exit_code == 0, resumed.output
    # Nothing stored was lost or is run twice; the rest is run now.
    assert f"{TOTAL} cells: {third} already in the store, {TOTAL - third} run" in resumed.output
    assert stored(killed) == TOTAL

    whole = tmp_path / "whole.sqlite"
    result = CliRunner().invoke(cli.app, ["run", *GRID, "--store", str(whole), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert cli_table(killed) == cli_table(whole)


def test_dask_local_cluster_matches_local_processes(tmp_path):
    from distributed import LocalCluster

    grid = ["--tasks", "modular:p=7", "--methods", "lookup;mlp:steps=30", "--sizes", "4,8", "--seeds", "0..1"]
    local = tmp_path / "local.sqlite"
    result = CliRunner().invoke(cli.app, ["run", *grid, "--store", str(local), "--jobs", "2"])
    assert result.exit_code == 0, result.output
    with LocalCluster(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as cluster:
        remote = tmp_path / "dask.sqlite"
        result = CliRunner().invoke(
            cli.app, ["run", *grid, "--store", str(remote), "--scheduler", cluster.scheduler_address])
        assert result.exit_code == 0, result.output
    assert "8 cells: 0 already in the store, 8 run, 0 failed" in result.output
    assert cli_table(remote) == cli_table(local)


def test_unreachable_scheduler_is_one_line():
    from compare.grid.executors import DaskExecutor, ExecutorError

    with pytest.raises(ExecutorError, match="^cannot reach the dask scheduler at tcp://127.0.0.1:9: "):
        DaskExecutor("tcp://127.0.0.1:9", timeout=0.5)
