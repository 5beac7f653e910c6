"""A batch of state writes, made durable as a whole per changelog partition.

The worker processes input records in batches and writes each key it changed once per batch. A
crash can persist any prefix of a changelog partition's records in flight: records of one
partition are stored in the order they were produced (aiokafka keeps one request per broker in
flight and retries a partition's batch before any later one of it). Half a batch is not a state
the pipeline was ever in: a release moves events out of their keys and into panes, so a prefix can
hold keys that no longer have an event together with panes that do not count it yet.

So each partition's share of a batch is written as

1. one journal record holding all of its writes (Kafka stores a record whole or not at all),
   compressed, since it repeats everything that follows;
2. the writes, record by record (a compacted changelog keeps only these in the long run);
3. an end record naming the batch.

On recovery, a partition whose journal record names a batch that its end record does not was
interrupted: the journal's writes stand over what was stored, and are queued to be written
again with the next batch (until then a second crash finds the same journal and does the same).
Input offsets are committed only after all of it was acknowledged, so the records behind an
interrupted batch are redelivered and recognised by their event ids.
"""

from __future__ import annotations

import itertools
import os
import zlib
from collections.abc import Callable, Container, Iterable, Mapping

import orjson

__all__ = ["BatchJournal", "is_journal_key", "partition_of_key"]

_JOURNAL = "journal|"
_END = "journal-end|"
Write = tuple[bytes, bytes | None]  # (key, encoded value or None to delete)


def partition_of_key(key: str) -> int:
    """The changelog partition of a state key: the input partition it belongs to. Keys are
    ``<source>:<partition>|...`` (a partition's core) or ``<name>|<partition>`` (records the
    runtime or this journal keeps per partition)."""
    head, _, rest = key.partition("|")
    if ":" in head:
        return int(head.rpartition(":")[2])
    return int(rest.partition("|")[0])


def is_journal_key(key: bytes) -> bool:
    return key.startswith((_JOURNAL.encode(), _END.encode()))


class BatchJournal:
    """Coalesces writes (the newest value of each key wins) and frames each partition's share
    of a batch as described in the module docstring."""

    def __init__(self, partition_of: Callable[[str], int] = partition_of_key) -> None:
        self.changed: dict[str, bytes | None] = {}  # key -> newest encoded value, None = deleted
        self._partition_of = partition_of
        # Batch names unique across restarts and workers: only equality is ever checked.
        self._names = (f"{os.urandom(6).hex()}-{n}" for n in itertools.count())
        self._finished: set[str] = set()  # interrupted batches this process has finished

    def write(self, writes: Iterable[tuple[str, bytes | None]]) -> None:
        """Key -> encoded value (None: deleted), in order: a later write of a key wins."""
        self.changed.update(writes)

    def drain(self) -> dict[int, list[Write]]:
        """The records to write for the changes so far, per changelog partition, in the order
        they must be produced; forgets the changes."""
        changed, self.changed = self.changed, {}
        partition_of = self._partition_of
        by_partition: dict[int, list[tuple[str, bytes | None]]] = {}
        for key, raw in changed.items():
            partition = partition_of(key)
            writes = by_partition.get(partition)
            if writes is None:
                writes = by_partition[partition] = []
            writes.append((key, raw))
        framed: dict[int, list[Write]] = {}
        for partition, writes in by_partition.items():
            name = next(self._names).encode()
            journal = zlib.compress(_listing(name, writes), 1)
            framed[partition] = [
                (f"{_JOURNAL}{partition}".encode(), journal),
                *[(key.encode(), raw) for key, raw in writes],
                (f"{_END}{partition}".encode(), name),
            ]
        return framed

    def recover(self, data: Mapping[bytes, bytes], owned: Container[int] | None = None) -> int:
        """Finish interrupted batches found in ``data`` (restored from the changelog): queue
        their writes to be written again, in ``changed``, where they also stand over ``data``
        until then. Returns how many there were.

        ``data`` is left as it is: with a persistent store it is the changelog's copy on disk,
        which must never hold what the changelog may not (a crash before the next batch is
        delivered finds the same journal there and does the same again). A batch is finished
        once per process: a later call (after a rebalance) skips it, while its writes are
        queued or on their way.

        ``owned``: the changelog partitions to look at (None: all). A standby copy of another
        worker's partition can hold a journal record whose batch is still being written: it
        is that worker's to finish, never this one's."""
        interrupted = 0
        for key in [k for k in data if k.startswith(_JOURNAL.encode())]:
            partition = key[len(_JOURNAL) :].decode()
            if owned is not None and int(partition) not in owned:
                continue
            name, writes = orjson.loads(zlib.decompress(data[key]))
            if data.get(f"{_END}{partition}".encode()) == name.encode() or name in self._finished:
                continue
            interrupted += 1
            self._finished.add(name)
            for text_key, value in writes:
                self.changed[text_key] = None if value is None else orjson.dumps(value)
        return interrupted


def _listing(name: bytes, writes: list[tuple[str, bytes | None]]) -> bytes:
    """``[name, [[key, value], ...]]`` as JSON, from the values already encoded, joined once."""
    dumps = orjson.dumps
    parts: list[bytes] = []
    for key, value in writes:
        parts += (b",[", dumps(key), b",", b"null" if value is None else value, b"]")
    if parts:
        parts[0] = b"["  # no comma before the first entry
    return b"".join((b'["', name, b'",[', *parts, b"]]"))
