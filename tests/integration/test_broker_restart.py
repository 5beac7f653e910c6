"""A broker that goes away mid-stream and comes back (same port, same data) needs no worker
restart: the worker left running picks up where it was, and every closed window equals the
reference."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from pipeline.simulate import ProducerOptions, produce
from tests import reference as ref
from tests.integration.compare import assert_outputs_match, caught_up, expected_results, simulated
from tests.integration.harness import local_broker, running_worker, wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4
OUTAGE_SECONDS = 10


def received(worker: object, source: str) -> float:
    samples = worker.scrape()  # type: ignore[attr-defined]
    return float(samples.get(("kpi_events_received_total", (("source", source),)), 0))


def test_worker_rides_out_a_broker_restart(tmp_path: Path) -> None:
    records = simulated(hours=9, tickets_per_hour=80, seed=314)
    half = len(records) // 2
    first, second = records[:half], records[half:]
    prefix = "restart"
    topics = {"tickets": f"{prefix}-tickets", "surveys": f"{prefix}-surveys"}
    expected = expected_results(
        [ref.Produced(r.topic, r.key, r.value, r.expect) for r in records], PARTITIONS
    )
    per_topic = Counter(r.topic for r in records)

    with local_broker(tmp_path / "kafka") as broker:
        bootstrap = broker.bootstrap_servers
        options = ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=PARTITIONS)
        asyncio.run(produce(first, options))
        with running_worker(bootstrap, prefix, tmp_path / "worker", PARTITIONS) as worker:
            wait_until(
                lambda: received(worker, "tickets") + received(worker, "surveys") == len(first),
                timeout=180,
                what="the first half",
                worker=worker,
            )
            pid = worker.process.pid
            broker.stop()
            outage_started = time.monotonic()
            time.sleep(OUTAGE_SECONDS)
            assert worker.process.poll() is None, worker.log_tail()
            broker.start(timeout=90)
            outage = time.monotonic() - outage_started
            asyncio.run(produce(second, options))
            wait_until(
                lambda: caught_up(worker, per_topic, expected),
                timeout=240,
                what="the worker to process the second half after the restart",
                worker=worker,
            )
            assert worker.process.pid == pid and worker.process.poll() is None
            samples = worker.scrape()
        compared, n_records = assert_outputs_match(
            bootstrap, prefix, samples, expected, min_compared=10_000
        )
    print(
        f"\n{len(records)} records, broker down {outage:.0f}s mid-stream; compared {compared} "
        f"KPI values in {n_records} window x scope records"
    )
