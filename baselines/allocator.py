"""Keep freed memory in the process instead of handing it back to the OS after every step.

glibc's malloc serves blocks of 128 KiB and more (a batch's activations, a stack's gradients) with
fresh ``mmap`` pages and unmaps them when freed, and it trims the top of its heap once a few MiB lie
free there. A training step frees and reallocates the same tensors, so each step's new pages fault
in and are zeroed by the kernel again: 500 steps of the quick preset's modular stack (6
transformers, minibatches of 256) took ~500,000 page faults and 1.3-1.4 s of system time; with the
thresholds below, ~100,000 (mostly the imports) and 0.5 s. Other C libraries keep their defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

#: glibc's ``mallopt`` parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
#: Blocks below this size come from the heap: glibc's ceiling for the threshold on 64-bit systems.
MMAP_THRESHOLD = 32 * 2**20
#: The heap's free top is handed back only past this size (a worker's steps reuse what they free).
TRIM_THRESHOLD = 512 * 2**20


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (and processes it forks); once per
    process. False where the C library is not glibc (nothing changes there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # no C library found, or one without mallopt (musl)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
