"""The log probe reports the first record a partition's log holds from an offset on, as the
worker's consumer reads it: transaction markers are passed, the records of an aborted
transaction are there (at-least-once processing reads uncommitted records), and records deleted
by retention read from the log's start."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from pipeline.kafka import LocalBroker
from pipeline.kafka.local_broker import ensure_topics
from pipeline.worker.log_probe import LogProbe

pytestmark = [pytest.mark.integration]

TOPIC = "probe-input"


async def _produce(bootstrap: str) -> None:
    """Offsets 0-1 and 3-4 committed in two transactions (markers at 2 and 5), then 6-7 in an
    aborted one (marker at 8), then 9 outside any transaction."""
    await ensure_topics(bootstrap, [TOPIC], 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id="probe-tx")
    await producer.start()
    try:
        for _ in range(2):
            async with producer.transaction():
                for i in range(2):
                    await producer.send(TOPIC, b"v", key=str(i).encode(), partition=0)
        await producer.begin_transaction()
        for i in range(2):
            await producer.send(TOPIC, b"aborted", key=str(i).encode(), partition=0)
        await producer.abort_transaction()
    finally:
        await producer.stop()
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await plain.start()
    try:
        await plain.send_and_wait(TOPIC, b"v", key=b"k", partition=0)
    finally:
        await plain.stop()


async def _delete_before(bootstrap: str, offset: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(TOPIC, 0): RecordsToDelete(offset)})
    finally:
        await admin.close()


async def _probe(bootstrap: str, offsets: range) -> list[int | None]:
    probe = LogProbe(bootstrap, {})
    try:
        return [await probe.first_offset(TOPIC, 0, offset) for offset in offsets]
    finally:
        await probe.close()


def test_the_probe_passes_markers_and_finds_every_record(kafka_broker: LocalBroker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    asyncio.run(_produce(bootstrap))
    assert asyncio.run(_probe(bootstrap, range(10))) == [0, 1, 3, 3, 4, 6, 6, 7, 9, 9]
    asyncio.run(_delete_before(bootstrap, 4))
    assert asyncio.run(_probe(bootstrap, range(6))) == [4, 4, 4, 4, 4, 6]
