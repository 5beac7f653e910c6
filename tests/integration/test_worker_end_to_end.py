"""The walking skeleton end to end, on a real broker: a seeded simulated stream (with disorder,
late events and invalid records of every kind) goes through the real worker process; every KPI of
every closed window on ``kpi-windows`` and on /metrics must equal the independent reference, and
every bad record must be in the DLQ with the right reason."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.kafka import LocalBroker
from pipeline.simulate import ProducerOptions, SimConfig, generate, produce
from tests import reference as ref
from tests.integration.compare import assert_outputs_match, caught_up, expected_results
from tests.integration.harness import read_topic, running_worker, wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 4


def simulate(hours: int, tickets_per_hour: float, seed: int) -> list[Any]:
    config = SimConfig(
        seed=seed,
        start=datetime(2026, 3, 2, tzinfo=UTC),
        duration=timedelta(hours=hours),
        tickets_per_hour=tickets_per_hour,
        disorder_seconds=240,  # shuffled arrival inside the 10 min allowed lateness
        late_fraction=0.02,
        invalid_fraction=0.02,
    )
    return list(generate(config))


def test_stream_through_real_worker_matches_reference(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    """Thousands of events: every KPI value, the DLQ, the health counters, /metrics."""
    simulated = simulate(hours=14, tickets_per_hour=110, seed=20261121)
    assert len(simulated) > 5000
    run_and_compare(kafka_broker, simulated, "e2e", tmp_path)


def test_hundred_thousand_events_every_window_kpi_and_breakdown(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    """The full catalogue at scale: three days of traffic, over 100,000 events."""
    simulated = simulate(hours=72, tickets_per_hour=330, seed=7)
    assert len(simulated) >= 100_000
    run_and_compare(kafka_broker, simulated, "e2e100k", tmp_path, min_compared=500_000)


def run_and_compare(
    kafka_broker: LocalBroker,
    simulated: list[Any],
    prefix: str,
    tmp_path: Path,
    min_compared: int = 100_000,
) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topics = {"tickets": f"{prefix}-tickets", "surveys": f"{prefix}-surveys"}
    stats = asyncio.run(
        produce(
            simulated,
            ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=PARTITIONS),
        )
    )
    expected_reasons = Counter(r.expect for r in simulated if r.expect is not None)
    assert stats.total == len(simulated)
    assert len(expected_reasons) >= 7, expected_reasons  # late + six kinds of invalid record

    # --- the reference ------------------------------------------------------------------------
    produced = [ref.Produced(r.topic, r.key, r.value, r.expect) for r in simulated]
    expected = expected_results(produced, PARTITIONS)
    per_topic = Counter(r.topic for r in simulated)

    with running_worker(bootstrap, prefix, tmp_path / "worker", PARTITIONS) as worker:
        wait_until(
            lambda: caught_up(worker, per_topic, expected),
            timeout=120 + len(simulated) / 100,
            what="the worker to process every record",
            worker=worker,
        )
        metrics_text = worker.scrape_text()
        samples = worker.scrape()

    # --- health counters ------------------------------------------------------------------------
    for reason, count in expected_reasons.items():
        key = ("kpi_events_rejected_total", (("reason", reason),))
        assert samples.get(key) == count, reason
    rejected = {k[1][0][1] for k in samples if k[0] == "kpi_events_rejected_total"}
    assert rejected == set(expected_reasons), "no other rejections (unknown_ticket, ...)"

    # --- every invalid or late record is in the DLQ with its reason and original bytes ----------
    dlq = read_topic(bootstrap, f"{prefix}-events-dlq")
    got_dlq = Counter((key, value, headers["dlq.reason"].decode()) for key, value, headers in dlq)
    want_dlq = Counter((r.key, r.value, r.expect) for r in simulated if r.expect is not None)
    assert got_dlq == want_dlq

    # --- every closed window on kpi-windows equals the reference, /metrics, the backlog ---------
    compared, n_records = assert_outputs_match(bootstrap, prefix, samples, expected, min_compared)
    print(
        f"\n{len(simulated)} records ({len(expected.events)} counted): compared {compared} KPI "
        f"values in {n_records} window x scope records"
    )

    # --- the exposition passes promtool's lint --------------------------------------------------
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by `make setup`"
    lint = subprocess.run(
        [promtool, "check", "metrics"],
        input=metrics_text.encode(),
        capture_output=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
