"""The local workers' forkserver, started before the coordinator's own imports.

Local worker processes fork from one forkserver that has imported ``compare.grid.worker`` (torch,
scikit-learn: ~4 s here) once. Started first thing in ``dlps run``, that import runs on another core
while the coordinator imports the same modules to plan the grid, instead of after it: the first job
then starts ~4 s sooner. This module imports nothing heavy, so that starting it costs nothing.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os

#: What the forkserver imports before it forks any worker. torch._dynamo: torch's optimizers import
#: it on their first use (1.5-2 s here), which every worker then paid before its first training.
PRELOAD = ["compare.grid.worker", "torch._dynamo"]


def local_workers(jobs: int | None) -> int:
    """How many local workers ``--jobs`` asks for: ``jobs``, or one per core this process may use."""
    return jobs if jobs is not None else len(os.sched_getaffinity(0))


def context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context of local workers: forkserver, preloading :data:`PRELOAD`."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start() -> None:
    """Start the forkserver now (it preloads in the background; a no-op once it runs). It ends with
    this process, so starting it for a run that then stops on bad input leaves nothing behind."""
    context()
    multiprocessing.forkserver.ensure_running()
