"""The SLA clock through the engine: arrival order within the lateness does not change it."""

from __future__ import annotations

import random

import pytest

from pipeline.core.context import CoreContext
from pipeline.core.events import Event
from pipeline.core.kpis import KpiConfig
from pipeline.core.results import WindowResult
from pipeline.core.sla import Calendar, SlaPolicy
from pipeline.core.store import DictStore
from pipeline.engine.partition import Accepted
from tests.unit.core.factories import HOUR, MIN, T0, context, ticket
from tests.unit.engine.cores import StoredCore, close, closer, frontier

# Every day 00:00-01:00 UTC is business time; awaiting_customer pauses.
POLICY = SlaPolicy(
    resolution={"P3": 20 * MIN},
    pausing=frozenset({"awaiting_customer"}),
    calendars=(Calendar("night", "UTC", tuple(((0, 3600),) for _ in range(7))),),
)


def run(events: list[Event], ctx: CoreContext) -> list[WindowResult]:
    store = DictStore()
    core = StoredCore("tickets", 0, ctx, store)
    windows = closer(ctx)
    results: list[WindowResult] = []
    for ev in events:
        assert core.accept(ev, windows.frontier) is Accepted.ACCEPTED
        core.release(windows.frontier)
        results += close(windows, [core], frontier([core]))
    return results


def rows(results: list[WindowResult]) -> list[tuple[object, ...]]:
    return sorted(
        (r.window, r.end, r.scope.encode(), r.kpi, r.stat, r.value, r.sample_size) for r in results
    )


def stream() -> list[Event]:
    def status(name: str, ts: float) -> Event:
        return ticket("status_changed", "t", ts, status=name)

    return [
        ticket("created", "t", T0 + MIN),
        status("in_progress", T0 + 2 * MIN),
        status("awaiting_customer", T0 + 5 * MIN),
        status("in_progress", T0 + 25 * MIN),  # 20 min paused
        ticket("resolved", "t", T0 + 30 * MIN),  # 29 min elapsed, 9 on the clock
        ticket("created", "late-window-closer", T0 + 3 * HOUR),
    ]


def test_reordered_status_moves_give_the_same_clock() -> None:
    ctx = context(kpi_config=KpiConfig(sla_policy=POLICY))
    events = stream()
    baseline = run(events, ctx)
    rng = random.Random(7)
    for _ in range(5):
        head = events[:-1]
        rng.shuffle(head)
        # Arrival jitter below the allowed lateness (600 s): status moves before created too.
        arrival = sorted(head, key=lambda e: e.ts - rng.uniform(0, 590))
        assert rows(run([*arrival, events[-1]], ctx)) == rows(baseline)
    by_kpi = {
        (r.kpi, r.stat): r.value
        for r in baseline
        if r.window == "24h" and r.scope.breakdown == "all"
    }
    assert by_kpi[("sla_compliance", "value")] == 1.0  # 9 min <= 20 min
    assert by_kpi[("sla_paused_share", "value")] == pytest.approx(20 / 29)
    assert by_kpi[("sla_resolution_time", "mean")] == pytest.approx(9 * MIN)
    # Without a policy: nothing paused, the clock is the elapsed time.
    plain = run(stream(), context())
    values = {
        (r.kpi, r.stat): r.value for r in plain if r.window == "24h" and r.scope.breakdown == "all"
    }
    assert values[("sla_paused_share", "value")] == 0.0
    assert values[("sla_resolution_time", "mean")] == pytest.approx(29 * MIN)
