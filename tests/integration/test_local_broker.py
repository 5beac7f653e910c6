"""The local KRaft broker against real clients: topics, a produce/consume round trip, restarts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from pipeline.kafka import LocalBroker, ensure_topics, free_port

pytestmark = pytest.mark.integration


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            # Keys spread the records over the partitions.
            await producer.send(topic, value=value, key=value)
        await producer.flush()
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    received: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        while len(received) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            received += [record.value for records in batches.values() for record in records]
        # Anything beyond `count` (duplicates, strays) should show up in the assertions too.
        batches = await consumer.getmany(timeout_ms=500)
        received += [record.value for records in batches.values() for record in records]
    finally:
        await consumer.stop()
    return received


async def _partition_count(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    assert description["error_code"] == 0, description
    return len(description["partitions"])


async def test_round_trip_through_three_partitions(kafka_broker: LocalBroker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    await ensure_topics(bootstrap, ["round-trip"], partitions=3)
    # A second call finds the topic and leaves it alone.
    await ensure_topics(bootstrap, ["round-trip"], partitions=5)
    values = [f"record-{i:03d}".encode() for i in range(100)]

    await _produce(bootstrap, "round-trip", values)
    received = await _consume(bootstrap, "round-trip", count=100)

    assert await _partition_count(bootstrap, "round-trip") == 3
    assert len(received) == 100
    assert sorted(received) == values


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of its own, since this test stops it (the session one serves other tests)."""
    broker = LocalBroker(data_dir=tmp_path / "kafka", port=free_port(), stop_with_parent=True)
    try:
        yield broker
    finally:
        broker.stop()


async def test_start_is_idempotent_and_data_survives_restart(own_broker: LocalBroker) -> None:
    bootstrap = own_broker.bootstrap_servers
    # Called from this thread, not a worker thread: stop_with_parent ties the JVM to it.
    own_broker.start()
    pid = own_broker.read_pid()
    began = time.monotonic()
    own_broker.start()
    assert own_broker.read_pid() == pid
    assert time.monotonic() - began < 2, "a second start() must not launch another broker"

    await ensure_topics(bootstrap, ["survivor"], partitions=3)
    values = [f"kept-{i}".encode() for i in range(10)]
    await _produce(bootstrap, "survivor", values)

    assert own_broker.stop() is True
    assert not own_broker.is_running()
    assert not own_broker.pid_file.exists()
    assert own_broker.stop() is False

    # A new object, as a new CLI call would make: it must find the data and the ports on disk.
    again = LocalBroker(data_dir=own_broker.data_dir, port=own_broker.port, stop_with_parent=True)
    again.start()
    assert again.is_running()
    assert again.read_pid() != pid
    assert again.controller_port == own_broker.controller_port
    assert await _partition_count(bootstrap, "survivor") == 3
    assert sorted(await _consume(bootstrap, "survivor", count=10)) == values


async def test_topics_keep_old_event_time_records(kafka_broker: LocalBroker) -> None:
    """Input records carry event time as their timestamp; history must not be deleted by a
    time-based retention (Kafka judges retention by record timestamps)."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from pipeline.config import TopicSettings

    bootstrap = kafka_broker.bootstrap_servers
    await ensure_topics(
        bootstrap, ["history"], partitions=1, configs=TopicSettings().input_topic_configs()
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, "history")]
        )
        # (name, value, read_only, config source, is_sensitive, ...); source 1 = set on the topic
        entries = {e[0]: (e[1], e[3]) for e in described[0].resources[0][4]}
    finally:
        await admin.close()
    # set on the topic itself, not inherited from this development broker's default
    assert entries["retention.ms"] == ("-1", 1)
