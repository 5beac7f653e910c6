"""The engine alone, in-process: seeded simulated records handed to ``Engine.handle_batch`` in
batches, no Kafka, no report. CPU seconds are the steadiest figure on a shared machine.

Cases (``CORE_CASES``):

- ``default``: every KPI, the default windows (1h/5m, 24h/1h) and all five breakdowns;
- ``event-path``: one tumbling 1h window, breakdown ``service`` only (what the event path costs:
  decoding, de-duplication, reorder buffer, lifecycle, panes);
- ``many-scopes``: the default case on a desk of 50 services (about 700 scopes);
- ``window-1h`` and ``window-7d``: one window sliding by 1h, 1h long and 7d long, breakdown
  ``all`` and ``service``: a step must cost the same whatever the window's length, so the two
  closing costs (``closing_cpu_per_step``) should be close.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from bench.streams import sim_config
from pipeline.core.context import CoreContext
from pipeline.core.windows import WindowSpec
from pipeline.engine.frames import frame_record_bytes
from pipeline.engine.gc_policy import tune_collector
from pipeline.engine.outputs import Record
from pipeline.engine.runtime import Engine
from pipeline.kafka.partitioner import partition_for_key
from pipeline.simulate import generate

__all__ = ["CORE_CASES", "CoreResult", "run_core_case"]

PARTITIONS = 8
BATCH = 500
ALL_BREAKDOWNS = ("all", "service", "service_team", "service_channel", "service_priority")
DEFAULT_WINDOWS = (WindowSpec("1h", 3600, 300), WindowSpec("24h", 86400, 3600))
MANY_SERVICES = tuple(f"svc{i:02d}" for i in range(50))


@dataclass(frozen=True)
class CoreCase:
    windows: tuple[WindowSpec, ...]
    breakdowns: tuple[str, ...]
    services: tuple[str, ...] | None = None


CORE_CASES: dict[str, CoreCase] = {
    "default": CoreCase(DEFAULT_WINDOWS, ALL_BREAKDOWNS),
    "event-path": CoreCase((WindowSpec("1h", 3600, 3600),), ("service",)),
    "many-scopes": CoreCase(DEFAULT_WINDOWS, ALL_BREAKDOWNS, MANY_SERVICES),
    "window-1h": CoreCase((WindowSpec("1h", 3600, 3600),), ("all", "service")),
    "window-7d": CoreCase((WindowSpec("7d", 7 * 86400, 3600),), ("all", "service")),
}


@dataclass
class CoreResult:
    case: str
    records: int
    seconds: float
    cpu_seconds: float
    windows: int  # window x scope records serialised
    scopes: int
    steps: int  # window steps closed (all specs)
    closing_cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds

    @property
    def rate_per_cpu(self) -> float:
        return self.records / self.cpu_seconds

    @property
    def closing_cpu_per_step(self) -> float:
        return self.closing_cpu_seconds / max(self.steps, 1)


def records_of(events: int, seed: int, tickets_per_hour: float, case: CoreCase) -> list[Record]:
    config = sim_config(events, seed, tickets_per_hour)
    if case.services:
        config = replace(config, services=case.services)
    offsets: dict[tuple[str, int], int] = {}
    out: list[Record] = []
    for r in generate(config):
        tp = (r.topic, partition_for_key(r.key, PARTITIONS))
        offset = offsets.get(tp, 0)
        offsets[tp] = offset + 1
        out.append((r.topic, tp[1], offset, r.key, r.value))
    return out


def run_core_case(
    name: str, events: int, seed: int = 11, tickets_per_hour: float = 900.0
) -> CoreResult:
    case = CORE_CASES[name]
    records = records_of(events, seed, tickets_per_hour, case)
    ctx = CoreContext(windows=case.windows, breakdowns=case.breakdowns)
    engine = Engine(ctx, topics={"tickets": "tickets", "surveys": "surveys"})
    tps = {(r[0], r[1]) for r in records}
    engine.assign(tps)
    engine.end_offsets = {tp: 0 for tp in tps}  # nothing unread holds closing back
    windows = 0
    tune_collector()  # as the worker and replay processes run the engine
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(0, len(records), BATCH):
        out = engine.handle_batch(records[i : i + BATCH])
        windows += sum(1 for _ in frame_record_bytes(out.windows))
    windows += sum(1 for _ in frame_record_bytes(engine.close_windows()))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    closer = engine.closer
    return CoreResult(
        name,
        len(records),
        seconds,
        cpu,
        windows,
        len(engine.cells.scopes),
        closer.steps,
        closer.step_cpu_seconds,
    )
