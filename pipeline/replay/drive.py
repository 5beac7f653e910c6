"""Driving the engine over a bounded range, and finishing it.

Replay uses the same ``Engine`` as the live worker (one call per batch of records), without a
state store: same decoding, same lateness and reorder rules, same panes, same closing, same KPI
definitions. Only the end differs. A live worker waits for newer events to move its watermarks;
a replay has none coming, so once every partition is read to its stop offset, ``finish`` moves
each partition's watermark to the end of the range and closes every window that ends at or
before it.

Panes are pruned as windows close, so memory stays bounded by the longest window and the open
tickets, not by the length of the history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from pipeline.core.context import CoreContext
from pipeline.engine.frames import WindowFrame
from pipeline.engine.runtime import Engine
from pipeline.replay.reader import PartitionRange, RangeRecord

__all__ = ["ReplayCore"]


class ReplayCore:
    """The engine over one range. ``report_from``/``report_to`` bound the windows that count:
    windows that start before ``report_from`` saw only part of their events (the range, or its
    warm-up, cut them), and nothing ending after ``report_to`` is closed."""

    def __init__(
        self,
        ctx: CoreContext,
        topics: dict[str, str],
        report_from: float,
        report_to: float,
    ) -> None:
        self.ctx = ctx
        self.engine = Engine(ctx, topics)
        self.report_from = report_from
        self.report_to = report_to
        self.records = 0
        self.finished = False
        self.finish_rejected: Counter[str] = Counter()

    def begin(self, ranges: Iterable[PartitionRange]) -> None:
        """Own the partitions that have records in the range. Their stop offsets stand in for
        the live worker's end offsets: a partition without data yet holds closing back until
        it has been read to its stop (its first events may be the oldest), and a partition
        read to its stop no longer does, whatever it held."""
        with_records = [r for r in ranges if r.stop > r.start]
        self.engine.assign((r.source, r.partition) for r in with_records)
        self.engine.end_offsets = {(r.source, r.partition): r.stop for r in with_records}

    def feed(self, batch: Sequence[RangeRecord]) -> list[WindowFrame]:
        """Process records; the windows they closed inside the reported range."""
        self.records += len(batch)
        return self._inside(self.engine.handle_batch(batch).windows)

    def finish(self) -> list[WindowFrame]:
        """Release everything before the end of the range and close the windows ending by then.

        Each partition's newest event time is raised to the end of the range plus the allowed
        lateness, as if an event that late had arrived: its watermark then stands at the end of
        the range and every pending event before it is released in event-time order, as the
        live worker would once newer events came. Events after the end stay pending: they
        belong to windows that end after the range."""
        engine = self.engine
        # Every partition is read to its stop: none has unread records left to wait for (its
        # position, not the stop, counts: transaction markers take offsets but are never read).
        engine.end_offsets = {tp: engine.next_offsets.get(tp, 0) for tp in engine.end_offsets}
        through = self.report_to + self.ctx.allowed_lateness
        frontier = engine.closer.stepped_frontier
        for core in engine.cores.values():
            if not core.has_data:
                continue  # nothing to release; it does not hold closing back either
            core.max_ts = max(core.max_ts, through)
            for rejection in core.release(frontier):
                self.finish_rejected[rejection.reason] += 1
        self.finished = True
        return self._inside(engine.close_windows())

    def _inside(self, frames: list[WindowFrame]) -> list[WindowFrame]:
        lo, hi = self.report_from, self.report_to
        return [f for f in frames if f.start >= lo and f.end <= hi]

    @property
    def rejected(self) -> Counter[str]:
        """Records rejected (DLQ reasons of the live worker), including releases at the end."""
        return self.engine.rejected + self.finish_rejected

    @property
    def received(self) -> Counter[str]:
        return self.engine.received
