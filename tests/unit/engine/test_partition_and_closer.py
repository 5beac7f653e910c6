"""Watermark, lateness, reorder buffer, de-duplication, recovery and closing, by hand."""

from __future__ import annotations

import random

import pytest

from pipeline.core.events import Event
from pipeline.core.results import WindowResult
from pipeline.core.store import DictStore
from pipeline.engine.partition import Accepted, PartitionCore
from tests.unit.core.factories import HOUR, MIN, T0, context, survey, ticket
from tests.unit.engine.cores import StoredCore, close, closer, frontier


def run(events: list[Event], partitions: int = 1) -> tuple[list[WindowResult], list[StoredCore]]:
    """Feed events (partition by hash of key), releasing and closing after each one."""
    ctx = context()
    store = DictStore()
    cores = [StoredCore("tickets", p, ctx, store) for p in range(partitions)]
    windows = closer(ctx)
    results: list[WindowResult] = []
    for ev in events:
        core = cores[sum(map(ord, ev.key)) % partitions]
        assert core.accept(ev, windows.frontier) is Accepted.ACCEPTED
        core.release(windows.frontier)
        results += close(windows, cores, frontier(cores))
    return results, cores


def value(
    results: list[WindowResult],
    kpi: str,
    stat: str = "value",
    window: str = "1h",
    end: float | None = None,
    breakdown: str = "all",
    service: str | None = None,
) -> float | None:
    found = [
        r
        for r in results
        if r.kpi == kpi
        and r.stat == stat
        and r.window == window
        and r.scope.breakdown == breakdown
        and (end is None or r.end == end)
        and r.scope.service == service
    ]
    assert len(found) == 1, found
    return found[0].value


def lifecycle_events() -> list[Event]:
    return [
        ticket("created", "t1", T0 + 1 * MIN),
        ticket("agent_reply", "t1", T0 + 5 * MIN),
        ticket("resolved", "t1", T0 + 20 * MIN),
        ticket("created", "t2", T0 + 2 * MIN, service="network", team="net-l1"),
        ticket("resolved", "t2", T0 + 42 * MIN),
        survey("csat", 5, T0 + 30 * MIN),
        survey("csat", 3, T0 + 31 * MIN),
        # advances the watermark past T0+1h (plus lateness) so the first 1h window closes
        ticket("created", "t9", T0 + 75 * MIN),
    ]


def test_window_values_by_hand() -> None:
    events = sorted(lifecycle_events(), key=lambda e: e.ts)
    results, _ = run(events)
    end = T0 + HOUR
    assert value(results, "tickets_created", end=end) == 2
    assert value(results, "tickets_resolved", end=end) == 2
    assert value(results, "resolution_time", "mean", end=end) == pytest.approx(
        1770.0
    )  # 19m and 40m
    assert value(results, "resolution_time", "p50", end=end) == pytest.approx(1140, rel=0.01)
    assert value(results, "csat", end=end) == 0.5
    assert value(results, "csat_mean", end=end) == 4.0
    assert value(results, "tickets_created", end=end, breakdown="service", service="network") == 1
    assert value(results, "csat", end=end, breakdown="service", service="email") == 0.5
    assert (
        value(results, "resolution_time", "mean", end=end, breakdown="service", service="network")
        == 2400.0
    )


def test_results_do_not_depend_on_arrival_order_within_lateness() -> None:
    events = sorted(lifecycle_events(), key=lambda e: e.ts)
    baseline, _ = run(events)
    # Swap within the lateness: the resolved of t1 arrives before its created.
    shuffled = [events[2], events[0], events[1], *events[3:]]
    rng = random.Random(1)
    head = shuffled[:-1]
    rng.shuffle(head)
    # arrival jitter of at most 500 s: inside the 600 s allowed lateness
    reordered, _ = run([*sorted(head, key=lambda e: e.ts - rng.uniform(0, 500)), events[-1]])
    assert sorted(map(_row, baseline)) == sorted(map(_row, reordered))
    # watermark T0+65m: the sliding 1h windows ending T0+5m .. T0+65m are final
    assert {r.end for r in baseline if r.window == "1h"} == {T0 + k * 5 * MIN for k in range(1, 14)}
    assert {r.end for r in baseline if r.window == "24h"} == {T0 + HOUR}


def _row(r: WindowResult) -> tuple[object, ...]:
    return (r.window, r.end, r.scope.encode(), r.kpi, r.stat, r.value, r.sample_size)


def test_late_event_is_rejected_and_not_counted() -> None:
    ctx = context()
    core = StoredCore("tickets", 0, ctx, DictStore())
    assert core.accept(ticket("created", "a", T0 + HOUR)) is Accepted.ACCEPTED
    # watermark = T0+1h-10m: an event 10m01s older is late, one exactly at it is not
    assert core.accept(ticket("created", "b", T0 + 50 * MIN - 1)) is Accepted.LATE
    assert core.accept(ticket("created", "c", T0 + 50 * MIN)) is Accepted.ACCEPTED
    assert core.pending_count == 2


def test_events_behind_the_closed_frontier_are_late_even_for_a_fresh_partition() -> None:
    core = StoredCore("tickets", 1, context(), DictStore())
    assert core.accept(ticket("created", "a", T0), frontier=T0 + MIN) is Accepted.LATE


def test_duplicate_event_id_is_counted_once() -> None:
    core = StoredCore("tickets", 0, context(), DictStore())
    created = ticket("created", "a", T0, event_id="x1")
    assert core.accept(created) is Accepted.ACCEPTED
    assert core.accept(created) is Accepted.DUPLICATE
    core.accept(ticket("created", "z", T0 + 2 * HOUR))
    core.release()
    # released and remembered with its ticket: still a duplicate, not late
    assert core.accept(created) is Accepted.DUPLICATE


def test_release_waits_for_the_watermark_and_the_tick() -> None:
    core = StoredCore("tickets", 0, context(), DictStore())
    core.accept(ticket("created", "a", T0))
    core.accept(ticket("created", "b", T0 + 10 * MIN + 30))
    core.release()
    # watermark T0+30s rounds down to T0: nothing before T0 yet
    assert core.pending_count == 2 and core.released_through == T0
    core.accept(ticket("created", "c", T0 + 11 * MIN + 1))
    core.release()
    assert core.pending_count == 2 and core.released_through == T0 + MIN
    assert sum(core.backlog_by_scope().values()) == 3  # t "a" open in all, service and service_team


def _tickets_held(core: PartitionCore) -> int:
    return sum(1 for state in core.keys.values() if state.ticket is not None)


def test_state_is_restored_from_the_store() -> None:
    ctx = context()
    store = DictStore()
    core = StoredCore("tickets", 0, ctx, store)
    events = sorted(lifecycle_events(), key=lambda e: e.ts)
    tickets_only = [e for e in events if not e.is_survey]
    for ev in tickets_only[:-1]:
        core.accept(ev)
        core.release()
    restored = StoredCore("tickets", 0, ctx, store)
    restored.restore_from(store)
    assert restored.max_ts == core.max_ts
    assert restored.released_through == core.released_through
    assert restored.pending_count == core.pending_count
    assert restored.backlog_by_scope() == core.backlog_by_scope()
    assert restored.tickets == core.tickets == _tickets_held(core) > 0
    # both continue identically
    last = tickets_only[-1]
    for c in (core, restored):
        c.accept(last)
        c.release()
        assert c.tickets == _tickets_held(c)
    a = close(closer(ctx), [core], frontier([core]))
    b = close(closer(ctx), [restored], frontier([restored]))
    assert a and sorted(map(_row, a)) == sorted(map(_row, b))


def test_frontier_waits_for_every_partition_with_data() -> None:
    ctx = context()
    store = DictStore()
    p0, p1 = StoredCore("tickets", 0, ctx, store), StoredCore("tickets", 1, ctx, store)
    p0.accept(ticket("created", "a", T0 + 3 * HOUR))
    p0.release()
    p1.accept(ticket("created", "b", T0 + HOUR))
    p1.release()
    assert frontier([p0, p1]) == T0 + 50 * MIN
    assert frontier([p0, p1], blocking_empty=1) == float("-inf")
    assert frontier([]) == float("-inf")


def test_closed_window_panes_are_pruned() -> None:
    ctx = context(windows=(context().windows[0],))  # only the 1h window
    core = StoredCore("tickets", 0, ctx, DictStore())
    windows = closer(ctx)
    for i in range(0, 5 * 60, 5):
        core.accept(ticket("created", f"t{i}", T0 + i * MIN), windows.frontier)
        core.release(windows.frontier)
        close(windows, [core], frontier([core]))
    assert min(core.panes) >= windows.frontier - HOUR
    assert len(core.panes) <= 14


def test_status_moves_before_created_within_lateness_give_the_same_clock() -> None:
    def events() -> list[Event]:
        return [
            ticket("created", "s1", T0 + 1 * MIN),
            ticket("status_changed", "s1", T0 + 1 * MIN, status="new", event_id="s1-new"),
            ticket("status_changed", "s1", T0 + 4 * MIN, status="in_progress", event_id="s1-ip"),
            ticket("status_changed", "s1", T0 + 9 * MIN, status="awaiting_customer"),
            ticket("resolved", "s1", T0 + 30 * MIN),
            ticket("created", "t9", T0 + 75 * MIN),
        ]

    in_order = events()
    baseline, _ = run(in_order)
    # The status moves arrive first, the created 8 minutes after them (lateness 10 minutes).
    late_created = [in_order[1], in_order[2], in_order[3], in_order[0], *in_order[4:]]
    reordered, _ = run(late_created)
    assert sorted(map(_row, baseline)) == sorted(map(_row, reordered))
    end = T0 + HOUR
    assert value(baseline, "time_in_status_new", "mean", end=end) == pytest.approx(180.0)
    assert value(baseline, "time_in_status_awaiting_customer", "mean", end=end) == (
        pytest.approx(21 * MIN)
    )
