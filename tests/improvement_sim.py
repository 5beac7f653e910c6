"""Simulated desks with a known improvement, run through the live worker's engine (no broker),
for the improvement evaluation's statistical checks.

``KPI_TEST_IMPROVEMENT_SEEDS`` sets how many seeds the seeded checks run (default a few; the
rates the docs quote come from 200).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka.partitioner import murmur2

from pipeline.core.context import CoreContext
from pipeline.core.results import WindowResult
from pipeline.core.windows import WindowSpec
from pipeline.engine.frames import WindowFrame, frame_results
from pipeline.engine.runtime import Engine
from pipeline.simulate.model import SimConfig, SimImprovement, generate

__all__ = ["DAY", "SEEDS_ENV", "Desk", "seed_count", "simulate_desk", "simulate_frames"]

DAY = 86400
SEEDS_ENV = "KPI_TEST_IMPROVEMENT_SEEDS"
START = datetime(2026, 1, 5, tzinfo=UTC)
TOPICS = {"tickets": "tickets", "surveys": "surveys"}
FETCH = 2000  # records per partition and fetch
WARM_UP = timedelta(days=7)


def seed_count(default: int) -> int:
    return int(os.environ.get(SEEDS_ENV, default))


@dataclass(frozen=True)
class Desk:
    """What to simulate: one service, ``before_days`` before the change, then the settling
    days, then ``after_days`` (the change is at ``START + before_days``). The desk opens
    ``WARM_UP`` earlier: an empty desk's first days resolve only quick tickets, which would
    flatter the before period."""

    before_days: int = 14
    settling_days: int = 3  # tickets created before the change still resolve after it
    after_days: int = 14
    tickets_per_hour: float = 6.0
    fcr: float = 0.0
    csat: float = 0.0
    reopen: float = 0.0
    resolution_factor: float = 1.0

    @property
    def implemented(self) -> datetime:
        return START + timedelta(days=self.before_days)

    @property
    def days(self) -> int:
        return self.before_days + self.settling_days + self.after_days


def simulate_desk(desk: Desk, seed: int, partitions: int = 2) -> list[WindowResult]:
    """Daily (24h tumbling) windows of the whole run, breakdowns all and service."""
    return list(frame_results(simulate_frames(desk, seed, partitions)))


def simulate_frames(desk: Desk, seed: int, partitions: int = 2) -> list[WindowFrame]:
    """The closed window frames of ``simulate_desk``, in the order they closed."""
    changes = ()
    if desk.fcr or desk.csat or desk.reopen or desk.resolution_factor != 1.0:
        changes = (
            SimImprovement(
                "network",
                desk.implemented,
                fcr=desk.fcr,
                csat=desk.csat,
                reopen=desk.reopen,
                resolution_factor=desk.resolution_factor,
            ),
        )
    config = SimConfig(
        seed=seed,
        start=START - WARM_UP,
        duration=WARM_UP + timedelta(days=desk.days),
        tickets_per_hour=desk.tickets_per_hour,
        services=("network",),
        improvements=changes,
    )
    ctx = CoreContext(windows=(WindowSpec("24h", DAY, DAY),), breakdowns=("all", "service"))
    engine = Engine(ctx, TOPICS)
    inputs: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {
        (topic, p): [] for topic in TOPICS for p in range(partitions)
    }
    for record in generate(config):
        partition = (murmur2(record.key) & 0x7FFFFFFF) % partitions
        inputs[(record.topic, partition)].append((record.key, record.value))
    engine.assign(inputs)
    engine.end_offsets = {tp: len(rs) for tp, rs in inputs.items()}
    frames: list[WindowFrame] = []
    # A consumer fetches a batch from each partition in turn.
    longest = max(len(rs) for rs in inputs.values())
    for first in range(0, longest, FETCH):
        for (topic, p), rs in inputs.items():
            batch = [
                (topic, p, offset, key, value)
                for offset, (key, value) in enumerate(rs[first : first + FETCH], first)
            ]
            if batch:
                frames += engine.handle_batch(batch).windows
    end = int((START + timedelta(days=desk.days)).timestamp())
    for core in engine.cores.values():
        core.max_ts = end + ctx.allowed_lateness
        core.release(engine.closer.frontier)
    frames += engine.close_windows()
    return [f for f in frames if START.timestamp() <= f.start and f.end <= end]
