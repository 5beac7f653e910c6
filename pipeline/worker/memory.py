"""The allocator of the worker process: how many glibc malloc arenas its threads share.

glibc gives a thread that allocates while another holds the main arena an arena of its own (up
to 8 per CPU), reserving 64 MiB of address space and keeping what it frees for its own threads.
The worker's Kafka consumer runs in a thread of its own (Faust's consumer thread) and RocksDB
flushes and compacts in background threads: with their fetch buffers and memtables in arenas of
their own, the worker kept about 50 MiB more resident than with one shared arena (see
``WorkerSettings.malloc_arenas``).
"""

from __future__ import annotations

import ctypes
import logging
import sys

__all__ = ["limit_malloc_arenas"]

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def limit_malloc_arenas(arenas: int) -> bool:
    """At most ``arenas`` malloc arenas from now on (0: glibc's default). Call it before the
    threads start: an arena, once made, stays. True when the C library took the setting
    (glibc); elsewhere (musl, macOS) nothing changes."""
    if arenas <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    taken = bool(mallopt(_M_ARENA_MAX, arenas))
    if not taken:
        log.info("the C library did not take a limit of %d malloc arenas", arenas)
    return taken
