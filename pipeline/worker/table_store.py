"""The engine's state store in the worker: a Faust table (string keys, JSON values as bytes),
written in batches through the journal (see pipeline/worker/journal.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable, Iterator
from typing import Any

import orjson
from faust.types import TP

from pipeline.core.store import Write
from pipeline.kafka import internals
from pipeline.worker.batches import RecordBatches
from pipeline.worker.journal import BatchJournal, is_journal_key, partition_of_key

__all__ = ["Persist", "TableStore"]

log = logging.getLogger(__name__)

# Called once the changelog records of a flush are delivered, with the batches they went in.
Persist = Callable[[RecordBatches], None]


class TableStore:
    """``write`` only remembers the newest value of each key; ``flush`` (once per agent batch)
    appends the batch's changelog records, journal first, to the producer's batches, and
    updates the table's data.

    The records bypass the table's ``send_soon`` path: its buffer's flush before a commit gives
    up after 0.1 s without a send, so under load changelog writes could still wait there when
    offsets are committed.

    With a persistent store (``persistent``: Faust's RocksDB store) the table's data is the
    changelog's local copy, read again at the next start from where its persisted offset says
    and no earlier. So it is written only once the broker has acknowledged the records (the
    callable ``flush`` returns), one write batch per changelog partition, and then the
    partition's persisted offset moves to the last of them: the copy never holds what the
    changelog may not (a crash before delivery), and an offset that stays behind (a crash
    between the two writes) only means a longer tail to read again, to the same state. The
    memory store is rebuilt from the whole changelog at every start: it is written at once."""

    def __init__(
        self,
        table: Any,
        partition_of: Callable[[str], int] = partition_of_key,
        owned: Callable[[], Container[int]] | None = None,
        persistent: bool = False,
    ) -> None:
        self.table = table
        self.journal = BatchJournal(partition_of)
        # The changelog partitions this worker writes (not its standby copies of others).
        self._owned = owned
        self._persistent = persistent
        self._local_copy_failed = False
        self.recovered_batches = 0

    def write(self, writes: Iterable[Write]) -> None:
        self.journal.write(writes)

    @property
    def pending(self) -> bool:
        return bool(self.journal.changed)

    async def flush(self, batches: RecordBatches) -> Persist | None:
        """Append every changed key's record; with a persistent store, returns what writes
        them to the local copy once they are delivered."""
        topic = self.table.changelog_topic.get_topic_name()
        drained = self.journal.drain()
        for partition, records in drained.items():
            for key, raw in records:
                await batches.add(topic, key, raw, partition=partition)
        if not drained:
            return None
        if not self._persistent:
            data = self.table.data
            for records in drained.values():
                for key, raw in records:
                    if raw is None:
                        data.pop(key, None)
                    else:
                        data[key] = raw
            return None
        return lambda delivered: self._persist(topic, drained, delivered)

    def _persist(
        self,
        topic: str,
        drained: dict[int, list[tuple[bytes, bytes | None]]],
        delivered: RecordBatches,
    ) -> None:
        if self._local_copy_failed:
            return  # later batches must not move the offset past one that is missing
        try:
            for partition, records in drained.items():
                internals.write_partition(self.table.data, partition, records)
                offset = delivered.last_offset(topic, partition)
                if offset is not None:
                    self.table.data.set_persisted_offset(TP(topic, partition), offset)
        except Exception:
            # The changelog has the state; the local copy stays where it is, and the next
            # start reads the changelog from there.
            self._local_copy_failed = True
            log.exception("writing the local copy of %s failed; it is no longer updated", topic)

    def load(self) -> Iterator[tuple[str, Any]]:
        """Every stored key and value, after finishing batches a crash interrupted."""
        owned = self._owned() if self._owned is not None else None
        data = self.table.data
        self.recovered_batches += self.journal.recover(data, owned)
        queued = self.journal.changed  # the writes of finished batches stand over the data
        for key, value in list(data.items()):
            if value is None or is_journal_key(key):
                continue
            text = key.decode() if isinstance(key, bytes) else str(key)
            if text not in queued:
                yield text, orjson.loads(value)
        for text, raw in list(queued.items()):
            if raw is not None and not is_journal_key(text.encode()):
                yield text, orjson.loads(raw)
