"""A consumer that starts a partition beyond where the saved state ends (what Faust's fetcher does
when it runs during a long table recovery) is sought back: the records in between are processed,
and every closed window equals the reference. Offsets that are really not in the log (taken by
transaction markers) are passed, and committed past."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import murmur2
from aiokafka.structs import OffsetAndMetadata

from pipeline.kafka import LocalBroker
from pipeline.kafka.local_broker import ensure_topics
from pipeline.simulate import ProducerOptions, SimRecord, produce
from tests import reference as ref
from tests.integration.compare import (
    WINDOWS,
    Expected,
    assert_windows_match,
    expected_results,
    simulated,
)
from tests.integration.harness import WorkerProcess, running_worker, wait_until

pytestmark = [
    pytest.mark.integration,
]

PARTITIONS = 4
SKIPPED = 60  # records of tickets/1 the consumer is made to start beyond (at most)


def _received(worker: WorkerProcess) -> float:
    s = worker.scrape()
    return sum(
        s.get(("kpi_events_received_total", (("source", src),)), 0.0)
        for src in ("tickets", "surveys")
    )


def _closed_and_delivered(worker: WorkerProcess, last_end: float) -> bool:
    s = worker.scrape()
    closed = {
        w: s.get(("kpi_windows_closed_through_timestamp_seconds", (("window", w),)), 0.0)
        for w in WINDOWS
    }
    delivered = s.get(("kpi_windows_delivered_through_timestamp_seconds", ()))
    return closed["1h"] == last_end and delivered == min(closed.values())


async def _move_commit(
    bootstrap: str, group: str, topic: str, partition: int, by: int | None
) -> int:
    """Move the group's committed offset of one partition ``by`` records ahead, or to the
    partition's end when ``by`` is None (the group has no members now); returns the new
    offset."""
    tp = TopicPartition(topic, partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    consumer.assign([tp])  # manual assignment: commits without joining the group
    try:
        if by is None:
            offset = int((await consumer.end_offsets([tp]))[tp])
        else:
            committed = await consumer.committed(tp)
            assert committed is not None and committed > 0
            offset = committed + by
        await consumer.commit({tp: OffsetAndMetadata(offset, "")})
        return offset
    finally:
        await consumer.stop()


def _wait_for_final_windows(worker: WorkerProcess, expected: Expected) -> None:
    last_end = expected.last_end()
    wait_until(lambda: _closed_and_delivered(worker, last_end), 240, "the final windows", worker)


def _stream(prefix: str, seed: int) -> tuple[list[SimRecord], dict[str, str], Expected]:
    records = simulated(hours=8, tickets_per_hour=120, seed=seed)
    topics = {"tickets": f"{prefix}-tickets", "surveys": f"{prefix}-surveys"}
    expected = expected_results(
        [ref.Produced(r.topic, r.key, r.value, r.expect) for r in records], PARTITIONS
    )
    return records, topics, expected


def _first_half_processed(
    kafka_broker: LocalBroker, tmp_path: Path, prefix: str, seed: int
) -> tuple[dict[str, str], Expected]:
    """A worker processes the first half of a stream and stops; then the second half is
    produced (so records exist past wherever the next worker's consumer starts)."""
    records, topics, expected = _stream(prefix, seed)
    half = len(records) // 2
    bootstrap = kafka_broker.bootstrap_servers
    options = ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=PARTITIONS)
    asyncio.run(produce(records[:half], options))
    with running_worker(bootstrap, prefix, tmp_path / "first", PARTITIONS) as worker:
        wait_until(lambda: _received(worker) >= half, 180, "the first half", worker)
    asyncio.run(produce(records[half:], options))
    return topics, expected


def _second_run(bootstrap: str, prefix: str, tmp_path: Path, expected: Expected) -> str:
    """A second worker runs until the final windows are closed and delivered; its log."""
    with running_worker(
        bootstrap, prefix, tmp_path / "second", PARTITIONS, KPI_LOG_LEVEL="info"
    ) as worker:
        _wait_for_final_windows(worker, expected)
        return worker.log.read_text()


def test_a_consumer_starting_beyond_the_saved_state_is_sought_back(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    prefix = "sequence"
    topics, expected = _first_half_processed(kafka_broker, tmp_path, prefix, seed=23)
    bootstrap = kafka_broker.bootstrap_servers
    group = f"{prefix}-worker"
    ahead = asyncio.run(_move_commit(bootstrap, group, topics["tickets"], 1, SKIPPED))

    log = _second_run(bootstrap, prefix, tmp_path, expected)
    # tickets/1 was sought back to its saved state: seen at its first record delivered (at
    # ``ahead``, or further on where Faust's fetch loop dropped records during a slow start), or,
    # where it dropped them all, by the partition delivering nothing.
    delivered = re.findall(r"tickets/1: offset (\d+) was delivered while processing stopped", log)
    assert (delivered and int(delivered[0]) >= ahead) or re.search(
        r"tickets/1: records from offset \d+ on are unread and none came", log
    ), f"tickets/1 was not sought back (its consumer started at {ahead})"
    assert_windows_match(bootstrap, f"{prefix}-kpi-windows", expected, min_compared=5_000)


TRANSACTION = 150  # records per transaction: each commit adds a marker to every partition touched


async def _produce_in_transactions(
    bootstrap: str, topics: dict[str, str], records: list[SimRecord]
) -> None:
    await ensure_topics(
        bootstrap, list(topics.values()), PARTITIONS, configs={"retention.ms": "-1"}
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id="sequence-tx")
    await producer.start()
    try:
        for start in range(0, len(records), TRANSACTION):
            async with producer.transaction():
                for r in records[start : start + TRANSACTION]:
                    # The partition the simulator (and the reference) would choose.
                    partition = (murmur2(r.key) & 0x7FFFFFFF) % PARTITIONS
                    await producer.send(
                        topics[r.topic],
                        r.value,
                        key=r.key,
                        partition=partition,
                        timestamp_ms=r.ts_ms,
                    )
    finally:
        await producer.stop()


async def _committed_and_ends(
    bootstrap: str, group: str, topics: list[str]
) -> list[tuple[int, int]]:
    tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
        return [((await consumer.committed(tp)) or 0, ends[tp]) for tp in tps]
    finally:
        await consumer.stop()


def test_offsets_taken_by_transaction_markers_are_passed_and_committed_past(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    prefix = "transactions"
    records, topics, expected = _stream(prefix, seed=29)
    bootstrap = kafka_broker.bootstrap_servers
    asyncio.run(_produce_in_transactions(bootstrap, topics, records))

    with running_worker(
        bootstrap, prefix, tmp_path / "w", PARTITIONS, KPI_LOG_LEVEL="info"
    ) as worker:
        _wait_for_final_windows(worker, expected)

        def committed_past_every_marker() -> bool:
            offsets = asyncio.run(
                _committed_and_ends(bootstrap, f"{prefix}-worker", list(topics.values()))
            )
            # The last marker of a partition has no record after it to show it: at most that
            # one offset stays uncommitted.
            return all(committed >= end - 1 for committed, end in offsets)

        wait_until(committed_past_every_marker, 60, "commits past the markers", worker)
        log = worker.log.read_text()
    assert "are not in the log (transaction markers" in log
    assert_windows_match(bootstrap, f"{prefix}-kpi-windows", expected, min_compared=2_000)


def test_a_partition_started_past_its_last_records_is_sought_back_when_nothing_comes(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    # What Faust's fetch loop can do to a quiet partition at start-up: drop its last records
    # (fetched while a table recovery ran), so that the position is past them and no later
    # record shows the hole. The partition would hold window closing back for good.
    prefix = "quiet-tail"
    topics, expected = _first_half_processed(kafka_broker, tmp_path, prefix, seed=31)
    bootstrap = kafka_broker.bootstrap_servers
    end = asyncio.run(_move_commit(bootstrap, f"{prefix}-worker", topics["surveys"], 2, None))

    log = _second_run(bootstrap, prefix, tmp_path, expected)
    assert "surveys/2: records from offset" in log, f"no seek back below offset {end}"
    assert_windows_match(bootstrap, f"{prefix}-kpi-windows", expected, min_compared=5_000)
