"""The engine: bytes in, DLQ records, closed windows and alert transitions out, without a
framework. The Faust worker (live), replay and tests all drive it; only their I/O differs.

Per input record: the offset check (a record the saved state already covers is a redelivery and
is skipped), admission and decoding, de-duplication and lateness in the partition's core, and,
when the partition's watermark has moved a tick, its release and window closing. Windows close
here, over the partitions this engine holds and the ones other workers hand over
(``remote``), by the one frontier rule of ``progress``.

With a state store, each batch's changes are collected and handed to the store at once
(``write_state``): keys, panes, progress, the input offsets they cover and the closing state.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np
import orjson

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import AlertEvent
from pipeline.core.context import CoreContext
from pipeline.core.scopes import Scope
from pipeline.core.store import StateStore, Write
from pipeline.engine import formats
from pipeline.engine.admission import Admission
from pipeline.engine.alerting import ClosesWithAlerts
from pipeline.engine.cells import Cells
from pipeline.engine.closing import PaneSource, WindowCloser
from pipeline.engine.frames import WindowFrame
from pipeline.engine.handoff import PaneUpdate, RemotePartition, encode_update
from pipeline.engine.outputs import TP, DlqRecord, Outputs, Record, Source
from pipeline.engine.partition import ACCEPTED, CONFLICT, DUPLICATE, LATE, PartitionCore
from pipeline.engine.progress import NEVER, Progress, frontier_of
from pipeline.schemas.decode import DecodeError

__all__ = ["CLOSING_KEY", "Engine"]

log = logging.getLogger(__name__)
CLOSING_KEY = "closing|0"  # the closer's state (in the closing store's partition 0)


class Engine(ClosesWithAlerts):
    def __init__(
        self,
        ctx: CoreContext,
        topics: dict[Source, str],
        store: StateStore | None = None,
        alerts: AlertEngine | None = None,
        admission: Admission | None = None,
        closing_store: StateStore | None = None,
    ) -> None:
        self.ctx = ctx
        self.topics = topics
        self.store = store
        # Where the closer's own state goes (the worker keeps it with the pane topic's owner).
        self.closing_store = closing_store or store
        self.admission = admission or Admission()
        self.cells = Cells(ctx.breakdowns)
        self.cores: dict[TP, PartitionCore] = {}
        self.closer = WindowCloser(ctx, self.cells)
        self.alerts = alerts
        self.pending_alerts: list[AlertEvent] = []
        self.assigned: set[TP] = set()
        # Every partition of the input topics, wherever processed; None: the assigned ones.
        self.inputs: set[TP] | None = None
        # Windows close here (one process; the owner of the pane topic of several workers).
        # When not, the engine publishes its partitions' panes and progress instead.
        self.closes_windows = True
        # Partitions processed elsewhere whose panes and progress reach this closer.
        self.remote: dict[TP, RemotePartition] = {}
        self._published: dict[TP, Progress] = {}  # progress last published per partition
        self._panes_acked: dict[TP, float] = {}  # published through, acknowledged by the broker
        self._to_publish: set[TP] = set()
        self.end_offsets: dict[TP, int] = {}
        self.next_offsets: dict[TP, int] = {}
        self.received: Counter[Source] = Counter()
        self.rejected: Counter[str] = Counter()
        self.duplicates: Counter[Source] = Counter()
        self.redelivered: Counter[Source] = Counter()
        self.produced: Counter[str] = Counter()  # by output, counted by whoever produces
        self._recovered = False
        self._dirty_offsets: set[TP] = set()
        self._closing_dirty = False  # the closing state changed since it was last saved
        # The frontier moved while handling the batch: its windows are to be flushed.
        self._closing_moved = False
        # Windows ending at or before this are on kpi-windows for sure (acknowledged by the
        # broker): in memory, and as saved. Panes are kept until then, and after a crash
        # closing resumes from the saved mark, so a window emitted but lost with the process is
        # emitted again (the same values). Only a driver that reports deliveries (the worker)
        # sets ``confirms_delivery``; replay keeps every output in hand and prunes at the
        # frontier.
        self.confirms_delivery = False
        self.delivered_through = NEVER
        self._saved_delivered = NEVER
        # Idle inputs (live only): see ``idle``.
        self.idle_timeout: float | None = None
        self.max_producer_delay = 0.0
        self._last_record: dict[TP, float] = {}
        # Records received in the current batch, per input partition (see ``_end_batch``).
        self._batch: dict[TP, int] = {}
        self.clock: Callable[[], float] = time.time

    # --- partitions -----------------------------------------------------------------------------

    def assign(self, tps: Iterable[TP]) -> None:
        """The input partitions this engine owns now; state of the others is dropped (it lives
        on in the store's changelog for whoever owns them next)."""
        self.assigned = set(tps)
        for tp in [tp for tp in self.cores if tp not in self.assigned]:
            del self.cores[tp]
        for tp in [tp for tp in self.next_offsets if tp not in self.assigned]:
            del self.next_offsets[tp]
        # Everything is published again after an assignment (full values: idempotent).
        self._published = {}
        self._panes_acked = {tp: at for tp, at in self._panes_acked.items() if tp in self.assigned}
        self._to_publish &= self.assigned
        for tp in self.assigned:
            self.remote.pop(tp, None)
        self._recovered = False

    def revoke(self, tps: Iterable[TP]) -> None:
        self.assign(self.assigned - set(tps))

    def _core(self, tp: TP) -> PartitionCore:
        core = self.cores.get(tp)
        if core is None:
            core = PartitionCore(tp[0], tp[1], self.ctx, self.cells, self.store is not None)
            self.cores[tp] = core
        return core

    def recover(self) -> int:
        """Rebuild every assigned partition's state from the store now (else at the first
        record); returns the number of input partitions held."""
        if not self._recovered:
            self._recover()
        return len(self.cores)

    def _recover(self) -> None:
        self._recovered = True
        fresh = [self._core(tp) for tp in sorted(self.assigned) if tp not in self.cores]
        if self.store is None:
            return
        items = list(self.store.load())
        for core in fresh:  # a partition kept through a rebalance keeps its memory
            core.restore(items)
        for key, value in items:
            if key.startswith(formats.OFFSETS):
                tp = formats.parse_offset_key(key)
                if tp in self.assigned:
                    self.next_offsets[tp] = int(value)
        if self.closes_windows:
            self._recover_closing()

    def recover_closing(self) -> None:
        """This engine closes windows from now on (the worker took over the pane topic)."""
        self.closes_windows = True
        if self._recovered:
            self._recover_closing()

    def _recover_closing(self) -> None:
        assert self.closing_store is not None
        closing = [v for k, v in self.closing_store.load() if k == CLOSING_KEY]
        self.closer = WindowCloser(self.ctx, self.cells)
        frontier = frontier_of(self._progress(tp) for tp in sorted(self.cores))
        if self.confirms_delivery:
            saved = [float(c["delivered_through"]) for c in closing if c["delivered_through"]]
            self._saved_delivered = self.delivered_through = max(saved, default=NEVER)
            frontier = min(frontier, self._saved_delivered)
        if frontier > NEVER:
            self.closer.start_at(frontier)
        if self.alerts is not None and closing:
            try:
                newest = max(closing, key=lambda c: float(c["closed_through"] or NEVER))
                restored = AlertEngine.from_json(newest["alerts"])
                self.pending_alerts += restored.replace_targets(self.alerts.targets)
                self.alerts = restored
            except Exception:
                # Alert state must never cost a KPI event: go on with fresh alert state.
                log.exception("could not restore the saved alert state; starting afresh")

    # --- processing -----------------------------------------------------------------------------

    def handle_batch(self, records: Iterable[Record]) -> Outputs:
        """Process records in order; their outputs in the same order."""
        out = Outputs()
        handle = self._handle
        for record in records:
            try:
                handle(out, record)
            except Exception as exc:
                self._failed(out, record, exc)
        self._end_batch()
        self._flush_windows(out)
        if not self.closes_windows:
            self.publish(out)
        return out

    def handle(
        self, source: Source, partition: int, offset: int, key: bytes | None, raw: bytes | None
    ) -> Outputs:
        """Process one input record. Never raises: a record that breaks processing goes to the
        DLQ as ``processing_error`` (and is logged with its traceback), and the engine goes on."""
        return self.handle_batch(((source, partition, offset, key, raw),))

    def _failed(self, out: Outputs, record: Record, exc: Exception) -> None:
        """A record that broke processing: logged with its traceback, and to the DLQ as
        ``processing_error``."""
        source, partition, offset, key, raw = record
        log.exception("processing %s/%d@%d failed", source, partition, offset, exc_info=exc)
        detail = f"{type(exc).__name__}: {exc}"
        topic = self.topics[source]
        self._reject(
            out,
            DlqRecord(key, raw or b"", "processing_error", detail, topic, partition, offset),
        )

    def _handle(self, out: Outputs, record: Record) -> None:
        source, partition, offset, key, raw = record
        if not self._recovered:
            self._recover()
        tp = (source, partition)
        expected = self.next_offsets.get(tp)
        if expected is not None and offset < expected:
            # The saved state covers this record already (processed before a crash, not yet
            # committed): skipped, so it is neither counted again nor reported late.
            self.redelivered[source] += 1
            return
        if tp not in self._batch:
            self.assigned.add(tp)
        self.next_offsets[tp] = offset + 1
        batch = self._batch
        batch[tp] = batch.get(tp, 0) + 1
        try:
            event = self.admission.decode(source, key, raw, offset, self._newest)
        except DecodeError as err:
            # A tombstone (no value) goes to the DLQ with an empty value.
            topic = self.topics[source]
            dead = DlqRecord(key, raw or b"", err.reason, err.detail, topic, partition, offset)
            self._reject(out, dead)
            return
        assert raw is not None  # decoded, so it had a value
        core = self.cores.get(tp)
        if core is None:  # the partition's first record: its core is made (once)
            core = self._core(tp)
        outcome = core.accept(event, self.closer.frontier)
        if outcome is ACCEPTED:
            pass
        elif outcome is DUPLICATE:
            self.duplicates[source] += 1
        elif outcome is CONFLICT:
            topic = self.topics[source]
            detail = f"event id {event.event_id!r} was taken with other content; the first counts"
            self._reject(
                out, DlqRecord(key, raw, "conflicting_duplicate", detail, topic, partition, offset)
            )
        elif outcome is LATE:
            topic = self.topics[source]
            detail = f"event time {event.ts:.0f} is behind the watermark {core.watermark:.0f}"
            self._reject(out, DlqRecord(key, raw, "late", detail, topic, partition, offset))
        if core.max_ts >= core.release_due:  # the watermark may have moved a tick
            self._release(out, tp, core)

    def _end_batch(self) -> None:
        """What is kept per input partition rather than per record: records received, the
        offsets to save, and when a partition last had a record (once per batch, so the clock
        is read once)."""
        if not self._batch:
            return
        now = self.clock()
        for tp, n in self._batch.items():
            self.received[tp[0]] += n
            self._dirty_offsets.add(tp)
            self._last_record[tp] = now
        self._batch = {}

    def _release(self, out: Outputs, tp: TP, core: PartitionCore) -> None:
        before = core.released_through
        for rejection in core.release(self._prune_at(tp)):
            ev = rejection.event
            self._reject(
                out,
                DlqRecord(
                    ev.key.encode(),
                    orjson.dumps(ev._asdict()),
                    rejection.reason,
                    rejection.detail,
                    self.topics[tp[0]],
                    tp[1],
                    ev.offset,
                ),
            )
        if core.released_through != before and not self.closes_windows:
            self._to_publish.add(tp)
        elif core.released_through != before:
            # Windows close as the frontier moves (what is late from here on depends on it);
            # their values are computed once per batch (``_flush_windows``).
            frontier = self.frontier()
            if self.closer.closes_at(frontier):  # the sources are gathered only then
                self.closer.advance(self._sources(), frontier)
            self._closing_moved = True

    def _flush_windows(self, out: Outputs) -> None:
        """The windows closed while handling a batch, and the alert transitions they cause."""
        if not self._closing_moved:
            return
        self._closing_moved = False
        closed = self.closer.flush()
        if closed or self.pending_alerts:
            out.windows += closed
            out.alerts += self.evaluate(closed)
            self._closing_dirty = True
        out.closed_through = max(out.closed_through, self.closer.frontier)

    def _prune_at(self, tp: TP) -> float:
        """Panes of ``tp`` may go behind this: once the windows holding them are closed (and
        delivered, in the worker), or, where windows close elsewhere, once their final
        values are on the pane topic."""
        if not self.closes_windows:
            return self._panes_acked.get(tp, NEVER)
        # Windows closed in this batch are stepped (their panes read) when it ends.
        frontier = self.closer.stepped_frontier
        if self.confirms_delivery:
            return min(frontier, self._saved_delivered)
        return frontier

    # --- the pane hand-off (several workers) ----------------------------------------------------

    def publish(self, out: Outputs) -> None:
        """Pane records for partitions whose panes or progress changed since they were last
        published (every pane, the first time after an assignment)."""
        if not self._recovered:
            return  # the table is still being restored: nothing to tell yet
        layout, cells = self.ctx.layout, self.cells
        for tp in sorted(self.assigned):
            core = self._core(tp)
            progress = self._published_progress(tp, core)
            first = tp not in self._published
            if not first and tp not in self._to_publish and progress == self._published[tp]:
                continue
            starts = sorted(core.panes) if first else sorted(core.take_changed_panes())
            if first:
                core.take_changed_panes()
            panes = [core.panes[s] for s in starts if s in core.panes]
            # One pane per record keeps records far below Kafka's size limit.
            for pane in panes[:-1]:
                out.panes.append(encode_update(*tp, [pane], None, layout, cells))
            out.panes.append(encode_update(*tp, panes[-1:], progress, layout, cells))
            out.published[tp] = core.released_through
            self._published[tp] = progress
        self._to_publish = set()

    def _published_progress(self, tp: TP, core: PartitionCore) -> Progress:
        backlog = {scope.encode(): n for scope, n in core.backlog_by_scope().items() if n}
        if core.has_data:
            return Progress(True, core.released_through, False, backlog)
        # The closer cannot check this partition's first events against its frontier: it
        # holds closing back until it has data (or is idle, which gives it progress).
        return Progress(False, NEVER, True, backlog)

    def panes_delivered(self, published: dict[TP, float]) -> None:
        """The broker has acknowledged pane records up to these release progresses."""
        for tp, through in published.items():
            if tp in self.assigned:
                self._panes_acked[tp] = max(self._panes_acked.get(tp, NEVER), through)

    def panes_acknowledged(self, tp: TP) -> float:
        """The release progress of ``tp`` whose panes the broker has acknowledged."""
        return self._panes_acked.get(tp, NEVER)

    def receive(self, updates: Iterable[PaneUpdate]) -> Outputs:
        """Pane records from other workers (this engine closes windows): their panes and
        progress, then every window that is final now."""
        if not self._recovered:
            self._recover()
        for update in updates:
            if update.tp in self.assigned:
                continue  # processed here now: the local core is the authority
            self.remote.setdefault(update.tp, RemotePartition()).take(update)
        out = self.close()
        prune_at = min(self.closer.frontier, self._saved_delivered)
        if prune_at > NEVER:
            oldest = self.ctx.grid.needed_after(prune_at)
            for remote in self.remote.values():
                remote.prune(oldest)
        return out

    def close(self) -> Outputs:
        """Windows that are final now (a partition read to its end stops holding closing
        back without a record), the alert transitions they cause, and how far closing got."""
        windows = self.close_windows()
        if windows:
            self._closing_dirty = True
        return Outputs(
            windows=windows, alerts=self.evaluate(windows), closed_through=self.closer.frontier
        )

    def idle(self) -> Outputs:
        """Live only (``idle_timeout`` set): partitions read to their end that have received
        nothing for ``idle_timeout`` seconds of wall clock stop holding closing back; their
        watermark follows the wall clock minus the allowed lateness and the maximum producer
        delay, so quiet inputs still see their windows close, and a record that arrives
        behind that watermark afterwards is late."""
        out = Outputs()
        if self.idle_timeout is None or not self._recovered:
            return out
        now = self.clock()
        watermark = now - self.max_producer_delay - self.ctx.allowed_lateness
        for tp in sorted(self.assigned):
            if self._unread(tp):
                continue
            if now - self._last_record.setdefault(tp, now) < self.idle_timeout:
                continue
            core = self._core(tp)
            core.idle_until(watermark)
            self._release(out, tp, core)
        self._flush_windows(out)
        return out

    def close_windows(self) -> list[WindowFrame]:
        return self.closer.close(self._sources(), self.frontier())

    def _sources(self) -> list[PaneSource]:
        sources: list[PaneSource] = [self.cores[tp] for tp in sorted(self.cores)]
        sources += [self.remote[tp] for tp in sorted(self.remote)]
        return sources

    def frontier(self) -> float:
        """Every window ending at or before this may close (see ``progress``)."""
        inputs = self.inputs if self.inputs is not None else self.assigned
        held = NEVER
        first = True
        cores = self.cores
        for tp in inputs:
            core = cores.get(tp)
            if core is not None and core.has_data:
                at: float | None = core.released_through
            else:
                progress = self._progress(tp)
                if progress is None:
                    return NEVER
                at = progress.holds_at
            if at is not None and (first or at < held):
                held, first = at, False
        return held

    def _progress(self, tp: TP) -> Progress | None:
        if tp not in self.assigned and tp not in self.cores:
            remote = self.remote.get(tp)
            return remote.progress if remote is not None else None
        core = self.cores.get(tp)
        if core is not None and core.has_data:
            return Progress(True, core.released_through, False)
        return Progress(False, NEVER, self._unread(tp))

    def unread_and_quiet(self, quiet_for: float) -> dict[TP, int]:
        """Partitions with records left to read that have delivered none for ``quiet_for``
        seconds of wall clock, with the offset to read from. Faust's fetch loop can drop a
        partition's records (see pipeline.worker.sequence), and a hole is seen at the next
        record; when the dropped ones were the partition's last, no next record comes, and the
        partition would hold closing back until one does."""
        if not self._recovered:
            return {}
        now = self.clock()
        quiet: dict[TP, int] = {}
        for tp in sorted(self.assigned):
            offset = self.next_offsets.get(tp)
            if offset is None or not self._unread(tp):
                continue
            if now - self._last_record.setdefault(tp, now) >= quiet_for:
                quiet[tp] = offset
                self._last_record[tp] = now  # asked again only after as long
        return quiet

    def _unread(self, tp: TP) -> bool:
        """Records left to read in ``tp`` (or its end is not known yet)."""
        end = self.end_offsets.get(tp)
        return end is None or self.next_offsets.get(tp, 0) < end

    # --- delivery and state ---------------------------------------------------------------------

    def delivered(self, through: float) -> None:
        """Every window ending at or before ``through`` has been acknowledged by the broker."""
        if through > self.delivered_through:
            self.delivered_through = through
            self._closing_dirty = True

    def write_state(self) -> None:
        """Hand every change since the last call to the store, as one batch."""
        if self.store is None:
            return
        writes: list[Write] = []
        for core in self.cores.values():
            writes += core.drain_writes()
        for tp in self._dirty_offsets:
            if tp in self.assigned:
                writes.append((formats.offset_key(*tp), b"%d" % self.next_offsets[tp]))
        self._dirty_offsets = set()
        self.store.write(writes)
        if self._closing_dirty and self.closes_windows:
            assert self.closing_store is not None
            self.closing_store.write([self._closing_write()])
            self._closing_dirty = False
            self._saved_delivered = max(self._saved_delivered, self.delivered_through)

    def _closing_write(self) -> Write:
        closed = max(self.closer.closed_through.values())
        delivered = self.delivered_through if self.confirms_delivery else NEVER
        value = {
            "format": "closing/1",
            "delivered_through": None if delivered == NEVER else delivered,
            "closed_through": None if closed == NEVER else closed,
            "alerts": self.alerts.to_json() if self.alerts is not None else None,
        }
        return CLOSING_KEY, orjson.dumps(value)

    def _reject(self, out: Outputs, record: DlqRecord) -> None:
        self.rejected[record.reason] += 1
        out.dlq.append(record)

    def _newest(self) -> float:
        return max((core.max_ts for core in self.cores.values()), default=NEVER)

    # --- reading --------------------------------------------------------------------------------

    @property
    def watermarks(self) -> dict[TP, float]:
        return {tp: core.watermark for tp, core in self.cores.items() if core.has_data}

    def backlog(self) -> Counter[Scope]:
        """Open tickets per scope (those with any), at the partitions' watermarks: summed per
        scope row over the partitions, then named."""
        rows = np.zeros(len(self.cells.scopes), dtype=np.int64)
        for core in self.cores.values():
            core_rows = core.backlog_rows()  # fewer rows if scopes appeared since
            rows[: len(core_rows)] += core_rows
        total = self.cells.scopes.counted(rows)
        for remote in self.remote.values():
            for text, n in remote.progress.backlog.items() if remote.progress else ():
                total[Scope.decode(text)] += n
        return total
