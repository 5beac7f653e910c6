"""Simulated desks whose FCR drifts slowly below its target (or holds steady above it), run
through the live worker's engine and the alert engine (no broker), for the forecast's seeded
checks and the replay report's forecast section.

``KPI_TEST_FORECAST_SEEDS`` sets how many seeds the seeded checks run (default a few; the rates
the docs quote come from more).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka.partitioner import murmur2

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import AlertEvent, Forecast, Objective, ScopeMatch, Target, TargetSet
from pipeline.core.context import CoreContext
from pipeline.core.results import WindowResult
from pipeline.core.windows import WindowSpec
from pipeline.engine.frames import WindowFrame
from pipeline.engine.runtime import Engine
from pipeline.simulate.model import Regression, SimConfig, generate

__all__ = [
    "DESK_TARGETS",
    "SEEDS_ENV",
    "DriftDesk",
    "Run",
    "run_desk",
    "seed_count",
]

HOUR = 3600
DAY = 86400
SEEDS_ENV = "KPI_TEST_FORECAST_SEEDS"
START = datetime(2026, 2, 2, tzinfo=UTC)
TOPICS = {"tickets": "tickets", "surveys": "surveys"}
FETCH = 2000  # records per partition and fetch

FCR_TARGET = Target(
    id="fcr",
    kpi="fcr_rate",
    stat="value",
    window="24h",
    scope=ScopeMatch(),
    objective=Objective(">=", 0.65),
)
DESK_TARGETS = TargetSet(
    "targets/v1",
    targets=(FCR_TARGET,),
    forecasts=(Forecast(id="forecast:fcr", target=FCR_TARGET),),
)


def seed_count(default: int) -> int:
    return int(os.environ.get(SEEDS_ENV, default))


@dataclass(frozen=True)
class DriftDesk:
    """One service at 0.75 FCR; with ``drift``, from ``steady_days`` on its FCR falls linearly
    to ``drift_to`` over ``ramp_days`` (crossing the target's 0.65 a third of the way)."""

    drift: bool = True
    steady_days: int = 3
    ramp_days: int = 4
    drift_to: float = 0.45
    days: int = 9
    tickets_per_hour: float = 12.0

    @property
    def drift_start(self) -> datetime:
        return START + timedelta(days=self.steady_days)


@dataclass
class Run:
    results: list[WindowResult]  # the target's closed windows
    events: list[AlertEvent]
    end: float


def run_desk(desk: DriftDesk, seed: int, targets: TargetSet = DESK_TARGETS) -> Run:
    """24h windows closing hourly, organisation-wide, through ``targets``' alert engine."""
    regressions: tuple[Regression, ...] = ()
    if desk.drift:
        regressions = (
            Regression(
                "network",
                desk.drift_start,
                fcr_rate=desk.drift_to,
                ramp=timedelta(days=desk.ramp_days),
            ),
        )
    config = SimConfig(
        seed=seed,
        start=START,
        duration=timedelta(days=desk.days),
        tickets_per_hour=desk.tickets_per_hour,
        services=("network",),
        regressions=regressions,
        warm_start=timedelta(days=3),
    )
    ctx = CoreContext(windows=(WindowSpec("24h", DAY, HOUR),), breakdowns=("all",))
    end = int((START + timedelta(days=desk.days)).timestamp())
    alerts = AlertEngine(targets)
    run = Run([], [], float(end))
    for frame in _frames(ctx, config, end):
        # The first day's windows reach back before the stream: not a full day of tickets.
        if frame.start < START.timestamp():
            continue
        results = list(frame.results(alerts.watched))
        run.results += results
        run.events += alerts.observe(results)
    return run


def _frames(
    ctx: CoreContext, config: SimConfig, end: int, partitions: int = 2
) -> list[WindowFrame]:
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
    longest = max(len(rs) for rs in inputs.values())
    for first in range(0, longest, FETCH):
        for (topic, p), rs in inputs.items():
            batch = [
                (topic, p, offset, key, value)
                for offset, (key, value) in enumerate(rs[first : first + FETCH], first)
            ]
            if batch:
                frames += engine.handle_batch(batch).windows
    for core in engine.cores.values():
        core.max_ts = end + ctx.allowed_lateness
        core.release(engine.closer.frontier)
    frames += engine.close_windows()
    frames.sort(key=lambda f: f.end)
    return [f for f in frames if f.end <= end]
