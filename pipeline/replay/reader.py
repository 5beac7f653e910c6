"""Reading a time range of the input topics, by record timestamp (= event time).

The replay consumer is its own: it has no consumer group (``group_id=None``), so it never joins
the live worker's group, never triggers a rebalance there and never commits an offset. It only
assigns partitions and seeks.

Per partition the range is a fixed span of offsets, decided before reading:

- start: the first offset whose timestamp is at or after the start of the range
  (``offsets_for_times``). Every record before it is older than the range.
- stop: the first offset whose timestamp is at or after ``stop_ms`` (the end of the range plus
  the allowed lateness), else the end offset captured at the start. Records after it can only
  be late for windows inside the range (the partition's watermark has passed them), exactly as
  the live worker would judge them, so reading stops there and the replay finishes by itself
  even while producers keep appending.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from pipeline.kafka import internals

__all__ = [
    "MissingTopicError",
    "PartitionRange",
    "RangeRecord",
    "ReplayError",
    "open_consumer",
    "plan_ranges",
    "read_ranges",
]

_FETCH_TIMEOUT_MS = 500
_MAX_RECORDS = 2000


class ReplayError(Exception):
    """The range cannot be read: no broker, no such topic."""


@dataclass(frozen=True, slots=True)
class PartitionRange:
    source: str  # logical input: "tickets" or "surveys"
    topic: str
    partition: int
    start: int  # first offset to read
    stop: int  # first offset not to read

    @property
    def records(self) -> int:
        """Offsets in the range (an upper bound on records: control records take offsets)."""
        return max(0, self.stop - self.start)


class RangeRecord(NamedTuple):
    """One record read, in the engine's record shape: a batch of them is fed as it is."""

    source: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


# A named tuple's own __new__ is a Python function taking keywords: made from a tuple instead,
# once per record read.
_new_record = tuple.__new__


async def open_consumer(bootstrap_servers: str, client: Mapping[str, Any]) -> AIOKafkaConsumer:
    """A started consumer outside any group: it commits nothing and joins nothing."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        client_id="kpi-pipeline-replay",
        max_poll_records=_MAX_RECORDS,
        **client,
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise ReplayError(f"cannot reach Kafka at {bootstrap_servers}: {exc}") from exc
    # Without a group, aiokafka starts a helper task that ``stop()`` cancels and awaits; one
    # that never ran re-raises the cancellation from ``stop()``. Let it start.
    await asyncio.sleep(0)
    return consumer


class MissingTopicError(ReplayError):
    """An input topic is not on the broker; ``similar`` are the topics whose names end in the
    same base name (the same events under another prefix, e.g. an import's)."""

    def __init__(self, topic: str, base: str, similar: list[str]) -> None:
        self.topic, self.base, self.similar = topic, base, similar
        super().__init__(f"input topic {topic!r} does not exist on the broker")


async def _partitions(consumer: AIOKafkaConsumer, topic: str, base: str) -> list[int]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        # Metadata of a topic this client has not asked about yet.
        await internals.refresh_metadata(consumer)
        partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        existing = await consumer.topics()
        similar = sorted(t for t in existing if t.endswith(base) and t != topic)
        raise MissingTopicError(topic, base, similar)
    return sorted(partitions)


async def plan_ranges(
    consumer: AIOKafkaConsumer,
    topics: Mapping[str, str],
    start_ms: int,
    stop_ms: int,
    base_names: Mapping[str, str] | None = None,
) -> list[PartitionRange]:
    """The offsets to read per input partition (see the module docstring). ``base_names``:
    each source's topic name without a prefix, to name look-alikes when a topic is missing."""
    tps: dict[TopicPartition, str] = {}
    for source, topic in topics.items():
        base = (base_names or topics)[source]
        for p in await _partitions(consumer, topic, base):
            tps[TopicPartition(topic, p)] = source
    ends = await consumer.end_offsets(list(tps))
    starts = await consumer.offsets_for_times({tp: start_ms for tp in tps})
    stops = await consumer.offsets_for_times({tp: stop_ms for tp in tps})
    ranges = []
    for tp, source in tps.items():
        first = starts.get(tp)
        after = stops.get(tp)
        start = first.offset if first is not None else ends[tp]
        stop = after.offset if after is not None else ends[tp]
        ranges.append(PartitionRange(source, tp.topic, tp.partition, start, max(start, stop)))
    return sorted(ranges, key=lambda r: (r.source, r.partition))


async def read_ranges(
    consumer: AIOKafkaConsumer, ranges: list[PartitionRange]
) -> AsyncIterator[list[RangeRecord]]:
    """Batches of records of every range, in offset order per partition, until every partition
    has reached its stop offset."""
    active = {TopicPartition(r.topic, r.partition): r for r in ranges if r.stop > r.start}
    if not active:
        return
    consumer.assign(list(active))
    for tp, r in active.items():
        consumer.seek(tp, r.start)
    while active:
        fetched = await consumer.getmany(
            *active, timeout_ms=_FETCH_TIMEOUT_MS, max_records=_MAX_RECORDS
        )
        batch: list[RangeRecord] = []
        for tp, messages in fetched.items():
            span = active.get(tp)
            if span is None or not messages:
                continue
            if messages[-1].offset >= span.stop:
                messages = [m for m in messages if m.offset < span.stop]
            source, partition = span.source, span.partition
            batch += [
                _new_record(RangeRecord, (source, partition, m.offset, m.key, m.value))
                for m in messages
            ]
        # The position, not the last record seen, says when a partition is done: transaction
        # markers take offsets without ever being returned as records.
        for tp in list(active):
            if await consumer.position(tp) >= active[tp].stop:
                del active[tp]
                consumer.pause(tp)
        if batch:
            yield batch
