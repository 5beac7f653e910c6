"""End-to-end latency at a steady rate: a record produced -> its window's KPIs on /metrics.

A window can only close once every input partition's watermark has passed its end, so the
latency of the pipeline is measured from the moment the producer has handed over the record
that makes a window closable (every partition has seen an event at or past end + allowed
lateness) to the first scrape of /metrics, issued after that moment, that shows the window.
Event time runs faster than wall time (a busy desk, accelerated), so windows close every
second or two and a one-minute run gives dozens of samples.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.live import check_alive, scrape, topic_env
from bench.streams import LATENESS, PARTITIONS
from pipeline.kafka import ensure_topics
from pipeline.kafka.partitioner import partition_for_key
from pipeline.simulate import ProducerOptions, SimConfig, generate, produce
from pipeline.simulate.model import SimRecord
from tests.integration.harness import running_worker

__all__ = ["run_latency"]

_EVENTS_PER_TICKET = 4.3  # measured on the simulator's default mix
# Event seconds per wall second: a 5-minute pane closes every 1.5 s. Faster event time would
# make the worker close (and /metrics render) windows hundreds of times more often than a real
# desk does, and measure that rather than the path of a record.
_SPEED = 200.0
# Seconds between scrapes: rendering every KPI series costs the worker tens of milliseconds, so
# polling much faster would measure the poller more than the pipeline.
_POLL = 0.25
_LADDER = (2000.0, 1000.0, 500.0, 250.0)  # records/s tried when the requested rate is too much
_WARM_UP = 10.0  # seconds of traffic before samples count


@dataclass
class _Tracker:
    """When each window end became closable, from the records handed to the producer."""

    next_end: float = -math.inf
    ready: dict[float, float] | None = None
    highest: dict[tuple[str, int], float] | None = None

    def __post_init__(self) -> None:
        self.ready, self.highest = {}, {}

    def watch(self, records: list[SimRecord]) -> Iterator[SimRecord]:
        assert self.highest is not None and self.ready is not None
        n_tps = 2 * PARTITIONS
        for r in records:
            yield r  # the producer takes it now
            tp = (r.topic, partition_for_key(r.key, PARTITIONS))
            ts = r.ts_ms / 1000
            if ts > self.highest.get(tp, -math.inf):
                self.highest[tp] = ts
                if len(self.highest) < n_tps:
                    continue
                closable = min(self.highest.values()) - LATENESS
                if self.next_end == -math.inf:
                    self.next_end = math.floor(closable / 300) * 300
                now = time.monotonic()
                while self.next_end + 300 <= closable:
                    self.next_end += 300
                    self.ready[self.next_end] = now


def run_latency(
    bootstrap: str, data_dir: Path, rate: float, seconds: float, seed: int
) -> dict[str, Any]:
    """Latency at ``rate``; when the worker does not keep up, at the highest rate of a
    descending ladder that it does keep up with (and the result says so)."""
    tried: list[dict[str, Any]] = []
    for attempt, r in enumerate([rate, *(x for x in _LADDER if x < rate)]):
        result = _measure(bootstrap, data_dir / f"r{int(r)}", r, seconds, seed + attempt)
        if result["sustained"]:
            if tried:
                result["requested_rate"] = rate
                result["not_sustained"] = [t["rate"] for t in tried]
                result["attempts"] = [_attempt(t) for t in tried]
            return result
        tried.append(result)
    tried[-1]["not_sustained"] = [t["rate"] for t in tried]
    tried[-1]["attempts"] = [_attempt(t) for t in tried[:-1]]
    return tried[-1]


def _attempt(result: dict[str, Any]) -> dict[str, Any]:
    """A rate the worker did not keep up with, and by how much (no samples)."""
    keys = ("rate", "achieved_rate", "worker_rate", "behind_at_end", "n", "p50", "p99")
    return {k: result[k] for k in keys}


def _measure(
    bootstrap: str, data_dir: Path, rate: float, seconds: float, seed: int
) -> dict[str, Any]:
    prefix = f"lat{int(rate)}"
    topics = {"tickets": f"{prefix}-tickets", "surveys": f"{prefix}-surveys"}
    events_per_hour = rate * 3600 / _SPEED
    config = SimConfig(
        seed=seed,
        start=datetime(2026, 2, 2, tzinfo=UTC),
        duration=None,
        n_events=int(rate * seconds),
        tickets_per_hour=events_per_hour / _EVENTS_PER_TICKET,
        disorder_seconds=60,
    )
    records = list(generate(config))
    asyncio.run(ensure_topics(bootstrap, list(topics.values()), PARTITIONS, 1))
    with running_worker(bootstrap, prefix, data_dir, PARTITIONS, **topic_env(topics)) as worker:
        deadline = time.monotonic() + 180
        while True:  # until the worker owns every input partition
            check_alive(worker)
            s = scrape(worker)
            if s is not None and s.assigned >= 2 * PARTITIONS:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("worker did not get its partitions")
            time.sleep(0.5)
        tracker = _Tracker()
        seen: list[tuple[float, float]] = []  # (scrape issued at, newest 1h window end)
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                issued = time.monotonic()
                s = scrape(worker)
                if s is not None and s.window_end_1h is not None:
                    seen.append((issued, s.window_end_1h))
                stop.wait(max(0.0, _POLL - (time.monotonic() - issued)))

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        started = time.monotonic()
        options = ProducerOptions(
            bootstrap_servers=bootstrap,
            topics=topics,
            partitions=PARTITIONS,
            create_topics=False,
            max_rate=rate,
            linger_ms=5,
        )
        stats = asyncio.run(produce(tracker.watch(records), options))
        produced_at = time.monotonic()
        at_end = scrape(worker)
        time.sleep(5.0)  # the last closable windows appear
        stop.set()
        poller.join()
        final = scrape(worker)
    assert tracker.ready is not None
    achieved = stats.total / (produced_at - started)
    latencies = []
    for end, ready in tracker.ready.items():
        if ready - started < _WARM_UP:
            continue
        visible = next((t for t, e in seen if t >= ready and e >= end), None)
        if visible is not None:
            latencies.append(visible - ready)
    latencies.sort()
    received = final.received if final else 0.0
    # Kept up: when the producer stopped, the worker had read all but about a second of it,
    # and everything was read within the 5 s grace after that.
    behind = stats.total - (at_end.received if at_end else 0.0)
    sustained = (
        behind <= rate
        and received >= stats.total
        and len(latencies)
        > 0.9 * len([r for r in tracker.ready.values() if r - started >= _WARM_UP])
    )
    return {
        "rate": rate,
        "achieved_rate": achieved,
        "records": stats.total,
        "n": len(latencies),
        "p50": _quantile(latencies, 0.5),
        "p99": _quantile(latencies, 0.99),
        "max": latencies[-1] if latencies else math.nan,
        "sustained": sustained,
        "behind_at_end": behind,
        # What the worker read while the producer ran: everything but what it was behind by
        # when the producer stopped. (Read over the run and its 5 s grace, a worker that keeps
        # up could never show the rate it was sent.)
        "worker_rate": (stats.total - behind) / (produced_at - started),
        "poll_seconds": _POLL,
        "bound": f"scrape every {_POLL} s; batch wait + window close + render",
    }


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    return values[min(len(values) - 1, math.floor(q * (len(values) - 1) + 0.5))]
