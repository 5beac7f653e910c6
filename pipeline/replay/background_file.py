"""A file written by a thread of its own, for a report that outgrows the page cache.

A year of history at the default windows writes gigabytes of ``kpis.csv``. The write system
call releases the GIL, so copying into the page cache (or waiting while the kernel flushes it
to disk) is done beside the replay's computing instead of inside it. Writes are gathered into
chunks of a few megabytes, written by one ``writev`` each (no copy to join them): the thread
needs the GIL between two system calls, and the replay hands it over only every switch interval
(5 ms), so small writes would starve the disk. The queue of chunks is bounded: when the disk
falls behind, the replay waits for it.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

__all__ = ["BackgroundFile"]

_CHUNK = 4 << 20  # bytes gathered before the thread is handed them
_WAITING = 4  # chunks queued at the most
_VECTOR = 1024  # buffers one writev takes at the most (IOV_MAX on Linux)


class BackgroundFile:
    """Bytes appended in order by one writer thread. ``close`` waits until every chunk is
    written and raises the thread's error if writing failed."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb", buffering=0)
        self._chunks: queue.Queue[list[bytes] | None] = queue.Queue(_WAITING)
        self._gathered: list[bytes] = []
        self._size = 0
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._write_all, name=f"write {path.name}")
        self._thread.daemon = True  # a replay that fails does not wait for its report
        self._thread.start()

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._gathered.append(data)
        self._size += len(data)
        if self._size >= _CHUNK:
            self._hand_over()

    def close(self) -> None:
        if self._thread.is_alive():
            self._hand_over()
            self._chunks.put(None)
            self._thread.join()
            self._file.close()
        if self._error is not None:
            raise self._error

    def _hand_over(self) -> None:
        if self._gathered:
            self._chunks.put(self._gathered)
            self._gathered, self._size = [], 0

    def _write_all(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._error is None:
                try:
                    _write_vector(self._file.fileno(), chunk)
                except OSError as exc:
                    # Keep taking chunks: the replay may be waiting to queue one more.
                    self._error = exc


def _write_vector(fd: int, pieces: list[bytes]) -> None:
    """Write the pieces one after the other, resuming after a short write."""
    views = [memoryview(p) for p in pieces if p]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + _VECTOR])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:
            views[first] = views[first][written:]
