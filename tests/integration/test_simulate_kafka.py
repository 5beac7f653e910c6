"""The simulator against a real broker: every record arrives once, with its key, timestamp and
per-key order; topics are created; pacing holds back a fast generator."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import murmur2

from pipeline.kafka import LocalBroker
from pipeline.simulate import ProducerOptions, SimConfig, SimRecord, generate, produce

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 2, 8, tzinfo=UTC)
PARTITIONS = 3

Received = tuple[str, int, bytes, bytes, int]  # topic, partition, key, value, timestamp


async def consume_all(bootstrap: str, topics: list[str], count: int) -> list[Received]:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[Received] = []
    try:
        deadline = time.monotonic() + 60
        while len(received) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for r in records:
                    assert r.timestamp_type == 0  # CreateTime: the producer's timestamp
                    received.append((r.topic, r.partition, r.key, r.value, r.timestamp))
        # Anything beyond `count` (duplicates) must show up in the assertions too.
        batches = await consumer.getmany(timeout_ms=1000)
        for records in batches.values():
            received += [(r.topic, r.partition, r.key, r.value, r.timestamp) for r in records]
    finally:
        await consumer.stop()
    return received


async def test_every_record_arrives_once_keyed_and_timestamped(kafka_broker: LocalBroker) -> None:
    config = SimConfig(
        seed=11,
        start=START,
        duration=timedelta(hours=4),
        tickets_per_hour=250,
        disorder_seconds=120,
        invalid_fraction=0.03,
        late_fraction=0.2,
    )
    records = list(generate(config))
    assert len(records) > 2000
    topics = {"tickets": "sim-rt-tickets", "surveys": "sim-rt-surveys"}
    options = ProducerOptions(
        bootstrap_servers=kafka_broker.bootstrap_servers, topics=topics, partitions=PARTITIONS
    )

    stats = await produce(records, options)

    assert stats.total == len(records)
    assert stats.sent == {
        "tickets": sum(r.topic == "tickets" for r in records),
        "surveys": sum(r.topic == "surveys" for r in records),
    }
    assert stats.late == sum(r.expect == "late" for r in records) > 0
    assert stats.invalid == sum(r.expect not in (None, "late") for r in records) > 0

    received = await consume_all(
        kafka_broker.bootstrap_servers, list(topics.values()), len(records)
    )
    logical = {name: stream for stream, name in topics.items()}
    assert sorted((logical[t], k, v, ts) for t, _, k, v, ts in received) == sorted(
        (r.topic, r.key, r.value, r.ts_ms) for r in records
    )
    # Topics were created with the asked partitions, and keys land where the Java client's
    # murmur2 partitioner puts them, so other producers of the same keys agree.
    assert {partition for _, partition, *_ in received} == set(range(PARTITIONS))
    for _, partition, key, _, _ in received:
        assert partition == (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
    # Within a key, the order is the order produced (what the pipeline's per-key state sees).
    sent_order: dict[tuple[str, bytes], list[bytes]] = defaultdict(list)
    for record in records:
        sent_order[(record.topic, record.key)].append(record.value)
    got_order: dict[tuple[str, bytes], list[bytes]] = defaultdict(list)
    for topic, _, key, value, _ in received:
        got_order[(logical[topic], key)].append(value)
    assert got_order == sent_order


async def test_speed_and_max_rate_pace_the_producer(kafka_broker: LocalBroker) -> None:
    topics = {"tickets": "sim-pace-tickets", "surveys": "sim-pace-surveys"}
    bootstrap = kafka_broker.bootstrap_servers
    start_ms = int(START.timestamp() * 1000)
    # 40 records over 60 s of event time at 60x: about a second of wall time.
    records = [
        SimRecord("tickets", b"T-pace-%d" % i, b"{}", start_ms + i * 1500) for i in range(41)
    ]
    began = time.monotonic()
    stats = await produce(records, ProducerOptions(bootstrap, topics, speed=60))
    paced = time.monotonic() - began
    assert stats.total == 41
    assert stats.elapsed >= 0.9 and paced < 10

    # Same event time everywhere, so only the rate cap holds it back: 100 records at 200/s.
    burst = [SimRecord("surveys", b"S-%d" % i, b"{}", start_ms) for i in range(100)]
    stats = await produce(burst, ProducerOptions(bootstrap, topics, max_rate=200))
    assert stats.total == 100
    assert stats.elapsed >= 0.45
