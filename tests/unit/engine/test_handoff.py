"""Closing windows across workers without Kafka: engines that hand their panes over, split over
two "workers" that hand partitions over mid-stream, and one closer fed their pane records, must
close exactly the windows that one engine holding every partition closes, whatever the
interleaving, re-sent or lost pane records, or a restart of the closer."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pipeline.core.results import WindowResult
from pipeline.core.store import DictStore
from pipeline.core.windows import WindowSpec
from pipeline.engine.frames import WindowFrame, frame_results
from pipeline.engine.handoff import decode_update
from pipeline.engine.outputs import TP, Outputs
from pipeline.engine.runtime import Engine
from pipeline.simulate import SimConfig, SimRecord, generate
from tests.reference import partition_of
from tests.unit.core.factories import context

TOPICS = {"tickets": "t", "surveys": "s"}
PARTITIONS = 2
Windows = dict[tuple[Any, ...], tuple[float | None, int]]


def records() -> list[tuple[str, int, int, SimRecord]]:
    config = SimConfig(
        seed=11,
        start=datetime(2026, 3, 2, tzinfo=UTC),
        duration=timedelta(hours=8),
        tickets_per_hour=40,
        disorder_seconds=240,
    )
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for r in generate(config):
        tp = (r.topic, partition_of(r.key, PARTITIONS))
        offsets[tp] = offsets.get(tp, -1) + 1
        out.append((tp[0], tp[1], offsets[tp], r))
    return out


# The partitions with records (surveys/0 has none in this stream: an empty partition of another
# worker holds closing back until it is idle, see the last test).
ALL = sorted({(source, partition) for source, partition, _, _ in records()})


def collect(frames: list[WindowFrame], into: Windows) -> None:
    results: list[WindowResult] = list(frame_results(frames))
    for w in results:
        key = (w.window, w.end, w.scope.encode(), w.kpi, w.stat)
        value = (w.value, w.sample_size)
        assert into.setdefault(key, value) == value, ("a window changed", key)


def in_one_process() -> Windows:
    rt = Engine(context(), TOPICS)
    rt.assign(ALL)
    rt.end_offsets = dict.fromkeys(ALL, 0)
    windows: Windows = {}
    for source, partition, offset, r in records():
        collect(rt.handle(source, partition, offset, r.key, r.value).windows, windows)
    return windows


def publishing(table: DictStore, owned: list[TP], ctx: Any = None) -> Engine:
    """A worker that does not close windows: owned partitions restored from the shared table
    (the changelog)."""
    rt = Engine(ctx or context(), TOPICS, store=table)
    rt.closes_windows = False
    rt.assign(owned)
    rt.end_offsets = dict.fromkeys(owned, 0)
    rt.recover()
    return rt


def closing(merge_table: DictStore) -> Engine:
    """The worker that owns the pane topic (and no input partition here)."""
    rt = Engine(context(), TOPICS, store=DictStore(), closing_store=merge_table)
    rt.confirms_delivery = True
    rt.inputs = set(ALL)
    rt.recover()
    return rt


def republished(rt: Engine) -> list[bytes]:
    out = Outputs()
    rt.publish(out)
    rt.write_state()
    return [v for _, v in out.panes]


def test_two_workers_handing_partitions_over_close_the_windows_of_one_process() -> None:
    want = in_one_process()
    assert len(want) > 500
    recs = records()
    table = DictStore()  # the input partitions' table, shared as the changelog would be
    merge_table = DictStore()
    closer = closing(merge_table)
    got: Windows = {}
    pane_log: list[bytes] = []

    def deliver(values: list[bytes]) -> None:
        layout, cells = closer.ctx.layout, closer.cells
        out = closer.receive([decode_update(v, layout, cells) for v in values])
        collect(out.windows, got)
        closer.delivered(out.closed_through)
        closer.write_state()

    a = publishing(table, ALL)
    b: Engine | None = None
    rng = random.Random(5)
    cut, restart = len(recs) // 3, 2 * len(recs) // 3
    lost = 0
    for i, (source, partition, offset, r) in enumerate(recs):
        if i == cut:
            # B joins: it takes the partitions 1; both publish what they own from now on.
            a.revoke([tp for tp in ALL if tp[1] == 1])
            a.recover()
            b = publishing(table, [tp for tp in ALL if tp[1] == 1])
            deliver([v for rt in (a, b) for v in republished(rt)])
        if i == restart:
            # The closer restarts from its table (a rebalance: every worker is assigned its
            # partitions again and publishes all their panes), and earlier pane records come
            # again (redelivered after the restart): nothing is counted twice.
            closer = closing(merge_table)
            deliver(pane_log[-rng.randint(5, 50) :])
            for rt in (a, b):
                assert rt is not None
                rt.assign(rt.assigned)
                rt.recover()
            deliver([v for rt in (a, b) if rt is not None for v in republished(rt)])
        rt = b if b is not None and partition == 1 else a
        out = rt.handle(source, partition, offset, r.key, r.value)
        # ... and what the end-offsets timer publishes (progress of idle partitions).
        timer = Outputs()
        rt.publish(timer)
        rt.write_state()
        values = [v for _, v in out.panes] + [v for _, v in timer.panes]
        if cut - 200 <= i < cut and partition == 1:
            # A's last pane records of the partitions B takes died with A (its table writes
            # persisted): never delivered nor acknowledged. B publishes every pane again.
            lost += len(values)
            continue
        pane_log += values
        deliver(values)
        rt.panes_delivered(out.published)
        rt.panes_delivered(timer.published)
    assert b is not None and lost
    assert got == want


def test_batches_publish_each_changed_pane_once_and_close_the_same_windows() -> None:
    want = in_one_process()
    closer = closing(DictStore())
    rt = publishing(DictStore(), ALL)
    recs = [
        (source, partition, offset, r.key, r.value) for source, partition, offset, r in records()
    ]
    got: Windows = {}
    layout, cells = closer.ctx.layout, closer.cells
    for first in range(0, len(recs), 97):
        out = rt.handle_batch(recs[first : first + 97])
        updates = [decode_update(v, layout, cells) for _, v in out.panes]
        named = [(u.tp, pane.start) for u in updates for pane in u.panes]
        assert len(named) == len(set(named)), "a pane published twice in one batch"
        timer = Outputs()
        rt.publish(timer)
        updates += [decode_update(v, layout, cells) for _, v in timer.panes]
        collect(closer.receive(updates).windows, got)
    assert got == want


def test_panes_are_pruned_only_behind_acknowledged_pane_records() -> None:
    ctx = context(windows=(WindowSpec("1h", 3600, 300),))

    def most_panes(acknowledge: bool) -> int:
        rt = publishing(DictStore(), ALL, ctx)
        most = 0
        for source, partition, offset, r in records():
            out = rt.handle(source, partition, offset, r.key, r.value)
            if acknowledge:
                rt.panes_delivered(out.published)
            most = max(most, *(len(core.panes) for core in rt.cores.values()))
        return most

    # Without acknowledgements every pane the 8 hours filled stays (the closing worker may
    # still need them); with them, about the longest window's panes.
    kept, pruned = most_panes(False), most_panes(True)
    assert kept > 50 and pruned <= 3600 // 300 + 3, (kept, pruned)


def test_a_partition_that_never_reported_holds_closing_back() -> None:
    closer = closing(DictStore())
    rt = publishing(DictStore(), [("tickets", 0)])
    closed = []
    layout, cells = closer.ctx.layout, closer.cells
    for source, partition, offset, r in records():
        if (source, partition) == ("tickets", 0):
            panes = rt.handle(source, partition, offset, r.key, r.value).panes
            closed += closer.receive([decode_update(v, layout, cells) for _, v in panes]).windows
    assert closer.remote and not closed  # three partitions never heard of


def test_pane_records_stay_small_and_carry_progress_last() -> None:
    rt = publishing(DictStore(), ALL)
    sizes, last_has_progress = [], []
    for source, partition, offset, r in records():
        panes = rt.handle(source, partition, offset, r.key, r.value).panes
        sizes += [len(v) for _, v in panes]
        for key in {k for k, _ in panes}:  # per partition: its progress comes last
            mine = [orjson.loads(v) for k, v in panes if k == key]
            last_has_progress.append(mine[-1]["progress"] is not None)
            assert all(m["progress"] is None for m in mine[:-1])
    assert all(last_has_progress) and max(sizes) < 500_000


def test_an_empty_partition_of_another_worker_holds_closing_back_until_it_is_idle() -> None:
    """Its first events could be older than what the closer has closed, and only its own
    worker can tell them late: so it holds closing back, until it is idle (read to its end,
    nothing for the idle timeout), when its watermark follows the clock and anything older
    that comes later is late there."""
    ctx = context()
    clock = [0.0]
    empty = publishing(DictStore(), [("surveys", 0)])
    empty.idle_timeout, empty.clock = 60.0, lambda: clock[0]
    busy = publishing(DictStore(), [("tickets", 0)])
    closer = closing(DictStore())
    closer.inputs = {("surveys", 0), ("tickets", 0)}
    layout, cells = closer.ctx.layout, closer.cells
    closed: list[WindowFrame] = []

    def deliver(out: Outputs) -> None:
        closed.extend(
            closer.receive([decode_update(v, layout, cells) for _, v in out.panes]).windows
        )

    newest = 0.0
    for source, partition, offset, r in records():
        if (source, partition) == ("tickets", 0):
            deliver(busy.handle(source, partition, offset, r.key, r.value))
            newest = max(newest, r.ts_ms / 1000)
    timer = Outputs()
    empty.publish(timer)
    deliver(timer)
    assert not closed  # surveys/0 never reported data
    clock[0] = newest + 2 * ctx.allowed_lateness  # the wall clock, just after the stream
    idle = empty.idle()
    assert not idle.panes  # not idle yet: it was last heard of at clock 0 ... or never
    clock[0] += 61
    idle = empty.idle()
    empty.publish(idle)
    deliver(idle)
    assert closed  # idle: it holds closing back no more
    # A first event behind its wall-clock watermark is late on its own worker.
    late = orjson.dumps({
        "schema_version": 1, "event_id": "s-late", "ts": "2026-03-02T01:00:00Z",
        "kind": "csat", "score": 5, "service": "email", "survey_id": "late",
    })  # fmt: skip
    assert [d.reason for d in empty.handle("surveys", 0, 0, b"late", late).dlq] == ["late"]
