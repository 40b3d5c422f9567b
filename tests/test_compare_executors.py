"""The dask executor's edges: scheduler addresses checked up front in one line, an unreachable or
silent scheduler refused without a dask Client (so nothing prints from its ``__del__``), and a run
whose workers are all gone gives up its unfinished jobs with a clear message instead of waiting."""

from __future__ import annotations

import gc
import socket
import threading

import pytest

from compare.grid.cells import Cell
from compare.grid.executors import (
    DaskExecutor,
    ExecutorError,
    Job,
    make_executor,
    parse_scheduler_address,
    probe_scheduler,
    watch,
)

EXPECTED = "expected tcp://HOST:PORT"


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("tcp://127.0.0.1", ["no port", EXPECTED, "8786"]),
        ("tcp://localhost:notaport", ["port 'notaport' is not a number", EXPECTED]),
        ("tcp://localhost:0", ["port '0' is not a number in [1, 65535]"]),
        ("tcp://localhost:99999", ["port '99999'"]),
        ("tcp://localhost:", ["port ''"]),
        ("inproc://foo", ["scheme inproc:// is not accepted", EXPECTED]),
        ("tls://10.0.0.5:8786", ["scheme tls:// is not accepted", EXPECTED]),
        ("ucx://10.0.0.5:8786", ["scheme ucx://"]),
        ("localhost:8786", ["bad scheduler address 'localhost:8786'", EXPECTED]),
        ("tcp://a b:1", ["bad host"]),
        ("tcp://" + "h" * 500 + ":1", ["...", EXPECTED]),
        ("", ["--scheduler is empty", "leave --scheduler out"]),
        ("   ", ["--scheduler is empty"]),
    ],
)
def test_bad_addresses_are_refused_at_once_in_one_line(address, words):
    with pytest.raises(ExecutorError) as error:
        make_executor(1, address)  # '' is a mistake, not "run here"
    message = str(error.value)
    assert "\n" not in message and len(message) < 250, message
    for word in words:
        assert word in message


def test_good_addresses_parse():
    assert parse_scheduler_address("tcp://10.0.0.5:8786") == ("10.0.0.5", 8786)
    assert parse_scheduler_address("tcp://sched.example.org:1") == ("sched.example.org", 1)
    assert parse_scheduler_address("tcp://[::1]:8786") == ("::1", 8786)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_closed_port_or_an_unknown_host_is_one_line_and_leaves_no_client(capfd):
    port = _closed_port()
    with pytest.raises(ExecutorError, match=f"^cannot reach the dask scheduler at tcp://127.0.0.1:{port}: "):
        DaskExecutor(f"tcp://127.0.0.1:{port}")
    with pytest.raises(ExecutorError, match="unknown host 'no-such-host.invalid'"):
        DaskExecutor("tcp://no-such-host.invalid:8786")
    gc.collect()  # a half-made Client would print its __del__ traceback now
    assert "Traceback" not in capfd.readouterr().err


def test_a_port_that_accepts_but_never_speaks_is_not_a_scheduler():
    # A dask Client connected to such a port waits forever; the probe waits for the greeting.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        accepted: list = []
        threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(ExecutorError, match="accepts connections there but sent nothing within 0.5 s"):
            probe_scheduler(address, timeout=0.5)
        for connection, _ in accepted:
            connection.close()


# --- all workers gone ---------------------------------------------------------------------------


class FakeFuture:
    def __init__(self, value: object) -> None:
        self.value = value

    def result(self) -> object:
        return self.value


def test_watch_yields_what_finishes_then_gives_up_when_no_worker_is_left():
    clock = [0.0]
    futures = {FakeFuture([f"r{i}"]): Job((), batched=bool(i)) for i in range(3)}
    first = next(iter(futures))
    workers = iter([1, 1, 0, 0, 0, 0, 0])  # the workers die after the second poll
    cancelled: list = []

    def wait_some(pending, poll):
        clock[0] += poll
        return [first] if first in pending else []

    outcomes = list(watch(futures, wait_some, lambda: next(workers), address="tcp://h:1",
                          no_worker_timeout=3, poll=1, clock=lambda: clock[0], cancel=cancelled.extend))
    assert outcomes[0] == (futures[first], ["r0"])
    rest = outcomes[1:]
    assert len(rest) == 2 and all(isinstance(outcome, ExecutorError) for _, outcome in rest)
    message = "no dask worker connected to the scheduler at tcp://h:1 for 3 s; 2 jobs given up"
    assert str(rest[0][1]) == message
    assert len(cancelled) == 2 and clock[0] == 5  # seen at t=2, given up at t=5, not before


def test_watch_waits_as_long_as_a_worker_is_there():
    clock = [0.0]
    future = FakeFuture([])
    polls = iter(range(100))

    def wait_some(pending, poll):
        clock[0] += poll
        return [future] if next(polls) == 50 else []  # a long job: 51 polls, far past the timeout

    outcomes = list(watch({future: Job(())}, wait_some, lambda: 1, address="a", no_worker_timeout=3,
                          poll=1, clock=lambda: clock[0]))
    assert outcomes == [(Job(()), [])]


def test_a_cluster_without_workers_times_out_and_the_store_keeps_its_cells(tmp_path):
    from distributed import LocalCluster

    from compare.grid.runner import run_grid
    from compare.results.store import Store

    cells = [Cell("modular:p=11", "lookup", "lookup", n, 0) for n in (2, 4)]
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None, protocol="tcp") as cluster:
        executor = DaskExecutor(cluster.scheduler_address, no_worker_timeout=1.0)
        try:
            with Store(str(tmp_path / "s.sqlite")) as store:
                summary = run_grid(cells, store, executor)
                assert store.finished_keys(include_failed=True) == set()
        finally:
            executor.close()
    assert summary.lost == 2 and summary.ran == 0
    assert summary.lost_reason.startswith("ExecutorError: no dask worker connected to the scheduler at tcp://")
    assert "for 1 s;" in summary.lost_reason and "run again to retry them" in summary.line()


def test_no_worker_timeout_must_be_positive():
    with pytest.raises(ExecutorError, match="no_worker_timeout must be > 0"):
        DaskExecutor("tcp://127.0.0.1:1", no_worker_timeout=0)
