"""The pipeline's processing loop without a framework: bytes in, DLQ records and closed windows
out. The Faust agent (live) and replay both drive it; only their I/O differs.

Replay (and a single process in tests) closes windows here, from the partitions it holds. The
live worker instead hands each release's panes and progress on as pane records (``Outputs.
panes``), and the one worker that owns the pane topic closes windows over every partition
(``pipeline.worker.merger``): the same closer and pane merge, so the same windows.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import AlertEvent
from pipeline.core.closer import WindowCloser, frontier_of
from pipeline.core.context import CoreContext
from pipeline.core.results import WindowResult
from pipeline.core.source import NEVER, Accepted, SourceCore
from pipeline.core.store import StateStore
from pipeline.schemas.decode import DecodeError
from pipeline.worker.admission import Admission
from pipeline.worker.alerting import ClosesWithAlerts
from pipeline.worker.panes import Progress, encode_updates, progress_of

__all__ = ["OUTPUTS", "TP", "DlqRecord", "Outputs", "PipelineRuntime", "Record", "Source"]

log = logging.getLogger(__name__)
_ALERTS_KEY = "alerts|"
_DELIVERED_KEY = "delivered|"
_OFFSET_KEY = "offsets|"  # + "<partition>|<source>": the next input offset to process

Source = str  # "tickets" or "surveys": the logical input, independent of topic names
TP = tuple[Source, int]
# source, partition, offset, key, value: one input record
Record = tuple[Source, int, int, bytes | None, bytes]
# The outputs records are produced to: kpi-windows, kpi-alerts and the dead-letter topic.
OUTPUTS = ("windows", "alerts", "dlq")


@dataclass(frozen=True, slots=True)
class DlqRecord:
    """A rejected record: its original bytes (or, for rejections found when the event was
    released in event-time order, the decoded event as JSON) and where it came from."""

    key: bytes | None
    value: bytes
    reason: str
    detail: str
    topic: str
    partition: int
    offset: int

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("dlq.reason", self.reason.encode()),
            ("dlq.detail", self.detail.encode()[:1000]),
            ("dlq.topic", self.topic.encode()),
            ("dlq.partition", str(self.partition).encode()),
            ("dlq.offset", str(self.offset).encode()),
        ]


@dataclass(slots=True)
class Outputs:
    dlq: list[DlqRecord] = field(default_factory=list)
    windows: list[WindowResult] = field(default_factory=list)
    alerts: list[AlertEvent] = field(default_factory=list)
    # Pane records (key, value) for the pane topic, when the runtime publishes its panes, and
    # the release progress of each partition they bring the closing worker up to.
    panes: list[tuple[bytes, bytes]] = field(default_factory=list)
    published: dict[TP, float] = field(default_factory=dict)
    # Every window ending at or before this is in ``windows`` or in an earlier Outputs: once
    # these windows and the earlier ones are acknowledged, the runtime may be told so.
    closed_through: float = NEVER


class PipelineRuntime(ClosesWithAlerts):
    def __init__(
        self,
        ctx: CoreContext,
        store: StateStore,
        topics: dict[Source, str],
        stored_items: Callable[[], Iterable[tuple[str, Any]]] = lambda: (),
        alerts: AlertEngine | None = None,
        admission: Admission | None = None,
        publishes_panes: bool = False,
    ) -> None:
        self.ctx = ctx
        self.admission = admission or Admission()
        self.store = store
        self.topics = topics
        self._stored_items = stored_items
        self.cores: dict[TP, SourceCore] = {}
        self.closer = WindowCloser(ctx)
        self.assigned: set[TP] = set()
        self.end_offsets: dict[TP, int] = {}
        self.next_offsets: dict[TP, int] = {}
        self.received: Counter[Source] = Counter()
        self.rejected: Counter[str] = Counter()
        self.duplicates: Counter[Source] = Counter()
        self.produced: Counter[str] = Counter()  # by output, counted by whoever produces
        self.alerts = alerts
        self.pending_alerts: list[AlertEvent] = []
        self._recovered = False
        # Live: panes and progress go out as pane records and windows close elsewhere; the
        # frontier of closed windows is then known only where they close (``frontier_hint``,
        # NEVER on other workers). Progress last published per owned partition, and the
        # release progress up to which the broker has acknowledged a partition's pane records:
        # panes are pruned only behind it.
        self.publishes_panes = publishes_panes
        self.frontier_hint: Callable[[], float] = lambda: NEVER
        self._published: dict[TP, Progress] = {}
        self._panes_acked: dict[TP, float] = {}
        self._released: set[TP] = set()  # partitions with changed panes not yet published
        # Windows ending at or before this are on kpi-windows for sure (acknowledged by the
        # broker): in memory, and as saved in the store. Panes are kept until then, and after a
        # crash closing resumes from the saved mark, so a window emitted but lost with the
        # process is emitted again (the same values: outputs are idempotent by key).
        # Only a driver that reports deliveries (the worker) sets this; replay keeps every
        # output in hand and prunes at the frontier.
        self.confirms_delivery = False
        self.delivered_through = NEVER
        self._saved_delivered = NEVER

    # --- partitions -----------------------------------------------------------------------------

    def assign(self, tps: Iterable[TP]) -> None:
        """The input partitions this runtime owns now; state of the others is dropped (it lives
        on in the table changelog for whoever owns them next)."""
        self.assigned = set(tps)
        for tp in [tp for tp in self.cores if tp not in self.assigned]:
            del self.cores[tp]
        for tp in [tp for tp in self.next_offsets if tp not in self.assigned]:
            del self.next_offsets[tp]  # the next owner saves its own progress
        # Everything is published again by the new owner (full values: idempotent).
        self._published = {}
        self._panes_acked = {tp: at for tp, at in self._panes_acked.items() if tp in self.assigned}
        self._released &= self.assigned
        self._recovered = False

    def revoke(self, tps: Iterable[TP]) -> None:
        """Partitions taken away (a rebalance has begun): their state and series go at once."""
        self.assign(self.assigned - set(tps))

    def _core(self, tp: TP) -> SourceCore:
        core = self.cores.get(tp)
        if core is None:
            core = self.cores[tp] = SourceCore(tp[0], tp[1], self.ctx, self.store)
            core.hands_on_panes = self.publishes_panes
            core.restore(self._stored_items())
        return core

    def recover(self) -> int:
        """Rebuild state from the store now (else it happens at the first event); returns the
        number of input partitions held."""
        if not self._recovered:
            self._recover()
        return len(self.cores)

    def _recover(self) -> None:
        """Rebuild every assigned partition's state from the store before the first event, and
        resume closing where the previous owner stopped."""
        for tp in self.assigned:
            self._core(tp)
        self._recovered = True
        for key, value in self._stored_items():
            if key.startswith(_OFFSET_KEY):
                partition, _, source = key[len(_OFFSET_KEY) :].partition("|")
                tp = (source, int(partition))
                if tp in self.assigned:
                    self.next_offsets[tp] = int(value)
        frontier = frontier_of(self.cores.values())
        if self.confirms_delivery:
            saved = [float(v) for k, v in self._stored_items() if k.startswith(_DELIVERED_KEY)]
            self._saved_delivered = self.delivered_through = max(saved, default=NEVER)
            frontier = min(frontier, self._saved_delivered)
        if frontier > NEVER and self.closer.frontier == NEVER:
            self.closer.start_at(frontier)
        if self.alerts is not None:
            try:
                self._restore_alerts()
            except Exception:
                # Alert state must never cost a KPI event: go on with fresh alert state.
                log.exception("could not restore the saved alert state; starting afresh")

    def _restore_alerts(self) -> None:
        """Continue open alert episodes: the newest saved engine state of any owned partition."""
        assert self.alerts is not None
        saved = [v for k, v in self._stored_items() if k.startswith(_ALERTS_KEY)]
        if saved:
            newest = max(saved, key=lambda v: float(v["through"] or NEVER))
            restored = AlertEngine.from_json(newest["engine"])
            self.pending_alerts += restored.replace_targets(self.alerts.targets)
            self.alerts = restored

    # --- processing -----------------------------------------------------------------------------

    def handle_batch(self, records: Iterable[Record]) -> Outputs:
        """Process records in order; their outputs in the same order. A store that coalesces
        writes (the worker's table) sees each key's newest state once per batch, and so do
        pane records: one per changed pane and partition, whatever the releases in between."""
        out = Outputs()
        for record in records:
            one = self._handle_safely(*record)
            out.dlq += one.dlq
            out.windows += one.windows
            out.alerts += one.alerts
            out.closed_through = max(out.closed_through, one.closed_through)
        self._take_panes(out)
        return out

    def handle(
        self, source: Source, partition: int, offset: int, key: bytes | None, raw: bytes
    ) -> Outputs:
        """Process one input record. Never raises: a record that breaks processing goes to the
        DLQ as ``processing_error`` (and is logged with its traceback), and the worker goes on."""
        out = self._handle_safely(source, partition, offset, key, raw)
        self._take_panes(out)
        return out

    def _take_panes(self, out: Outputs) -> None:
        """The pane records of the partitions released since the last call: the newest value
        of every pane changed meanwhile, then the partition's progress."""
        released, self._released = self._released, set()
        for tp in sorted(released):
            core = self.cores.get(tp)
            if core is None:
                continue  # revoked meanwhile: its new owner publishes it
            out.panes += self._pane_records(tp, core.take_changed_panes())
            out.published[tp] = core.released_through

    def _handle_safely(
        self, source: Source, partition: int, offset: int, key: bytes | None, raw: bytes
    ) -> Outputs:
        try:
            return self._handle(source, partition, offset, key, raw)
        except Exception as exc:
            log.exception("processing %s/%d@%d failed", source, partition, offset)
            out = Outputs()
            record = DlqRecord(
                key,
                raw,
                "processing_error",
                f"{type(exc).__name__}: {exc}",
                self.topics[source],
                partition,
                offset,
            )
            self._reject(out, record)
            return out

    def _handle(
        self, source: Source, partition: int, offset: int, key: bytes | None, raw: bytes
    ) -> Outputs:
        if not self._recovered:
            self._recover()
        out = Outputs()
        tp = (source, partition)
        self.assigned.add(tp)
        expected = self.next_offsets.get(tp)
        if expected is None:
            log.info("%s/%d: first record read at offset %d", source, partition, offset)
        elif offset > expected:
            # Transaction markers and retention take offsets; a consumer that lost records is
            # caught before this (the worker's InputSequence), so this is only for debugging.
            log.debug(
                "%s/%d: offsets %d..%d were not read", source, partition, expected, offset - 1
            )
        self.next_offsets[tp] = offset + 1
        # Saved with the state it belongs to, so that a restarted worker knows where its input
        # continues (and can tell when the consumer starts further on: see worker.sequence).
        self.store.put(f"{_OFFSET_KEY}{partition}|{source}", offset + 1)
        self.received[source] += 1
        topic = self.topics[source]
        try:
            event = self.admission.decode(source, key, raw, offset, self._newest)
        except DecodeError as err:
            # A tombstone (no value) goes to the DLQ with an empty value.
            record = DlqRecord(key, raw or b"", err.reason, err.detail, topic, partition, offset)
            self._reject(out, record)
            return out
        core = self._core(tp)
        frontier = self.closer.frontier
        if self.publishes_panes:
            # An event behind the partition's own progress is late anyway; the frontier of
            # closed windows matters for a partition's first events (it had none while
            # windows closed), and only the worker that closes windows knows it.
            frontier = NEVER if core.has_data else self.frontier_hint()
        outcome = core.accept(event, frontier)
        if outcome is Accepted.DUPLICATE:
            self.duplicates[source] += 1
        elif outcome is Accepted.CONFLICT:
            detail = f"event id {event.event_id!r} was taken with other content; the first counts"
            self._reject(
                out, DlqRecord(key, raw, "conflicting_duplicate", detail, topic, partition, offset)
            )
        elif outcome is Accepted.LATE:
            detail = f"event time {event.ts:.0f} is behind the watermark {core.watermark:.0f}"
            self._reject(out, DlqRecord(key, raw, "late", detail, topic, partition, offset))
        before = core.released_through
        prune_at = frontier
        if self.publishes_panes:
            # The closing worker keeps its own copy of every pane until its windows are
            # delivered: here a pane may go once its final value is on the pane topic, i.e.
            # behind the progress whose pane records the broker has acknowledged.
            prune_at = self._panes_acked.get(tp, NEVER)
        elif self.confirms_delivery:
            if self.delivered_through > self._saved_delivered:
                self.store.put(f"{_DELIVERED_KEY}{partition}", self.delivered_through)
                self._saved_delivered = self.delivered_through
            prune_at = min(frontier, self._saved_delivered)
        for rejection in core.release(prune_at):
            ev = rejection.event
            value = orjson.dumps(dataclasses.asdict(ev))
            self._reject(
                out,
                DlqRecord(
                    ev.key.encode(),
                    value,
                    rejection.reason,
                    rejection.detail,
                    topic,
                    partition,
                    ev.offset,
                ),
            )
        if core.released_through != before and self.publishes_panes:
            self._released.add(tp)
        elif core.released_through != before:
            closed = self.close()
            out.windows, out.alerts, out.closed_through = (
                closed.windows,
                closed.alerts,
                closed.closed_through,
            )
            if out.alerts or out.windows:
                self._save_alerts(partition)
        return out

    def close(self) -> Outputs:
        """Windows that are final now, the alert transitions they cause, and how far closing
        has got with them. When publishing: the progress of owned partitions that changed
        without a release (an idle partition read to its end stops holding closing back) and
        every pane of partitions not yet published since they were assigned."""
        if self.publishes_panes:
            return self._publish_changed()
        windows = self.close_windows()
        return Outputs(
            windows=windows,
            alerts=self.evaluate(windows),
            closed_through=self.closer.frontier,
        )

    def _publish_changed(self) -> Outputs:
        out = Outputs()
        if not self._recovered:
            return out  # the table is still being restored: nothing to tell yet
        for tp in sorted(self.assigned):
            if tp not in self._published or not self._progress(tp).same_as(self._published[tp]):
                out.panes += self._pane_records(tp, {})
                core = self.cores.get(tp)
                if core is not None:
                    out.published[tp] = core.released_through
        return out

    def _progress(self, tp: TP) -> Progress:
        core = self.cores.get(tp)
        blocking = not (core is not None and core.has_data) and self._unread(tp)
        return progress_of(core, blocking)

    def _pane_records(self, tp: TP, panes: dict[int, dict[str, Any]]) -> list[tuple[bytes, bytes]]:
        """Records for the pane topic: ``panes`` (as stored) and the progress of ``tp``. The first
        time after an assignment they hold every pane of the partition: the records of its
        last batches may have died with the previous owner (table writes persisted, pane
        records not), and a redelivered record is a duplicate that changes no pane."""
        core = self.cores.get(tp)
        if tp not in self._published and core is not None:
            panes = {start: panes.get(start) or core.pane_value(start) for start in core.panes}
        progress = self._progress(tp)
        self._published[tp] = progress
        return encode_updates(tp[0], tp[1], panes, progress)

    def panes_delivered(self, published: dict[TP, float]) -> None:
        """The broker has acknowledged pane records up to these release progresses."""
        for tp, through in published.items():
            if tp in self.assigned:
                self._panes_acked[tp] = max(self._panes_acked.get(tp, NEVER), through)

    def delivered(self, through: float) -> None:
        """Every window ending at or before ``through`` has been acknowledged by the broker."""
        self.delivered_through = max(self.delivered_through, through)

    def _newest(self) -> float:
        return max((core.max_ts for core in self.cores.values()), default=NEVER)

    def _save_alerts(self, partition: int) -> None:
        # Written in the current partition's changelog; on recovery the newest copy wins.
        if self.alerts is not None:
            self.store.put(
                f"{_ALERTS_KEY}{partition}",
                # The newest window end the engine has seen orders the saved copies (the frontier
                # can still be -inf, which JSON cannot hold).
                {
                    "through": max(self.closer.closed_through.values()),
                    "engine": self.alerts.to_json(),
                },
            )

    def _reject(self, out: Outputs, record: DlqRecord) -> None:
        self.rejected[record.reason] += 1
        out.dlq.append(record)

    def _blocking_empty(self) -> int:
        """Assigned partitions without data that still have unread records (or whose end is not
        known yet): their first events may be older than everything seen so far."""
        blocking = 0
        for tp in self.assigned:
            core = self.cores.get(tp)
            if core is not None and core.has_data:
                continue
            if self._unread(tp):
                blocking += 1
        return blocking

    def _unread(self, tp: TP) -> bool:
        """Records left to read in ``tp`` (or its end is not known yet)."""
        end = self.end_offsets.get(tp)
        return end is None or self.next_offsets.get(tp, 0) < end

    def close_windows(self) -> list[WindowResult]:
        cores = [self.cores[tp] for tp in sorted(self.cores) if tp in self.assigned]
        frontier = frontier_of(cores, self._blocking_empty())
        return self.closer.close(cores, frontier)

    # --- reading --------------------------------------------------------------------------------

    @property
    def watermarks(self) -> dict[TP, float]:
        return {tp: core.watermark for tp, core in self.cores.items() if core.has_data}

    def backlog(self) -> Counter[Any]:
        total: Counter[Any] = Counter()
        for core in self.cores.values():
            total.update(core.backlog)
        return total
