"""The replay core without Kafka: fed the offsets a range covers, then finished, it gives the
windows inside the range exactly as a live runtime fed the whole stream closed them, and it
closes every window up to the end of the range by itself."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from aiokafka.partitioner import murmur2

from pipeline.core.context import CoreContext
from pipeline.core.results import WindowResult
from pipeline.core.windows import WindowSpec
from pipeline.engine.frames import frame_results
from pipeline.engine.runtime import Engine
from pipeline.replay.drive import ReplayCore
from pipeline.replay.reader import PartitionRange, RangeRecord
from pipeline.simulate import SimConfig, generate

PARTITIONS = 2
TOPICS = {"tickets": "tickets", "surveys": "surveys"}
START = datetime(2026, 3, 2, 8, tzinfo=UTC)
CTX = CoreContext(
    windows=(WindowSpec("1h", 3600, 900), WindowSpec("2h", 7200, 3600)),
    breakdowns=("all", "service"),
)


def stream() -> tuple[list[RangeRecord], dict[RangeRecord, int]]:
    """Records with their partition and offset as a producer would place them; and each
    record's timestamp."""
    config = SimConfig(
        seed=3,
        start=START,
        duration=timedelta(hours=5),
        tickets_per_hour=30,
        disorder_seconds=240,
        late_fraction=0.02,
        invalid_fraction=0.02,
    )
    offsets: Counter[tuple[str, int]] = Counter()
    records, ts = [], {}
    for r in generate(config):
        p = (murmur2(r.key) & 0x7FFFFFFF) % PARTITIONS
        rec = RangeRecord(r.topic, p, offsets[(r.topic, p)], r.key, r.value)
        offsets[(r.topic, p)] += 1
        records.append(rec)
        ts[rec] = r.ts_ms
    return records, ts


def live(records: list[RangeRecord]) -> list[WindowResult]:
    rt = Engine(CTX, TOPICS)
    ends = Counter((r.source, r.partition) for r in records)
    rt.end_offsets = dict(ends)
    closed: list[WindowResult] = []
    for r in records:
        closed += frame_results(rt.handle(r.source, r.partition, r.offset, r.key, r.value).windows)
    return closed


def ranges_of(
    records: list[RangeRecord], ts: dict[RangeRecord, int], first_ms: int, stop_ms: int
) -> list[PartitionRange]:
    """What plan_ranges asks the broker: the first offset at or after each time."""
    ranges = []
    for tp in sorted({(r.source, r.partition) for r in records}):
        mine = [r for r in records if (r.source, r.partition) == tp]
        start = next((r.offset for r in mine if ts[r] >= first_ms), len(mine))
        stop = next((r.offset for r in mine if ts[r] >= stop_ms), len(mine))
        ranges.append(PartitionRange(tp[0], tp[0], tp[1], start, stop))
    return ranges


def replay(
    records: list[RangeRecord], ts: dict[RangeRecord, int], lo: float, hi: float
) -> list[WindowResult]:
    core = ReplayCore(CTX, TOPICS, lo, hi)
    ranges = ranges_of(records, ts, int(lo * 1000), int((hi + CTX.allowed_lateness) * 1000))
    core.begin(ranges)
    wanted = {(r.source, r.partition): range(r.start, r.stop) for r in ranges}
    closed = core.feed([r for r in records if r.offset in wanted[(r.source, r.partition)]])
    return list(frame_results(closed + core.finish()))


def by_key(
    results: list[WindowResult],
) -> dict[tuple[str, int, str, str, str], tuple[float | None, int]]:
    return {
        (r.window, r.end, r.scope.encode(), r.kpi, r.stat): (r.value, r.sample_size)
        for r in results
    }


def test_windows_inside_the_range_equal_the_live_ones() -> None:
    records, ts = stream()
    lo = START.timestamp()
    hi = lo + 2 * 3600  # the stream goes on for three more hours: reading must stop on time
    closed_live = live(records)
    assert max(r.end for r in closed_live) >= hi  # the live runtime closed the whole range
    got = by_key(replay(records, ts, lo, hi))
    want = by_key([r for r in closed_live if r.start >= lo and r.end <= hi])
    assert got == want
    ends = {(w, e) for w, e, *_ in got}
    assert ends == {("1h", int(lo) + k * 900) for k in range(4, 9)} | {("2h", int(hi))}


def test_finish_closes_every_window_up_to_the_end_of_the_stream() -> None:
    """The live runtime waits for newer events; the replay closes through the end by itself."""
    records, ts = stream()
    lo = START.timestamp()
    hi = lo + 5 * 3600
    got = replay(records, ts, lo, hi)
    live_last = max(r.end for r in live(records) if r.window == "1h")
    assert live_last < hi  # the live runtime is still waiting for the last windows
    assert max(r.end for r in got if r.window == "1h") == hi
    assert max(r.end for r in got if r.window == "2h") == hi
    assert all(r.start >= lo for r in got)
