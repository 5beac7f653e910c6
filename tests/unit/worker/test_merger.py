"""Closing windows across workers without Kafka: runtimes that publish their panes, split over
two "workers" that hand partitions over mid-stream, and one merger fed their pane records,
must close exactly the windows that one runtime holding every partition closes, whatever the
interleaving, re-sent or lost pane records, or a restart of the merger."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pipeline.core.results import WindowResult
from pipeline.core.store import DictStore
from pipeline.core.windows import WindowSpec
from pipeline.simulate import SimConfig, SimRecord, generate
from pipeline.worker.merger import PaneMerger
from pipeline.worker.panes import decode_update
from pipeline.worker.runtime import Outputs, PipelineRuntime
from tests.reference import partition_of
from tests.unit.core.factories import context

TOPICS = {"tickets": "t", "surveys": "s"}
PARTITIONS = 2
ALL = [(t, p) for t in TOPICS for p in range(PARTITIONS)]
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


def collect(windows: list[WindowResult], into: Windows) -> None:
    for w in windows:
        key = (w.window, w.end, w.scope.encode(), w.kpi, w.stat)
        value = (w.value, w.sample_size)
        assert into.setdefault(key, value) == value, ("a window changed", key)


def in_one_process() -> Windows:
    rt = PipelineRuntime(context(), DictStore(), TOPICS)
    rt.assign(ALL)
    rt.end_offsets = dict.fromkeys(ALL, 0)
    windows: Windows = {}
    for source, partition, offset, r in records():
        collect(rt.handle(source, partition, offset, r.key, r.value).windows, windows)
    return windows


def publishing(store: DictStore, owned: list[tuple[str, int]]) -> PipelineRuntime:
    """A worker's runtime: owned partitions restored from the shared table (the changelog)."""
    rt = PipelineRuntime(
        context(), store, TOPICS, stored_items=lambda: list(store.items()), publishes_panes=True
    )
    rt.assign(owned)
    rt.end_offsets = dict.fromkeys(owned, 0)
    rt.recover()
    return rt


def test_two_workers_handing_partitions_over_close_the_windows_of_one_process() -> None:
    want = in_one_process()
    assert len(want) > 500
    recs = records()
    table = DictStore()  # the input partitions' table, shared as the changelog would be
    merge_table = DictStore()
    merger = PaneMerger(context(), merge_table, stored_items=lambda: list(merge_table.items()))
    merger.activate(ALL)
    merger.recover()
    got: Windows = {}
    pane_log: list[bytes] = []

    def deliver(values: list[bytes]) -> None:
        for value in values:
            out = merger.apply(decode_update(value))
            collect(out.windows, got)
            merger.delivered(out.closed_through)

    def acknowledged(rt: PipelineRuntime, *outs: Outputs) -> None:
        # The broker took these pane records: the runtime may prune panes behind them.
        for out in outs:
            rt.panes_delivered(out.published)

    a = publishing(table, ALL)
    b: PipelineRuntime | None = None
    rng = random.Random(5)
    cut, restart = len(recs) // 3, 2 * len(recs) // 3
    lost = 0
    for i, (source, partition, offset, r) in enumerate(recs):
        if i == cut:
            # B joins: it takes the partitions 1; both publish what they own from now on.
            a.revoke([tp for tp in ALL if tp[1] == 1])
            b = publishing(table, [tp for tp in ALL if tp[1] == 1])
            deliver([v for rt in (a, b) for _, v in rt.close().panes])
        if i == restart:
            # The merger restarts from its table, and earlier pane records come again
            # (redelivered after the restart): nothing is counted twice.
            merger = PaneMerger(
                context(), merge_table, stored_items=lambda: list(merge_table.items())
            )
            merger.activate(ALL)
            merger.recover()
            deliver(pane_log[-rng.randint(5, 50) :])
        rt = b if b is not None and partition == 1 else a
        out = rt.handle(source, partition, offset, r.key, r.value)
        # ... and what the end-offsets timer publishes (progress of idle partitions).
        timer = rt.close()
        values = [v for _, v in out.panes] + [v for _, v in timer.panes]
        if cut - 200 <= i < cut and partition == 1:
            # A's last pane records of the partitions B takes died with A (its table writes
            # persisted): never delivered nor acknowledged. B publishes every pane again.
            lost += len(values)
            continue
        pane_log += values
        deliver(values)
        acknowledged(rt, out, timer)
    assert b is not None and lost
    assert got == want


def test_batches_publish_each_changed_pane_once_and_close_the_same_windows() -> None:
    want = in_one_process()
    merge_table = DictStore()
    merger = PaneMerger(context(), merge_table)
    merger.activate(ALL)
    rt = publishing(DictStore(), ALL)
    recs = [
        (source, partition, offset, r.key, r.value) for source, partition, offset, r in records()
    ]
    got: Windows = {}
    for first in range(0, len(recs), 97):
        out = rt.handle_batch(recs[first : first + 97])
        named = [
            (u.tp, start)
            for u in map(decode_update, (v for _, v in out.panes))
            for start in u.panes
        ]
        assert len(named) == len(set(named)), "a pane published twice in one batch"
        # ... and what the end-offsets timer publishes (progress of idle partitions).
        values = [v for _, v in out.panes + rt.close().panes]
        closed = merger.apply_batch((n, decode_update(v)) for n, v in enumerate(values))
        collect(closed.windows, got)
    assert got == want


def test_panes_are_pruned_only_behind_acknowledged_pane_records() -> None:
    ctx = context(windows=(WindowSpec("1h", 3600, 300),))

    def most_panes(acknowledge: bool) -> int:
        rt = PipelineRuntime(ctx, DictStore(), TOPICS, publishes_panes=True)
        rt.assign(ALL)
        rt.end_offsets = dict.fromkeys(ALL, 0)
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
    ctx = context()
    merge_table = DictStore()
    merger = PaneMerger(ctx, merge_table)
    merger.activate(ALL)
    rt = publishing(DictStore(), [("tickets", 0)])
    closed = []
    for source, partition, offset, r in records():
        if (source, partition) == ("tickets", 0):
            for _, value in rt.handle(source, partition, offset, r.key, r.value).panes:
                closed += merger.apply(decode_update(value)).windows
    assert merger.progress and not closed  # three partitions never heard of


def test_pane_records_stay_small_and_carry_progress_last() -> None:
    rt = publishing(DictStore(), ALL)
    sizes, last_has_progress = [], []
    for source, partition, offset, r in records():
        panes = rt.handle(source, partition, offset, r.key, r.value).panes
        if panes:
            sizes += [len(v) for _, v in panes]
            last_has_progress.append("progress" in orjson.loads(panes[-1][1]))
            assert all("progress" not in orjson.loads(v) for _, v in panes[:-1])
    assert all(last_has_progress) and max(sizes) < 500_000
