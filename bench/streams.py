"""The benchmark's input: seeded simulated streams, produced once to a real broker and reused by
every measurement of the run."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pipeline.kafka.partitioner import partition_for_key
from pipeline.simulate import ProducerOptions, SimConfig, generate, produce
from pipeline.simulate.model import SimRecord

__all__ = ["LATENESS", "PARTITIONS", "TICK", "Streams", "frontier_of", "produce_streams"]

PARTITIONS = 8
LATENESS = 600.0  # the worker's default allowed lateness
TICK = 300.0  # the default release tick (one pane)


@dataclass
class Streams:
    """What was produced: topic names, record counts and the final watermark it implies."""

    prefix: str
    topics: dict[str, str]
    per_topic: Counter[str]
    expected_rejects: int
    final_frontier: float  # the end of the last window the stream closes
    first_ts: float
    last_ts: float
    produce_seconds: float
    produce_rate: float
    generate_seconds: float
    events_per_ticket_hour: float = 0.0
    # For the peer: records that are JSON at all, and those of the KPI subset (created tickets
    # and CSAT surveys, late ones included: they reach the window stage and are dropped there).
    json_records: int = 0
    subset_records: int = 0
    partitions: int = PARTITIONS
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.per_topic.values())


def sim_config(events: int, seed: int, tickets_per_hour: float) -> SimConfig:
    return SimConfig(
        seed=seed,
        start=datetime(2026, 1, 5, tzinfo=UTC),
        duration=None,
        n_events=events,
        tickets_per_hour=tickets_per_hour,
        # Realistic delivery: bounded disorder inside the lateness, a few late and bad records.
        disorder_seconds=240,
        late_fraction=0.01,
        invalid_fraction=0.01,
    )


def in_subset(v: object) -> bool:
    """The peer's filter (bench/peer_app.py): created tickets and CSAT surveys with a service."""
    if not isinstance(v, dict) or not isinstance(v.get("service"), str):
        return False
    return v.get("type") == "created" or (
        v.get("kind") == "csat" and isinstance(v.get("score"), int)
    )


def frontier_of(highest: dict[tuple[str, int], float], lateness: float, tick: float) -> float:
    """Where window closing ends once every record is read: the minimum over partitions of the
    watermark rounded down to the release tick."""
    if not highest:
        return -math.inf
    return min(math.floor((ts - lateness) / tick) * tick for ts in highest.values())


def produce_streams(
    bootstrap: str, prefix: str, events: int, seed: int, tickets_per_hour: float
) -> Streams:
    started = time.monotonic()
    records: list[SimRecord] = list(generate(sim_config(events, seed, tickets_per_hour)))
    generated = time.monotonic() - started
    highest: dict[tuple[str, int], float] = {}
    per_topic: Counter[str] = Counter()
    rejects = json_ok = subset = 0
    for r in records:
        per_topic[r.topic] += 1
        try:
            value = json.loads(r.value)
        except ValueError:
            value = None
        else:
            json_ok += 1
        if in_subset(value):
            subset += 1
        if r.expect is not None:
            rejects += 1
            continue
        tp = (r.topic, partition_for_key(r.key, PARTITIONS))
        ts = r.ts_ms / 1000
        if ts > highest.get(tp, -math.inf):
            highest[tp] = ts
    topics = {"tickets": f"{prefix}-tickets", "surveys": f"{prefix}-surveys"}
    stats = asyncio.run(
        produce(
            records,
            ProducerOptions(bootstrap_servers=bootstrap, topics=topics, partitions=PARTITIONS),
        )
    )
    if stats.total != len(records):
        raise RuntimeError(f"produced {stats.total} of {len(records)} records")
    valid_ts = [r.ts_ms / 1000 for r in records if r.expect is None]
    first, last = min(valid_ts), max(valid_ts)
    return Streams(
        prefix=prefix,
        topics=topics,
        per_topic=per_topic,
        expected_rejects=rejects,
        final_frontier=frontier_of(highest, LATENESS, TICK),
        first_ts=first,
        last_ts=last,
        produce_seconds=stats.elapsed,
        produce_rate=stats.total / stats.elapsed,
        generate_seconds=generated,
        events_per_ticket_hour=len(records) / max((last - first) / 3600, 1e-9),
        json_records=json_ok,
        subset_records=subset,
    )
