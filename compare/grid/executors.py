"""Executors: where jobs run. In-process (``--jobs 1``, tests), local processes (default), or a
dask.distributed cluster (``--scheduler tcp://HOST:PORT``).

Every executor takes a list of :class:`Job` and yields ``(job, results)`` as jobs finish, or
``(job, exception)`` when the job was lost to the infrastructure (a crashed worker, a lost
connection); a learner's own error is already a failed result inside ``results``. Workers return
results; only the coordinator writes the store.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from compare.grid.cells import Cell
from compare.grid.worker import CellOptions, run_job, torch_threads
from compare.results.store import CellResult

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
    """Worker initializer: a worker ignores Ctrl-C, which is the coordinator's to handle (it ends the
    workers at once, :meth:`ProcessExecutor.close` with ``abort``). Workers that exited on their own
    would break the pool, and the coordinator would count their jobs lost (exit 1) wherever it does
    not see the interrupt itself: when it was started with SIGINT ignored (a background job of a
    script), or should the broken pool reach it first. A worker also ends with the coordinator,
    however that ends (a killed coordinator must not leave its workers waiting for jobs forever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
        from compare.grid import forkserver

        self.options = options
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=forkserver.context(),
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


#: How long a run waits with no worker connected before it gives up on the jobs not yet done.
NO_WORKER_TIMEOUT = 120.0
#: How long the reachability check waits for the scheduler's port to answer.
PROBE_TIMEOUT = 2.0
EXAMPLE_ADDRESS = "tcp://10.0.0.5:8786"
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$")
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(?P<port>[^:]*))?$")


def parse_scheduler_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of a ``tcp://HOST:PORT`` address, or ExecutorError in one line saying what is
    accepted. Checked before dask is touched: dask knows more schemes (tls, ucx, ...), but a tls
    address needs certificates dlps does not pass. (``inproc://`` addresses, a scheduler in this
    same process, are checked by :func:`probe_scheduler`; here they are refused too.)"""
    shown = repr(address) if len(address) <= 80 else repr(address[:60] + "...")
    expected = f"expected tcp://HOST:PORT (e.g. {EXAMPLE_ADDRESS})"
    if not address.strip():
        raise ExecutorError(
            "--scheduler is empty; give a dask scheduler's address tcp://HOST:PORT "
            f"(e.g. {EXAMPLE_ADDRESS}), or leave --scheduler out to run here"
        )
    scheme = _SCHEME.match(address)
    if scheme is None:
        raise ExecutorError(f"bad scheduler address {shown}; {expected}")
    if scheme["scheme"] != "tcp":
        raise ExecutorError(
            f"bad scheduler address {shown}: scheme {scheme['scheme']}:// is not accepted; {expected}"
        )
    parts = _HOST_PORT.match(scheme["rest"])
    # DNS limits (253 characters, 63 a label): longer names make getaddrinfo raise UnicodeError.
    host = parts["host"] if parts else ""
    if parts is None or len(host) > 253 or any(len(label) > 63 for label in host.split(".")):
        raise ExecutorError(f"bad scheduler address {shown}: bad host; {expected}")
    if parts["port"] is None:
        raise ExecutorError(f"bad scheduler address {shown}: no port; {expected} (dask's default port: 8786)")
    if not parts["port"].isascii() or not parts["port"].isdigit() or not 1 <= int(parts["port"]) <= 65535:
        raise ExecutorError(
            f"bad scheduler address {shown}: port {parts['port']!r} is not a number in [1, 65535]; {expected}"
        )
    return parts["host"].strip("[]"), int(parts["port"])


def _inproc_listening(address: str) -> bool:
    """Whether ``address`` is an ``inproc://`` scheduler of this process (``LocalCluster(processes=False)``,
    as the tests use): the one case where a non-tcp address can work."""
    if not address.startswith("inproc://"):
        return False
    from distributed.comm.inproc import global_manager

    try:
        return global_manager.get_listener_for(address.removeprefix("inproc://")) is not None
    except ValueError:  # not of the form inproc://IP/PID/N (then it is no listener of ours either)
        return False


def probe_scheduler(address: str, timeout: float = PROBE_TIMEOUT) -> None:
    """ExecutorError unless a dask scheduler answers at ``address`` within ``timeout`` s.

    A plain socket, not a dask Client: a Client that fails to connect retries for its whole timeout
    and then prints a traceback from its ``__del__``, and one connected to a peer that never speaks
    waits forever. A dask scheduler speaks first (its handshake), so one byte within ``timeout``
    tells it from a port that merely accepts connections."""
    if _inproc_listening(address):
        return
    host, port = parse_scheduler_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.settimeout(timeout)
            try:
                greeting = connection.recv(1)
            except TimeoutError:
                greeting = None
        if not greeting:
            said = "sent nothing" if greeting is None else "closed the connection"
            raise ExecutorError(
                f"cannot use {address} as a dask scheduler: something accepts connections there but "
                f"{said} within {timeout:g} s (a dask scheduler greets first)"
            )
    except UnicodeError:  # a host name IDNA cannot encode (e.g. an empty label: "a..b")
        raise ExecutorError(f"cannot reach the dask scheduler at {address}: bad host name {host!r}") from None
    except socket.gaierror as exc:
        raise ExecutorError(f"cannot reach the dask scheduler at {address}: unknown host {host!r} "
                            f"({exc.strerror or exc})") from None
    except TimeoutError:
        message = f"cannot reach the dask scheduler at {address}: no answer within {timeout:g} s"
        raise ExecutorError(message) from None
    except OSError as exc:
        raise ExecutorError(f"cannot reach the dask scheduler at {address}: {exc.strerror or exc}") from None


def _connect(address: str, timeout: float):
    """A dask Client for ``address``; ExecutorError (and no Client left behind) when that fails."""
    from distributed import Client

    # Built in two steps so that a Client whose constructor fails can still be closed here: left to
    # the garbage collector, its __del__ closes it again and prints a traceback.
    client = Client.__new__(Client)
    try:
        client.__init__(address, timeout=timeout, set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - whatever dask raises, the user gets one line
        with contextlib.suppress(Exception):
            client.close(timeout=1)
        _disarm(client)
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0]}" if str(exc) else type(exc).__name__
        raise ExecutorError(
            f"cannot connect to the dask scheduler at {address}: something listens there, but the dask "
            f"handshake failed ({reason[:200]})"
        ) from None
    return client


def _disarm(client) -> None:
    """Make ``client.__del__`` a no-op: it only closes the client again, which a client that never
    started cannot do quietly (``__del__`` skips the close when the loop is unset)."""
    with contextlib.suppress(AttributeError):
        client._Client__loop = None


def watch(
    pending: dict,
    wait_some: Callable[[list, float], Iterable],
    count_workers: Callable[[], int],
    *,
    address: str,
    no_worker_timeout: float = NO_WORKER_TIMEOUT,
    poll: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    cancel: Callable[[list], None] = lambda futures: None,
) -> Iterator[tuple[Job, Outcome]]:
    """Yield ``(job, outcome)`` as the futures of ``pending`` (future → job) finish.

    ``wait_some(futures, poll)`` returns the finished ones (possibly none) within about ``poll`` s.
    When no worker has been connected for ``no_worker_timeout`` s, every unfinished job is given up:
    cancelled, and yielded with an ExecutorError saying why (the runner counts it lost, not failed,
    so a re-run retries it; what is stored stays stored)."""
    pending = dict(pending)
    last_seen = clock()
    while pending:
        for future in wait_some(list(pending), poll):
            yield pending.pop(future), _outcome(future)
        if not pending:
            return
        if count_workers() > 0:
            last_seen = clock()
        elif clock() - last_seen >= no_worker_timeout:
            error = ExecutorError(
                f"no dask worker connected to the scheduler at {address} for {no_worker_timeout:g} s; "
                f"{len(pending)} jobs given up"
            )
            cancel(list(pending))
            for job in pending.values():
                yield job, error
            return


class DaskExecutor:
    """Runs jobs on a dask.distributed cluster whose scheduler listens at ``address``.

    Workers need dlps installed (the same version); artefact paths refer to the workers' disks. With
    no worker connected for ``no_worker_timeout`` seconds the jobs not yet done are given up.
    """

    def __init__(
        self,
        address: str,
        options: CellOptions = CellOptions(),
        timeout: float = 10.0,
        no_worker_timeout: float = NO_WORKER_TIMEOUT,
        probe_timeout: float = PROBE_TIMEOUT,
    ) -> None:
        if not no_worker_timeout > 0:
            raise ExecutorError(f"no_worker_timeout must be > 0 seconds, got {no_worker_timeout}")
        probe_scheduler(address, min(probe_timeout, timeout))
        self.address = address
        self.options = options
        self.no_worker_timeout = no_worker_timeout
        self.client = _connect(address, timeout)

    def _workers(self) -> int:
        try:
            return len(self.client.nthreads())
        except Exception:  # noqa: BLE001 - a lost scheduler has no workers either
            return 0

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[Job, Outcome]]:
        futures = {
            self.client.submit(run_job, job.cells, job.batched, self.options, pure=False): job
            for job in jobs
        }
        # Woken by each finished future (callbacks run on the client's thread), and at least every
        # poll seconds to see whether any worker is left.
        finished = threading.Event()
        for future in futures:
            future.add_done_callback(lambda _: finished.set())

        def wait_some(pending: list, poll: float) -> list:
            finished.wait(poll)
            finished.clear()
            return [future for future in pending if future.done()]

        yield from watch(futures, wait_some, self._workers, address=self.address,
                         no_worker_timeout=self.no_worker_timeout, cancel=self.client.cancel)

    def close(self, abort: bool = False) -> None:
        self.client.close()  # the scheduler drops this client's unfinished jobs


def _outcome(future) -> Outcome:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - the job was lost, not failed: the coordinator reports it
        return exc


def make_executor(
    jobs: int,
    scheduler: str | None,
    options: CellOptions = CellOptions(),
    no_worker_timeout: float = NO_WORKER_TIMEOUT,
):
    """The executor for ``--jobs``/``--scheduler``: dask when a scheduler is given, else processes
    (in-process for one job)."""
    if scheduler is not None:  # '' included: an empty address is a mistake, not "run here"
        return DaskExecutor(scheduler, options, no_worker_timeout=no_worker_timeout)
    if jobs < 1:
        raise ExecutorError(f"--jobs must be >= 1, got {jobs}")
    if jobs == 1:
        return InProcessExecutor(options)
    return ProcessExecutor(jobs, options)
