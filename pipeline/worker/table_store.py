"""The engine's state store in the worker: a Faust table (string keys, JSON values as bytes),
written in batches through the journal (see pipeline/worker/journal.py)."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from typing import Any

import orjson

from pipeline.core.store import Write
from pipeline.worker.batches import RecordBatches
from pipeline.worker.journal import BatchJournal, is_journal_key, partition_of_key

__all__ = ["TableStore"]


class TableStore:
    """``write`` only remembers the newest value of each key; ``flush`` (once per agent batch)
    updates the table's data and appends the batch's changelog records, journal first, to the
    producer's batches.

    The records bypass the table's ``send_soon`` path: its buffer's flush before a commit gives
    up after 0.1 s without a send, so under load changelog writes could still wait there when
    offsets are committed. They also bypass the table's send callback, which only advances a
    persistent store's recovery offset: a RocksDB store then replays a longer changelog tail at
    start-up, to the same state."""

    def __init__(
        self,
        table: Any,
        partition_of: Callable[[str], int] = partition_of_key,
        owned: Callable[[], Container[int]] | None = None,
    ) -> None:
        self.table = table
        self.journal = BatchJournal(partition_of)
        # The changelog partitions this worker writes (not its standby copies of others).
        self._owned = owned
        self.recovered_batches = 0

    def write(self, writes: Iterable[Write]) -> None:
        for key, value in writes:
            self.journal.write(key, value)

    @property
    def pending(self) -> bool:
        return bool(self.journal.changed)

    async def flush(self, batches: RecordBatches) -> int:
        """Append every changed key's record; returns how many changelog records were added."""
        data = self.table.data
        topic = self.table.changelog_topic.get_topic_name()
        sent = 0
        for partition, records in self.journal.drain().items():
            for key, raw in records:
                if raw is None:
                    data.pop(key, None)
                else:
                    data[key] = raw
                await batches.add(topic, key, raw, partition=partition)
            sent += len(records)
        return sent

    def load(self) -> Iterator[tuple[str, Any]]:
        """Every stored key and value, after finishing batches a crash interrupted."""
        owned = self._owned() if self._owned is not None else None
        self.recovered_batches += self.journal.recover(self.table.data, owned)
        for key, value in list(self.table.data.items()):
            if value is None or is_journal_key(key):
                continue
            text = key.decode() if isinstance(key, bytes) else str(key)
            yield text, orjson.loads(value)
