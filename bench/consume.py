"""Reading the input topics to their end with a bare aiokafka consumer: alone (the Python limit
of this machine), or feeding the pipeline's core directly (what a replay does)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.streams import Streams
from pipeline.config import Settings
from pipeline.engine.frames import frame_record_bytes
from pipeline.engine.runtime import Engine
from pipeline.worker.context import core_context

__all__ = ["Drained", "bare_consumer", "core_replay"]

# source, partition, offset, key, value
OnRecord = Callable[[str, int, int, bytes | None, bytes], None]


@dataclass
class Drained:
    records: int
    seconds: float  # the first fetch asked for to the last record handled
    cpu_seconds: float = 0.0  # this process's CPU time over the same span

    @property
    def cpu_rate(self) -> float:
        return self.records / self.cpu_seconds

    @property
    def rate(self) -> float:
        return self.records / self.seconds


async def _drain(bootstrap: str, streams: Streams, on_record: OnRecord) -> Drained:
    sources = {name: source for source, name in streams.topics.items()}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        # Larger fetches than the default 1 MiB per partition: fewer round trips per record.
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for topic in sources for p in range(streams.partitions)]
        # From before the first fetch: the consumer fetches in the background as soon as it is
        # assigned, so a clock started at the first batch returned would leave out most of a
        # small stream's fetching (all of it at 100,000 records).
        started, cpu_started = time.perf_counter(), time.process_time()
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        count = 0
        while remaining:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, messages in batch.items():
                source = sources[tp.topic]
                for m in messages:
                    on_record(source, tp.partition, m.offset, m.key, m.value)
                count += len(messages)
                if messages and messages[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return Drained(count, time.perf_counter() - started, time.process_time() - cpu_started)
    finally:
        await consumer.stop()


def bare_consumer(bootstrap: str, streams: Streams) -> Drained:
    """Fetch every record and decode its JSON, nothing else."""

    def decode(source: str, partition: int, offset: int, key: bytes | None, value: bytes) -> None:
        try:  # noqa: SIM105 (a plain try costs less than contextlib.suppress per record)
            orjson.loads(value)
        except orjson.JSONDecodeError:
            pass  # the bad records of the stream

    return asyncio.run(_drain(bootstrap, streams, decode))


def core_replay(bootstrap: str, streams: Streams, settings: Settings) -> tuple[Drained, int]:
    """The pipeline's runtime (every KPI, default windows and breakdowns, in-memory state) fed
    by a bare consumer, closing windows at the end: what a replay does without its report.
    Returns the drain and the number of window x scope records produced."""
    runtime = Engine(core_context(settings), topics=streams.topics)
    # Every input partition from the start, as replay does: a partition not read yet holds
    # closing back (its end is not known), so windows close only behind all of them.
    runtime.assign((source, p) for source in streams.topics for p in range(streams.partitions))
    windows = 0

    def handle(source: str, partition: int, offset: int, key: bytes | None, value: bytes) -> None:
        nonlocal windows
        out = runtime.handle(source, partition, offset, key, value)
        windows += sum(1 for _ in frame_record_bytes(out.windows))

    drained = asyncio.run(_drain(bootstrap, streams, handle))
    # Nothing is unread any more: empty partitions no longer hold closing back.
    runtime.end_offsets = dict(runtime.next_offsets)
    started, cpu_started = time.perf_counter(), time.process_time()
    windows += sum(1 for _ in frame_record_bytes(runtime.close_windows()))
    drained.seconds += time.perf_counter() - started
    drained.cpu_seconds += time.process_time() - cpu_started
    return drained, windows
