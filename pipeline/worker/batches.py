"""Producing many records at once: appended to one aiokafka batch per topic-partition and handed
to the producer batch by batch.

Faust's ``Topic.send`` costs tens of microseconds of Python per record (futures, codecs, a
buffer task); the worker writes one to three records per input record (changelog, outputs), so
that dominated its time. A batch append costs a few microseconds. The batches go through the
Faust app's own aiokafka producer, so Faust's flush before each offset commit waits for them
exactly as for records sent through Faust.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from pipeline.kafka.partitioner import partition_for_key

__all__ = ["RecordBatches"]

Headers = Sequence[tuple[str, bytes]]


class RecordBatches:
    def __init__(self, producer: Any) -> None:
        self._producer = producer  # a started aiokafka AIOKafkaProducer
        self._open: dict[tuple[str, int], Any] = {}
        self._partitions: dict[str, int] = {}
        self.delivered: list[asyncio.Future[Any]] = []  # one per batch handed over
        # The newest batch handed over per topic-partition, with its number of records.
        self._newest: dict[tuple[str, int], tuple[asyncio.Future[Any], int]] = {}

    async def add(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Append a record; ``partition`` None: by key, as the default partitioner does."""
        if partition is None:
            partition = await self._partition_by_key(topic, key)
        slot = (topic, partition)
        batch = self._open.get(slot)
        if batch is None:
            batch = self._open[slot] = self._producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=headers or []) is None:
            await self._send(slot)  # full: send it and start the next one
            batch = self._open[slot] = self._producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers or []) is None:
                raise ValueError(f"a record for {topic} does not fit in an empty batch")

    async def send(self) -> list[asyncio.Future[Any]]:
        """Hand every open batch to the producer; returns the delivery futures of every batch
        handed over so far (the producer's flush, which Faust runs before it commits offsets,
        waits for them too)."""
        for slot in list(self._open):
            await self._send(slot)
        return self.delivered

    def last_offset(self, topic: str, partition: int) -> int | None:
        """Once delivered: the offset of the last record handed over to ``topic``/``partition``;
        None if nothing was, or the broker did not say (``acks=0``)."""
        newest = self._newest.get((topic, partition))
        if newest is None:
            return None
        future, count = newest
        if not future.done() or future.cancelled() or future.exception() is not None:
            return None
        offset = getattr(future.result(), "offset", None)
        if offset is None or offset < 0:
            return None
        return int(offset) + count - 1  # the batch's records have consecutive offsets

    async def _send(self, slot: tuple[str, int]) -> None:
        batch = self._open.pop(slot)
        count = batch.record_count()
        delivery = await self._producer.send_batch(batch, slot[0], partition=slot[1])
        self.delivered.append(delivery)
        self._newest[slot] = (delivery, count)

    async def _partition_by_key(self, topic: str, key: bytes | None) -> int:
        count = self._partitions.get(topic)
        if count is None:
            count = self._partitions[topic] = len(await self._producer.partitions_for(topic))
        if key is None:
            return random.randrange(count)  # as the default partitioner: any partition
        return partition_for_key(key, count)
