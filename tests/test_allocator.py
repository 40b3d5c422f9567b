"""baselines.allocator: freed blocks stay in the process, so reallocating them faults no new pages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from baselines import allocator
from baselines.allocator import keep_freed_memory

#: Twenty rounds of three 8 MiB arrays alive at once, then freed: glibc's defaults hand most of
#: them back (the heap's free top passes its trim threshold), so rounds fault their pages again.
ROUNDS = """
import importlib.util, resource, sys
import numpy as np
spec = importlib.util.spec_from_file_location("allocator", sys.argv[2])  # alone: no torch to import
allocator = importlib.util.module_from_spec(spec)
spec.loader.exec_module(allocator)
kept = sys.argv[1] == "keep" and allocator.keep_freed_memory()
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    alive = [np.ones(2**21, dtype=np.float32) for _ in range(3)]
    del alive
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""
PAGES_A_ROUND = 3 * 8 * 2**20 // 4096


def faults(mode: str) -> tuple[bool, int]:
    command = [sys.executable, "-c", ROUNDS, mode, allocator.__file__]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    kept, count = out.stdout.split()
    return kept == "True", int(count)


def test_freed_blocks_are_reused_without_page_faults():
    if not keep_freed_memory():
        pytest.skip("not glibc: the allocator keeps its own defaults")
    kept, with_setting = faults("keep")
    _, without = faults("default")
    assert kept
    # The first round faults its pages in; later rounds reuse them (the defaults fault ~4x as many).
    assert with_setting < 2 * PAGES_A_ROUND < without, (with_setting, without)
