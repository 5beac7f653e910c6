"""A crash can persist any prefix of the state writes of the record being processed (a SIGKILL
between two changelog records), and loses the outputs not yet acknowledged. Whatever the prefix,
recovery plus redelivery from an earlier offset gives exactly the windows of an uninterrupted run:
nothing lost, nothing counted twice, a window emitted again only with the same values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from pipeline.core.results import WindowResult
from pipeline.core.store import DictStore
from pipeline.simulate import SimConfig, SimRecord, generate
from pipeline.worker.admission import Admission
from pipeline.worker.runtime import PipelineRuntime
from tests.reference import partition_of
from tests.unit.core.factories import context

TOPICS = {"tickets": "t", "surveys": "s"}
PARTITIONS = 2
Windows = dict[tuple[Any, ...], tuple[float | None, int]]


class Crash(BaseException):
    """The process dies (not an error the runtime could catch)."""


class JournalStore(DictStore):
    """Applies writes until ``budget`` runs out, then crashes: the journal is what persisted."""

    def __init__(self, budget: int | None = None) -> None:
        super().__init__()
        self.budget = budget
        self.writes = 0

    def _spend(self) -> None:
        if self.budget is not None and self.writes >= self.budget:
            raise Crash
        self.writes += 1

    def put(self, key: str, value: Any) -> None:
        self._spend()
        # Through JSON, like the table: nothing shared with the runtime's memory.
        super().put(key, orjson.loads(orjson.dumps(value)))

    def delete(self, key: str) -> None:
        self._spend()
        super().delete(key)


def records() -> list[SimRecord]:
    config = SimConfig(
        seed=3,
        start=datetime(2026, 3, 2, tzinfo=UTC),
        duration=timedelta(hours=8),
        tickets_per_hour=40,
        disorder_seconds=240,
    )
    return list(generate(config))


def runtime(store: DictStore) -> PipelineRuntime:
    rt = PipelineRuntime(
        context(), store, TOPICS, stored_items=lambda: list(store.items()), admission=Admission()
    )
    rt.confirms_delivery = True  # as in the worker: panes stay until outputs are acknowledged
    rt.assign([(t, p) for t in TOPICS for p in range(PARTITIONS)])
    rt.end_offsets = {(t, p): 0 for t in TOPICS for p in range(PARTITIONS)}
    return rt


def feed(rt: PipelineRuntime, recs: list[SimRecord], first: int, into: Windows) -> None:
    for offset in range(first, len(recs)):
        r = recs[offset]
        out = rt.handle(r.topic, partition_of(r.key, PARTITIONS), offset, r.key, r.value)
        collect(out.windows, into)
        rt.delivered(rt.closer.frontier)


def collect(windows: list[WindowResult], into: Windows) -> None:
    for w in windows:
        key = (w.window, w.end, w.scope.encode(), w.kpi, w.stat)
        value = (w.value, w.sample_size)
        assert into.setdefault(key, value) == value, ("a window changed", key)


@pytest.mark.parametrize("crash_at", [0.37, 0.71])
def test_recovery_from_any_prefix_of_the_writes_equals_an_uninterrupted_run(
    crash_at: float,
) -> None:
    recs = records()
    uninterrupted: Windows = {}
    feed(runtime(DictStore()), recs, 0, uninterrupted)
    assert len(uninterrupted) > 500

    # Count the writes of the uninterrupted run, then crash at several points in each of a few
    # releases: right after its single record, half way, just before its progress record.
    probe = JournalStore()
    feed(runtime(probe), recs, 0, {})
    total = probe.writes
    base = int(total * crash_at)
    checked = 0
    for budget in range(base, base + 36, 12):
        store = JournalStore(budget)
        windows: Windows = {}
        crashed = None
        rt = runtime(store)
        for offset, r in enumerate(recs):
            try:
                out = rt.handle(r.topic, partition_of(r.key, PARTITIONS), offset, r.key, r.value)
            except Crash:  # the outputs of this record are lost with the process
                crashed = offset
                break
            collect(out.windows, windows)
            rt.delivered(rt.closer.frontier)
        assert crashed is not None
        store.budget = None
        # Redelivered from a little before the crash (the last committed offset).
        feed(runtime(store), recs, max(0, crashed - 25), windows)
        assert windows == uninterrupted, (budget, crashed)
        checked += 1
    assert checked == 3
