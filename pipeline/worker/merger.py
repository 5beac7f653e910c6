"""Closing windows over every input partition, whichever worker owns it.

Each worker hands the panes and progress of the input partitions it owns to the pane topic
(``pipeline.worker.panes``). The merger runs on the one worker that owns that topic's only
partition: it keeps the newest value of every pane of every input partition and each
partition's progress in a changelog-backed table, closes a window once every input partition
of the input topics has passed its end, and alone produces ``kpi-windows``, runs the alert
engine and exports the KPI series.

Its delivery mark protects its panes: windows ending at or before the mark are acknowledged by
the broker, panes are pruned only behind it, and after a restart or a move closing resumes from
it, so a window lost with the process is closed again from the same panes (same values).
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import AlertEvent
from pipeline.core.aggregate import Aggregate
from pipeline.core.closer import WindowCloser
from pipeline.core.context import CoreContext
from pipeline.core.scopes import Scope
from pipeline.core.source import NEVER
from pipeline.core.store import StateStore
from pipeline.worker.alerting import ClosesWithAlerts
from pipeline.worker.panes import PaneUpdate, Progress, backlog_total
from pipeline.worker.runtime import TP, Outputs

__all__ = ["PANE_SOURCE", "PaneMerger", "StoredPanes"]

log = logging.getLogger(__name__)

# The pane topic's only partition, as the input sequence check names partitions.
PANE_SOURCE = ("panes", 0)

_PANE = "p|"  # + "<source>:<partition>|<start>": every scope of one pane
_PROGRESS = "g|"
_DELIVERED = "delivered|"
_ALERTS = "alerts|"
_OFFSET = "offsets|"  # the pane topic's next offset to process


def _tag(tp: TP) -> str:
    return f"{tp[0]}:{tp[1]}"


def _untag(tag: str) -> TP:
    source, _, partition = tag.rpartition(":")
    return (source, int(partition))


class StoredPanes(Mapping[int, Mapping[Scope, Aggregate]]):
    """One input partition's panes as received (JSON), decoded when the closer first reads
    one: a pane is re-sent with every batch that changes it, and only its final value is ever
    merged into a window. A pane is held in one form at a time."""

    def __init__(self) -> None:
        self._received: dict[int, dict[str, Any]] = {}
        self._decoded: dict[int, dict[Scope, Aggregate]] = {}

    def put(self, start: int, value: dict[str, Any]) -> None:
        self._received[start] = value
        self._decoded.pop(start, None)

    def drop(self, start: int) -> None:
        self._received.pop(start, None)
        self._decoded.pop(start, None)

    def __getitem__(self, start: int) -> Mapping[Scope, Aggregate]:
        pane = self._decoded.get(start)
        if pane is None:
            pane = self._decoded[start] = {
                Scope.decode(text): Aggregate.from_json(agg)
                for text, agg in self._received.pop(start).items()
            }
        return pane

    def __contains__(self, start: object) -> bool:  # without decoding
        return start in self._received or start in self._decoded

    def __iter__(self) -> Iterator[int]:
        return itertools.chain(self._received, self._decoded)

    def __len__(self) -> int:
        return len(self._received) + len(self._decoded)


@dataclass(frozen=True, slots=True)
class _Partition:
    """One input partition's panes as the closer reads them (see ``PaneSource``)."""

    tag: str
    panes: StoredPanes


class PaneMerger(ClosesWithAlerts):
    def __init__(
        self,
        ctx: CoreContext,
        store: StateStore,
        stored_items: Callable[[], Iterable[tuple[str, Any]]] = lambda: (),
        alerts: AlertEngine | None = None,
    ) -> None:
        self.ctx = ctx
        self.store = store
        self._stored_items = stored_items
        self.closer = WindowCloser(ctx)
        self.alerts = alerts
        self.pending_alerts: list[AlertEvent] = []
        # Every input partition of the input topics: one never heard of holds closing back.
        self.partitions: set[TP] = set()
        self.panes: dict[TP, StoredPanes] = {}
        self.progress: dict[TP, Progress] = {}
        self.next_offsets: dict[TP, int] = {}  # of the pane topic, saved with the state
        # Owns the pane topic's partition now: closes windows and exports KPI series.
        self.active = False
        self.recovered = False
        self.delivered_through = NEVER
        self._saved_delivered = NEVER
        self.ignored = 0  # pane values for windows already closed (see apply)

    # --- ownership ------------------------------------------------------------------------------

    def activate(self, partitions: Iterable[TP]) -> None:
        """This worker owns the pane topic now; its table partition is being restored."""
        self.deactivate()
        self.partitions = set(partitions)
        self.active = True

    def deactivate(self) -> None:
        """Another worker closes windows now: forget everything (the table keeps it)."""
        self.active = self.recovered = False
        self.closer = WindowCloser(self.ctx)
        if self.alerts is not None:  # the table holds the state, for whoever closes next
            self.alerts = AlertEngine(self.alerts.targets)
        self.pending_alerts = []
        self.panes, self.progress, self.next_offsets = {}, {}, {}
        self.delivered_through = self._saved_delivered = NEVER

    def recover(self) -> int:
        """Rebuild memory from the restored table, and resume closing at the delivery mark.
        Returns the number of input partitions whose panes are held."""
        if self.recovered or not self.active:
            return len(self.panes)
        alerts: list[dict[str, Any]] = []
        self.panes, self.progress = {}, {}
        for key, value in self._stored_items():
            kind, _, rest = key.partition("|")
            if kind == "p":
                tag, _, start = rest.partition("|")
                self.panes.setdefault(_untag(tag), StoredPanes()).put(int(start), value)
            elif kind == "g":
                self.progress[_untag(rest)] = Progress.from_json(value)
            elif kind == "delivered":
                self._saved_delivered = max(self._saved_delivered, float(value))
            elif kind == "alerts":
                alerts.append(value)
            elif kind == "offsets":
                self.next_offsets[PANE_SOURCE] = int(value)
        self.delivered_through = self._saved_delivered
        self.closer = WindowCloser(self.ctx)
        if self._saved_delivered > NEVER:
            self.closer.start_at(self._saved_delivered)
        if self.alerts is not None and alerts:
            try:
                restored = AlertEngine.from_json(alerts[-1]["engine"])
                self.pending_alerts += restored.replace_targets(self.alerts.targets)
                self.alerts = restored
            except Exception:
                # Alert state must never cost a window: go on with fresh alert state.
                log.exception("could not restore the saved alert state; starting afresh")
        self.recovered = True
        log.info(
            "window closing resumes after %s with panes of %d input partitions",
            self._saved_delivered,
            len(self.panes),
        )
        return len(self.panes)

    # --- updates --------------------------------------------------------------------------------

    def apply_batch(self, updates: Iterable[tuple[int, PaneUpdate]]) -> Outputs:
        """Take pane records (with their offsets on the pane topic) in order, then close what
        is final: the panes of a record always come before the progress that makes them final,
        so closing once per batch closes the same windows as once per record."""
        self.recover()
        for offset, update in updates:
            self._take(update)
            self.next_offsets[PANE_SOURCE] = offset + 1
            self.store.put(_OFFSET, offset + 1)
        return self.close()

    def apply(self, update: PaneUpdate) -> Outputs:
        """Take one pane record and close what is final (for drivers without offsets)."""
        self.recover()
        self._take(update)
        return self.close()

    def _take(self, update: PaneUpdate) -> None:
        """Newest pane values, then progress."""
        tp = update.tp
        if tp not in self.partitions:
            self.partitions.add(tp)
        oldest = self._oldest_kept()
        frontier = self.closer.frontier
        by_start = self.panes.setdefault(tp, StoredPanes())
        for start, scopes in update.panes.items():
            if start < oldest:
                # Its windows are closed and delivered: a re-sent copy (after a restart), or
                # the first events of a partition that was idle when those windows closed.
                self.ignored += 1
                continue
            if start < frontier:
                self.closer.forget_blocks()
            by_start.put(start, scopes)
            self.store.put(f"{_PANE}{_tag(tp)}|{start}", scopes)
        if update.progress is not None:
            self.progress[tp] = update.progress
            self.store.put(f"{_PROGRESS}{_tag(tp)}", update.progress.to_json())

    def close(self) -> Outputs:
        """Windows that are final now, the alert transitions they cause, and how far closing
        has got with them."""
        if self.delivered_through > self._saved_delivered:
            self.store.put(_DELIVERED, self.delivered_through)
            self._saved_delivered = self.delivered_through
            self._prune()
        partitions = [_Partition(_tag(tp), self.panes[tp]) for tp in sorted(self.panes)]
        windows = self.closer.close(partitions, self.frontier_of_inputs())
        alerts = self.evaluate(windows)
        if windows and self.alerts is not None:
            self.store.put(_ALERTS, {"engine": self.alerts.to_json()})
        return Outputs(windows=windows, alerts=alerts, closed_through=self.closer.frontier)

    def frontier_of_inputs(self) -> float:
        """Every input partition has released all events before this (see ``Progress``)."""
        held = []
        for tp in self.partitions:
            progress = self.progress.get(tp)
            if progress is None:
                return NEVER
            at = progress.holds_at
            if at is not None:
                held.append(at)
        return min(held) if held else NEVER

    def delivered(self, through: float) -> None:
        """Every window ending at or before ``through`` has been acknowledged by the broker."""
        self.delivered_through = max(self.delivered_through, through)

    def _oldest_kept(self) -> float:
        if self._saved_delivered == NEVER:
            return NEVER
        return self.ctx.grid.needed_after(self._saved_delivered)

    def _prune(self) -> None:
        oldest = self._oldest_kept()
        for tp, by_start in self.panes.items():
            for start in [s for s in by_start if s < oldest]:
                by_start.drop(start)
                self.store.delete(f"{_PANE}{_tag(tp)}|{start}")

    # --- reading --------------------------------------------------------------------------------

    def backlog(self) -> Counter[Any]:
        return backlog_total(self.progress)
