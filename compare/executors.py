"""Executors: where jobs run. In-process (``--jobs 1``, tests), local processes (default), or a
dask.distributed cluster (``--scheduler tcp://HOST:PORT``).

Every executor takes a list of :class:`Job` and yields ``(job, results)`` as jobs finish, or
``(job, exception)`` when the job was lost to the infrastructure (a crashed worker, a lost
connection); a learner's own error is already a failed result inside ``results``. Workers return
results; only the coordinator writes the store.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import select
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from compare.cells import CellOptions, run_job, torch_threads
from compare.grid import Cell
from compare.store import CellResult

Outcome = list[CellResult] | BaseException


@dataclass(frozen=True)
class Job:
    """Cells run together: one cell, or every pending cell of one task and method (batched)."""

    cells: tuple[Cell, ...]
    batched: bool = False


class ExecutorError(ValueError):
    """The executor cannot start (bad scheduler address, unreachable cluster); one line for a user."""


class InProcessExecutor:
    """Runs jobs one after the other in this process."""

    def __init__(self, options: CellOptions = CellOptions()) -> None:
        self.options = options

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Outcome]]:
        with torch_threads(self.options.threads):
            for job in jobs:
                yield job, run_job(job.cells, job.batched, self.options)

    def close(self, abort: bool = False) -> None:
        pass


def _init_worker(coordinator: int) -> None:
    """Worker initializer: Ctrl-C ends a worker at once and quietly (the coordinator reports it), and
    so does the end of the coordinator, however it ends (a killed coordinator must not leave its
    workers waiting for jobs forever)."""
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))
    threading.Thread(target=_exit_with, args=(coordinator,), daemon=True).start()


def _exit_with(pid: int) -> None:
    try:
        handle = os.pidfd_open(pid)  # readable once the process has ended (Linux >= 5.3)
        select.select([handle], [], [])
    except (AttributeError, OSError):  # no pidfd here (or the process is gone already): poll
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(1.0)
    os._exit(1)


class ProcessExecutor:
    """Runs jobs in ``workers`` local processes (forkserver: torch is imported once, then forked)."""

    def __init__(self, workers: int, options: CellOptions = CellOptions()) -> None:
        self.options = options
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["compare.cells"])
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                        initializer=_init_worker, initargs=(os.getpid(),))

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Outcome]]:
        futures: dict[Future, Job] = {
            self.pool.submit(run_job, job.cells, job.batched, self.options): job for job in jobs
        }
        for future in as_completed(futures):
            yield futures[future], _outcome(future)

    def close(self, abort: bool = False) -> None:
        """Stop taking jobs; with ``abort`` (an interrupted run) also end the running ones now."""
        if abort:
            terminate = getattr(self.pool, "terminate_workers", None)  # Python >= 3.14
            if terminate is not None:
                terminate()
            else:
                for process in list(getattr(self.pool, "_processes", {}).values()):
                    process.terminate()
        self.pool.shutdown(wait=False, cancel_futures=True)


_ADDRESS = re.compile(r"^(tcp|tls|inproc)://[^\s]+$")


class DaskExecutor:
    """Runs jobs on a dask.distributed cluster whose scheduler listens at ``address``.

    Workers need dlps installed (the same version); artefact paths refer to the workers' disks.
    """

    def __init__(self, address: str, options: CellOptions = CellOptions(), timeout: float = 10.0) -> None:
        if not _ADDRESS.match(address):
            raise ExecutorError(f"bad scheduler address {address!r}; expected tcp://HOST:PORT")
        from distributed import Client

        self.options = options
        try:
            self.client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(f"cannot reach the dask scheduler at {address}: {exc}") from None

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Outcome]]:
        from distributed import as_completed as dask_completed

        futures = {
            self.client.submit(run_job, job.cells, job.batched, self.options, pure=False): job
            for job in jobs
        }
        for future in dask_completed(list(futures), loop=self.client.loop):
            yield futures[future], _outcome(future)

    def close(self, abort: bool = False) -> None:
        self.client.close()  # the scheduler drops this client's unfinished jobs


def _outcome(future) -> Outcome:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - the job was lost, not failed: the coordinator reports it
        return exc


def make_executor(jobs: int, scheduler: str | None, options: CellOptions = CellOptions()):
    """The executor for ``--jobs``/``--scheduler``: dask when a scheduler is given, else processes
    (in-process for one job)."""
    if scheduler:
        return DaskExecutor(scheduler, options)
    if jobs < 1:
        raise ExecutorError(f"--jobs must be >= 1, got {jobs}")
    if jobs == 1:
        return InProcessExecutor(options)
    return ProcessExecutor(jobs, options)
