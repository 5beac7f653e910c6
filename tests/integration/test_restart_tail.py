"""A restarted worker reads only the changelog written since its local copy (the RocksDB store,
the default); with the memory store it reads every record of it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from pipeline.kafka import LocalBroker
from pipeline.simulate import ProducerOptions, SimConfig, generate, produce
from tests.integration.harness import WorkerProcess, running_worker, wait_until

pytestmark = pytest.mark.integration

PREFIX = "tail"
PARTITIONS = 2
TAIL = ("kpi_recovery_changelog_records", ())


def test_a_restart_reads_only_the_changelog_tail(kafka_broker: LocalBroker, tmp_path: Path) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    first = _produce(bootstrap, seed=7, start=start)
    with running_worker(bootstrap, PREFIX, tmp_path / "worker", PARTITIONS) as worker:
        _wait_for(worker, first)
        assert worker.scrape()[TAIL] == 0  # nothing to restore yet
    changelog = _records_in(bootstrap, f"{PREFIX}-worker-kpi-state-changelog")
    # Enough state for the tail below to be a small part of it (about 900 records: keys are
    # written when their events are released, each batch's pending events in one record).
    assert changelog > 500, changelog

    # More input while it is down; the same worker (same data directory) starts again.
    second = _produce(bootstrap, seed=8, start=start + timedelta(hours=3))
    with running_worker(bootstrap, PREFIX, tmp_path / "worker", PARTITIONS) as worker:
        _wait_for(worker, second)
        tail = worker.scrape()[TAIL]
    # The local copy ends where the first worker's last delivered batch did: what is left is
    # a record per partition read again (Faust re-reads the persisted offset), and at most the
    # last batches, if the worker stopped before it had confirmed them.
    assert tail < changelog / 10, (tail, changelog)

    # The same restart on a new machine (no local copy) with the memory store reads it all.
    with running_worker(
        bootstrap, PREFIX, tmp_path / "memory", PARTITIONS, KPI_STORE="memory://"
    ) as worker:
        wait_until(lambda: _sample(worker, "kpi_recoveries_total") >= 1, 180, "recovery", worker)
        whole = worker.scrape()[TAIL]
    assert whole >= _records_in(bootstrap, f"{PREFIX}-worker-kpi-state-changelog"), whole
    print(f"changelog {changelog} records; restart read {tail}, memory store read {whole}")


def _produce(bootstrap: str, seed: int, start: datetime) -> int:
    records = list(generate(SimConfig(seed=seed, start=start, duration=timedelta(hours=3))))
    topics = {"tickets": f"{PREFIX}-tickets", "surveys": f"{PREFIX}-surveys"}
    options = ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=PARTITIONS)
    asyncio.run(produce(records, options))
    return len(records)


def _sample(worker: WorkerProcess, name: str) -> float:
    return float(worker.scrape().get((name, ()), 0.0))


def _wait_for(worker: WorkerProcess, records: int) -> None:
    """Until the worker has read ``records`` records since its start and its state for them
    is delivered (the checkpoint confirms in the background, within a second or two)."""
    received = ("tickets", "surveys")

    def read() -> bool:
        samples = worker.scrape()
        return (
            sum(samples.get(("kpi_events_received_total", (("source", s),)), 0.0) for s in received)
            >= records
        )

    wait_until(read, 300, f"{records} records read", worker)
    wait_until(lambda: _sample(worker, "kpi_recoveries_total") >= 1, 60, "recovery", worker)
    time.sleep(3)


def _records_in(bootstrap: str, topic: str) -> int:
    async def count() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            ends = await consumer.end_offsets(tps)
            firsts = await consumer.beginning_offsets(tps)
            return sum(ends[tp] - firsts[tp] for tp in tps)
        finally:
            await consumer.stop()

    return asyncio.run(count())
