"""Producing simulated records to Kafka, paced in event time, with an optional progress display.

Records go out with ``acks="all"`` and an idempotent producer, so retries neither duplicate nor
reorder records within a partition. The key is the ticket id (surveys: the ticket id, else the
survey id), partitioned with murmur2 like the default partitioner (and the Java client), and the
record timestamp is the event time. Records are appended to per-partition batches rather than
sent one by one: that is several times faster in Python.

Pacing: ``speed`` is event-time seconds per wall second (600 = ten event minutes per second);
``max_rate`` caps records per wall second. Both anchor on the first record, so a slow start
(topic creation, connecting) does not make the producer race to catch up.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipeline.kafka.local_broker import ensure_topics
from pipeline.kafka.partitioner import partition_for_key
from pipeline.kafka.security import client_options
from pipeline.simulate.model import LATE, SURVEYS, TICKETS, SimConfig, SimRecord, generate

__all__ = [
    "ProduceStats",
    "ProducerOptions",
    "client_options",
    "produce",
    "produce_simulation",
]

# Batches handed to the producer but not yet acknowledged before it waits for the oldest:
# bounds memory while keeping the pipe to the broker full.
_MAX_IN_FLIGHT_BATCHES = 256
_BATCH_BYTES = 128 * 1024  # well under the broker's default message.max.bytes (1 MiB)
# Sleeping for less than this costs more in scheduling than it gains in precision.
_MIN_SLEEP = 0.005
_PROGRESS_INTERVAL = 0.25


@dataclass(frozen=True)
class ProducerOptions:
    """Where and how fast to produce."""

    bootstrap_servers: str = "127.0.0.1:9092"
    # Logical stream ("tickets", "surveys") -> Kafka topic name.
    topics: Mapping[str, str] = field(
        default_factory=lambda: {TICKETS: "tickets", SURVEYS: "surveys"}
    )
    partitions: int = 4
    replication_factor: int = 1
    create_topics: bool = True
    # Settings of topics created here. Record timestamps are event times, so history must not
    # fall under a time-based retention (see TopicSettings.input_retention_ms).
    topic_configs: Mapping[str, str] = field(default_factory=lambda: {"retention.ms": "-1"})
    speed: float | None = None  # event seconds per wall second; None = as fast as possible
    max_rate: float | None = None  # records per wall second; None = no cap
    # Records before this event time (epoch ms) go as fast as possible, and ``speed`` counts
    # from it: a simulation's warm start (SimConfig.warm_start) is history, not the show.
    pace_from_ms: int | None = None
    progress: bool = False
    progress_label: str = "simulate"  # the progress line's first word
    linger_ms: int = 20
    # Extra AIOKafkaProducer arguments, e.g. from client_options(settings.kafka) for SASL/TLS.
    client: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.speed is not None and not self.speed > 0:
            raise ValueError("speed must be > 0 (or None for as fast as possible)")
        if self.max_rate is not None and not self.max_rate > 0:
            raise ValueError("max_rate must be > 0 (or None for no cap)")
        missing = {TICKETS, SURVEYS} - set(self.topics)
        if missing:
            raise ValueError(f"topics needs a name for {sorted(missing)}")


@dataclass
class ProduceStats:
    """What was delivered (acknowledged by the broker)."""

    sent: dict[str, int] = field(default_factory=lambda: {TICKETS: 0, SURVEYS: 0})
    invalid: int = 0  # records the pipeline must reject (included in sent)
    late: int = 0  # records the pipeline must count as late (included in sent)
    first_ts_ms: int | None = None
    last_ts_ms: int | None = None  # the highest event time sent
    elapsed: float = 0.0  # wall seconds

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    @property
    def valid(self) -> int:
        return self.total - self.invalid - self.late


class _Pacer:
    """How long to pause so that event time advances at ``speed`` and the record rate stays
    at or below ``max_rate``."""

    def __init__(
        self, speed: float | None, max_rate: float | None, pace_from_ms: int | None = None
    ) -> None:
        self.speed = speed
        self.max_rate = max_rate
        self.pace_from_ms = pace_from_ms
        self.wall_start: float | None = None
        self.event_start = 0
        self.count = 0

    def delay(self, event_ms: int) -> float:
        if self.speed is None and self.max_rate is None:
            return 0.0
        if self.pace_from_ms is not None and event_ms < self.pace_from_ms:
            return 0.0
        now = time.monotonic()
        if self.wall_start is None:
            start = self.pace_from_ms if self.pace_from_ms is not None else event_ms
            self.wall_start, self.event_start = now, start
        target = self.wall_start
        if self.speed is not None:
            target = max(
                target, self.wall_start + (event_ms - self.event_start) / 1000 / self.speed
            )
        if self.max_rate is not None:
            target = max(target, self.wall_start + self.count / self.max_rate)
        self.count += 1
        return target - now if target - now >= _MIN_SLEEP else 0.0


class _Display:
    """A rich progress line on stderr (stdout stays free for data); a no-op when off."""

    def __init__(self, enabled: bool, window: tuple[int, int] | None, label: str) -> None:
        self.enabled = enabled
        self.label = label
        self.window = window
        self.progress: Progress | None = None
        self.task: Any = None
        self.started = time.monotonic()
        self.last_update = 0.0

    def __enter__(self) -> _Display:
        if not self.enabled:
            return self
        columns: list[Any] = [TextColumn(f"[bold]{self.label}[/]")]
        if self.window is not None:  # a known end: a bar over event time, and an ETA
            columns += [BarColumn(bar_width=16), TaskProgressColumn()]
        columns += [TextColumn("{task.fields[line]}"), TimeElapsedColumn()]
        if self.window is not None:
            columns += [TextColumn("eta"), TimeRemainingColumn()]
        self.progress = Progress(*columns, console=Console(stderr=True))
        total = None if self.window is None else (self.window[1] - self.window[0]) / 1000
        self.task = self.progress.add_task(self.label, total=total, line="connecting")
        self.progress.start()
        return self

    def update(self, stats: ProduceStats, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not force and now - self.last_update < _PROGRESS_INTERVAL:
            return
        self.last_update = now
        last = stats.last_ts_ms
        completed = None
        if self.window is not None and last is not None:
            span = self.window[1] - self.window[0]
            completed = min(max(last - self.window[0], 0), span) / 1000
        rate = stats.total / max(now - self.started, 1e-9)
        line = f"{stats.total:,} sent {rate:,.0f}/s"
        if last is not None:
            line += f" event time {datetime.fromtimestamp(last / 1000, UTC):%Y-%m-%d %H:%M}"
        if stats.invalid or stats.late:
            line += f" ({stats.invalid:,} invalid, {stats.late:,} late)"
        self.progress.update(self.task, completed=completed, line=line)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.progress is not None:
            self.progress.stop()


@dataclass
class _Batch:
    """Records for one partition, with the counts they add to the stats once delivered."""

    builder: Any  # aiokafka BatchBuilder
    sent: dict[str, int] = field(default_factory=lambda: {TICKETS: 0, SURVEYS: 0})
    invalid: int = 0
    late: int = 0
    first_ts_ms: int | None = None
    last_ts_ms: int | None = None

    def append(self, record: SimRecord) -> bool:
        if self.builder.append(key=record.key, value=record.value, timestamp=record.ts_ms) is None:
            return False
        self.sent[record.topic] += 1
        if record.expect == LATE:
            self.late += 1
        elif record.expect is not None:
            self.invalid += 1
        if self.first_ts_ms is None:
            self.first_ts_ms = record.ts_ms
        if self.last_ts_ms is None or record.ts_ms > self.last_ts_ms:
            self.last_ts_ms = record.ts_ms
        return True

    def add_to(self, stats: ProduceStats) -> None:
        for topic, n in self.sent.items():
            stats.sent[topic] = stats.sent.get(topic, 0) + n
        stats.invalid += self.invalid
        stats.late += self.late
        if stats.first_ts_ms is None:
            stats.first_ts_ms = self.first_ts_ms
        if self.last_ts_ms is not None and (
            stats.last_ts_ms is None or self.last_ts_ms > stats.last_ts_ms
        ):
            stats.last_ts_ms = self.last_ts_ms


class _Batcher:
    """Fills one batch per partition and hands full (or lingering) batches to the producer.

    ``send()`` per record costs several times more Python than appending to a batch, and the
    simulator must keep up with replays of a million events. Keys are partitioned with murmur2
    exactly like the default partitioner (and the Java client), over all partitions of the
    topic; batches of one partition are sent in order, and aiokafka keeps one request per
    partition in flight, so per-key order survives.
    """

    def __init__(
        self, producer: AIOKafkaProducer, topics: Mapping[str, str], partitions: Mapping[str, int]
    ) -> None:
        self.producer = producer
        self.topics = topics
        self.partitions = partitions
        self.open: dict[tuple[str, int], _Batch] = {}
        self.in_flight: deque[tuple[_Batch, asyncio.Future[Any]]] = deque()
        self.stats = ProduceStats()
        self._partition_of: dict[bytes, int] = {}

    def _partition(self, topic: str, key: bytes) -> int:
        cache_key = key + topic.encode()
        partition = self._partition_of.get(cache_key)
        if partition is None:
            # A ticket's events come in a few days; the cache only saves recomputing them.
            if len(self._partition_of) > 200_000:
                self._partition_of.clear()
            partition = partition_for_key(key, self.partitions[topic])
            self._partition_of[cache_key] = partition
        return partition

    async def add(self, record: SimRecord) -> None:
        slot = (record.topic, self._partition(record.topic, record.key))
        batch = self.open.get(slot)
        if batch is None:
            batch = self.open[slot] = _Batch(self.producer.create_batch())
        if batch.append(record):
            return
        await self._send(slot, batch)
        batch = self.open[slot] = _Batch(self.producer.create_batch())
        if not batch.append(record):
            raise ValueError(f"a record of {len(record.value)} bytes does not fit in a batch")

    async def flush(self) -> None:
        """Send every open batch (before a pause, after the linger time, at the end)."""
        for slot, batch in list(self.open.items()):
            await self._send(slot, batch)
        self.open.clear()
        await self._settle(_MAX_IN_FLIGHT_BATCHES)

    async def _send(self, slot: tuple[str, int], batch: _Batch) -> None:
        topic, partition = slot
        if self.open.get(slot) is batch:
            del self.open[slot]
        future = await self.producer.send_batch(
            batch.builder, self.topics[topic], partition=partition
        )
        self.in_flight.append((batch, future))
        await self._settle(_MAX_IN_FLIGHT_BATCHES)

    async def _settle(self, keep: int) -> None:
        """Account delivered batches; wait while more than ``keep`` are in flight."""
        while self.in_flight and (self.in_flight[0][1].done() or len(self.in_flight) > keep):
            batch, future = self.in_flight.popleft()
            await future  # raises the delivery error, if any
            batch.add_to(self.stats)

    async def finish(self) -> ProduceStats:
        await self.flush()
        await self._settle(0)
        return self.stats

    def discard(self) -> None:
        # After a failure the rest need not be reported one by one, but asyncio would log each
        # unretrieved exception.
        for _, future in self.in_flight:
            if future.done() and not future.cancelled():
                future.exception()


async def produce(
    records: Iterable[SimRecord],
    options: ProducerOptions,
    *,
    progress_window: tuple[int, int] | None = None,
) -> ProduceStats:
    """Send ``records`` to Kafka in order and wait until the broker has acknowledged them all.

    ``progress_window`` (first and last event time in ms) turns the progress line into a bar.
    Raises the first delivery error (after the producer has flushed and stopped).
    """
    names = {TICKETS: options.topics[TICKETS], SURVEYS: options.topics[SURVEYS]}
    if options.create_topics:
        await ensure_topics(
            options.bootstrap_servers,
            list(names.values()),
            options.partitions,
            options.replication_factor,
            configs=options.topic_configs,
            client=options.client,
        )
    producer = AIOKafkaProducer(
        bootstrap_servers=options.bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=options.linger_ms,
        max_batch_size=_BATCH_BYTES,
        **dict(options.client),
    )
    pacer = _Pacer(options.speed, options.max_rate, options.pace_from_ms)
    linger = options.linger_ms / 1000
    started = time.monotonic()
    await producer.start()
    batcher: _Batcher | None = None
    try:
        counts = {t: len(await producer.partitions_for(name)) for t, name in names.items()}
        batcher = _Batcher(producer, names, counts)
        with _Display(options.progress, progress_window, options.progress_label) as display:
            last_flush = time.monotonic()
            for record in records:
                pause = pacer.delay(record.ts_ms)
                if pause > 0:
                    await batcher.flush()  # what is due now goes out before the pause
                    await asyncio.sleep(pause)
                await batcher.add(record)
                now = time.monotonic()
                if now - last_flush >= linger:
                    await batcher.flush()
                    last_flush = now
                    display.update(batcher.stats)
            stats = await batcher.finish()
            display.update(stats, force=True)
    finally:
        await producer.stop()
        if batcher is not None:
            batcher.discard()
    stats.elapsed = time.monotonic() - started
    return stats


async def produce_simulation(config: SimConfig, options: ProducerOptions) -> ProduceStats:
    """Generate the records of ``config`` and produce them (see :func:`produce`)."""
    window = None
    if config.warm_start and options.pace_from_ms is None:
        options = replace(options, pace_from_ms=int(config.start.timestamp() * 1000))
    if config.end is not None and config.n_events is None:
        window = (int(config.start.timestamp() * 1000), int(config.end.timestamp() * 1000))
    return await produce(generate(config), options, progress_window=window)
