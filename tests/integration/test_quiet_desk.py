"""A desk that goes quiet still sees its windows close: a live stream (event times up to now)
stops, and once its inputs are idle the watermark follows the wall clock, so the window holding
the last event is closed on /metrics and kpi-windows within idle timeout + producer delay +
lateness + one pane; an event that then arrives behind that watermark is late in the DLQ."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.kafka import LocalBroker
from pipeline.simulate import ProducerOptions, SimConfig, generate, produce
from tests.integration.harness import read_topic, running_worker, wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 2
IDLE_TIMEOUT = 5.0
PRODUCER_DELAY = 5.0
LATENESS = 30.0
PANE = 60.0
WINDOW = "5m"
SETTINGS = {
    "KPI_TIME__IDLE_TIMEOUT": f"{IDLE_TIMEOUT:.0f}s",
    "KPI_TIME__MAX_PRODUCER_DELAY": f"{PRODUCER_DELAY:.0f}s",
    "KPI_TIME__ALLOWED_LATENESS": f"{LATENESS:.0f}s",
    "KPI_TIME__WINDOWS": json.dumps([{"name": WINDOW, "size": "5m", "step": "1m"}]),
}


def closed_through(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    key = ("kpi_windows_closed_through_timestamp_seconds", (("window", WINDOW),))
    return samples.get(key, -math.inf)


def test_windows_close_when_the_desk_goes_quiet(kafka_broker: LocalBroker, tmp_path: Path) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    prefix = "quiet"
    topics = {"tickets": f"{prefix}-tickets", "surveys": f"{prefix}-surveys"}
    now = datetime.now(UTC).replace(microsecond=0)
    config = SimConfig(
        seed=41,
        start=now - timedelta(minutes=12),
        duration=timedelta(minutes=12),
        tickets_per_hour=600,
    )
    records = [r for r in generate(config) if r.ts_ms <= time.time() * 1000]
    last_ts = max(r.ts_ms for r in records) / 1000
    # The window holding the last event ends at the pane boundary after it.
    last_end = (math.floor(last_ts / PANE) + 1) * PANE
    options = ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=PARTITIONS)
    asyncio.run(produce(records, options))
    produced_at = time.time()

    with running_worker(bootstrap, prefix, tmp_path / "worker", PARTITIONS, **SETTINGS) as worker:
        # The promise: closed by last end + lateness + producer delay + idle timeout (the
        # watermark then stands past it), plus the worker's start and its 1 s timer.
        bound = max(last_end + LATENESS + PRODUCER_DELAY, produced_at) + IDLE_TIMEOUT
        wait_until(
            lambda: closed_through(worker.scrape()) >= last_end,
            timeout=max(bound - time.time(), 0) + 60,
            what=f"the window ending {last_end:.0f} to close",
            worker=worker,
        )
        closed_at = time.time()
        assert closed_at <= bound + 60, (closed_at, bound)
        samples = worker.scrape()
        assert samples[("kpi_events_received_total", (("source", "tickets"),))] > 20

        # The closed windows are on kpi-windows, the last one among them.
        def last_window_delivered() -> bool:
            ends = {
                datetime.fromisoformat(json.loads(value)["window_end"]).timestamp()
                for _, value, _ in read_topic(bootstrap, f"{prefix}-kpi-windows")
            }
            return last_end in ends

        wait_until(last_window_delivered, timeout=30, what="the last window on kpi-windows")

        # An event behind the wall-clock watermark that arrives now is late, not dropped.
        model = next(r for r in records if b'"type":"created"' in r.value)
        event = {**json.loads(model.value), "type": "agent_reply", "event_id": "late-reply-1"}
        late = model._replace(value=json.dumps(event).encode(), ts_ms=model.ts_ms + 1000)
        asyncio.run(produce([late], options))

        def late_in_dlq() -> bool:
            dlq = read_topic(bootstrap, f"{prefix}-events-dlq")
            return any(headers.get("dlq.reason") == b"late" for _, _, headers in dlq)

        wait_until(late_in_dlq, timeout=30, what="the late reply in the DLQ", worker=worker)
        rejected = worker.scrape()[("kpi_events_rejected_total", (("reason", "late"),))]
        assert rejected >= 1
