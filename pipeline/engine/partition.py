"""One input topic-partition's share of the pipeline: de-duplication, lateness, the reorder
buffer, the ticket lifecycle and the partition's panes.

Events are accepted into a per-key pending list and released to the lifecycle in event-time order
once this partition's watermark passes them. Any event accepted later must lie at or above the
watermark (else it is late), so released events can never be preceded by a new one: results do not
depend on arrival order within the allowed lateness. Releases happen in ticks of watermark
progress; the tick is one pane by default, so each pane is filled by one release and then frozen.

A core with ``persist`` set records which keys, panes and progress changed and which events it
accepted; ``drain_writes`` encodes each once (at the end of a batch) for the state store, and
``restore`` rebuilds the core from what was stored. Pending events are stored apart from their
keys, a batch's together (see ``formats``): a key is then written when its events are released,
not again each time one is accepted.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import Counter
from collections.abc import Iterable
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from pipeline.core.context import CoreContext
from pipeline.core.events import KIND_RANK, Event, fingerprint
from pipeline.core.lifecycle import Rejection, TicketState, apply_survey, apply_ticket_event
from pipeline.core.observations import Observation
from pipeline.core.scopes import Scope
from pipeline.engine import formats, legacy
from pipeline.engine.cells import Cells
from pipeline.engine.layout import OBSERVATIONS
from pipeline.engine.panes import Pane, PaneBuilder
from pipeline.engine.progress import NEVER

__all__ = [
    "ACCEPTED",
    "CONFLICT",
    "DUPLICATE",
    "LATE",
    "Accepted",
    "PartitionCore",
    "ReleasedRejection",
]


class Accepted(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"  # a copy of an event already taken: not counted again
    CONFLICT = "conflict"  # an event id already taken, with other content: the first one counts
    LATE = "late"


# The outcomes as plain names for the event path: a member read through its enum class costs a
# descriptor call (about 80 ns on Python 3.11), twice a record.
ACCEPTED, DUPLICATE, CONFLICT, LATE = (
    Accepted.ACCEPTED,
    Accepted.DUPLICATE,
    Accepted.CONFLICT,
    Accepted.LATE,
)


class ReleasedRejection:
    __slots__ = ("detail", "event", "reason")

    def __init__(self, event: Event, reason: str, detail: str) -> None:
        self.event, self.reason, self.detail = event, reason, detail


def _sort_key(event: Event) -> tuple[float, int, str]:
    return (event.ts, KIND_RANK[event.kind], event.event_id)


def _event_time(entry: tuple[float, int, str, str]) -> float:
    return entry[0]


class _KeyState:
    __slots__ = ("done", "pending", "ticket", "until")

    def __init__(self) -> None:
        self.pending: list[Event] = []
        self.ticket: TicketState | None = None
        # Released events whose ticket is gone (closed) or that have none (surveys): id ->
        # fingerprint, kept until ``until`` (event time) for de-duplication.
        self.done: dict[str, int] = {}
        self.until = NEVER

    @property
    def finished(self) -> bool:
        return not self.pending and self.ticket is None

    def seen(self, event: Event) -> bool | None:
        """None for a new event id; True for a copy of a known event, False for a known id
        with other content."""
        event_id = event.event_id
        for known in self.pending:
            if known.event_id == event_id:
                return fingerprint(known) == fingerprint(event)
        known_print = self.done.get(event_id)
        if known_print is None and self.ticket is not None:
            known_print = self.ticket.event_ids.get(event_id)
        if known_print is not None:
            return known_print in (0, fingerprint(event))
        return None

    @property
    def stored(self) -> bool:
        """Whether the key has anything stored under it (its pending events are stored with the
        batches that accepted them)."""
        return self.ticket is not None or bool(self.done)

    def to_json(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket.to_json() if self.ticket else None,
            "done": self.done,
            # A key whose ids are kept but that is not finished yet has no horizon.
            "until": None if self.until == NEVER else self.until,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _KeyState:
        state = cls()
        # Written before pending events were stored apart: ``restore`` stores them apart.
        state.pending = [formats.decode_event(e) for e in data.get("pending", ())]
        state.ticket = TicketState.from_json(data["ticket"]) if data["ticket"] else None
        state.done = {str(k): int(v) for k, v in data["done"].items()}
        until = data["until"]
        state.until = NEVER if until is None else float(until)
        return state


class PartitionCore:
    def __init__(
        self, source: str, partition: int, ctx: CoreContext, cells: Cells, persist: bool = False
    ) -> None:
        self.source = source
        self.partition = partition
        self.tag = f"{source}:{partition}"
        self._lateness = ctx.allowed_lateness
        self._tick = ctx.tick
        self._horizon = ctx.dedup_horizon
        self._grid = ctx.grid
        self._layout = ctx.layout
        self._policy = ctx.sla_policy  # the SLA clock: calendars and pausing statuses
        self.cells = cells
        self.max_ts = NEVER
        self._released_through = NEVER
        # A release can be due only once ``max_ts`` reaches this (see ``released_through``).
        self.release_due = NEVER
        self.keys: dict[str, _KeyState] = {}
        # (sort key..., record key) of every pending event: sorted at each release, which takes
        # its head. Events mostly arrive in order, so the list is nearly sorted and sorting it
        # costs about one comparison an entry (fewer than pushing and popping a heap).
        self._queue: list[tuple[float, int, str, str]] = []
        self._expiry: list[tuple[float, str]] = []  # (until, key) of finished keys
        self.panes: dict[int, Pane] = {}
        # No pane starts before this (a lower bound, -inf when unknown): a release that moves no
        # window past its panes then prunes without looking at every pane.
        self._no_pane_before = -math.inf
        self.backlog: Counter[int] = Counter()  # cell -> open tickets
        # ``backlog_rows`` as last computed, None once the backlog moved: /metrics asks at
        # every scrape, the backlog moves at releases.
        self._scope_backlog: npt.NDArray[np.int64] | None = None
        # Tickets whose lifecycle is held, kept as tickets are created and closed: /metrics
        # reads it at every scrape, and counting the keys there took 8% of a worker's time at
        # 5,000 records/s scraped four times a second.
        self.tickets = 0
        self.pending_count = 0
        self.persist = persist
        self._dirty_keys: set[str] = set()
        self._dirty_panes: set[int] = set()
        self._dirty_meta = False
        self._legacy_keys: list[str] = []  # format-1 keys to delete once converted
        # Events accepted since the last ``drain_writes``, in order; and (newest event time,
        # number) of every stored ``accepted`` record, the oldest first: deleted once
        # released past.
        self._accepted: list[Event] = []
        self._accepted_records: list[tuple[float, int]] = []
        self._next_record = 0
        # Panes changed since ``take_changed_panes`` (for a closer in another process).
        self.changed_panes: set[int] = set()

    # --- time -----------------------------------------------------------------------------------

    @property
    def released_through(self) -> float:
        """Events before this are released (a multiple of the tick, or NEVER)."""
        return self._released_through

    @released_through.setter
    def released_through(self, value: float) -> None:
        self._released_through = value
        # The next tick past ``value``, as a newest event time; a microsecond early, so that
        # float rounding never skips a release (``release`` decides exactly).
        if value == NEVER:
            self.release_due = NEVER
        else:
            next_tick = (math.floor(value / self._tick) + 1) * self._tick
            self.release_due = next_tick + self._lateness - 1e-6

    @property
    def watermark(self) -> float:
        return self.max_ts - self._lateness

    @property
    def has_data(self) -> bool:
        return self.max_ts != NEVER

    def idle_until(self, watermark: float) -> None:
        """The partition is idle (caught up, nothing received for a while): its watermark
        follows the wall clock from below, so it stops holding closing back, and an event
        behind ``watermark`` that arrives later is late."""
        floor = watermark + self._lateness
        if floor > self.max_ts:
            self.max_ts = floor
            self._dirty_meta = True

    # --- input ----------------------------------------------------------------------------------

    def accept(self, event: Event, frontier: float = NEVER) -> Accepted:
        """Take one validated event. ``frontier`` is the end up to which windows are already
        closed (by every partition); an event before it could no longer be counted."""
        key = event.key
        state = self.keys.get(key)
        if state is not None:
            seen = state.seen(event)
            if seen is not None:
                return DUPLICATE if seen else CONFLICT
        ts = event.ts
        if ts < self.max_ts - self._lateness or ts < frontier or ts < self._released_through:
            return LATE
        if state is None:
            state = self.keys[key] = _KeyState()
        rank, event_id = KIND_RANK[event.kind], event.event_id
        pending = state.pending
        # Kept in event-time order, so release takes the head without sorting again.
        if not pending:
            pending.append(event)
        else:
            last = pending[-1]
            last_ts = last.ts
            # The sort keys compared, the time alone first (mostly enough: a ticket's events
            # seldom share a second).
            if last_ts < ts or (
                last_ts == ts and (KIND_RANK[last.kind], last.event_id) <= (rank, event_id)
            ):
                pending.append(event)
            else:
                bisect.insort(pending, event, key=_sort_key)
        self.pending_count += 1
        self._queue.append((ts, rank, event_id, key))
        if self.persist:
            self._accepted.append(event)
        if ts > self.max_ts:
            self.max_ts = ts
            self._dirty_meta = True
        return ACCEPTED

    def release(self, prune_at: float = NEVER) -> list[ReleasedRejection]:
        """Release pending events below the watermark (rounded down to the tick) in event-time
        order into their panes; forget finished keys past their horizon; drop panes every
        window ending at or before ``prune_at`` is done with."""
        target = math.floor(self.watermark / self._tick) * self._tick if self.has_data else NEVER
        if target <= self.released_through:
            return []
        rejections: list[ReleasedRejection] = []
        touched: set[str] = set()
        builders: dict[int, PaneBuilder] = {}
        keys, observe = self.keys, self._observe
        observed: list[Observation] = []  # counted at once, in this order
        due = self._due(target)
        self.pending_count -= len(due)
        for entry in due:
            key = entry[3]
            state = keys[key]
            event = state.pending.pop(0)
            touched.add(key)
            try:
                observed += observe(state, event)
            except Rejection as rejection:
                rejections.append(ReleasedRejection(event, rejection.reason, rejection.detail))
        self._count(observed, builders)
        for start, builder in builders.items():
            pane = builder.freeze()
            old = self.panes.get(start)
            self.panes[start] = pane if old is None else old.merged(pane)
            self._no_pane_before = min(self._no_pane_before, start)
            self.changed_panes.add(start)
            if self.persist:
                self._dirty_panes.add(start)
        for key in touched:
            state = keys[key]
            if state.finished:
                if not state.done:
                    del keys[key]
                else:
                    state.until = target + self._horizon
                    heapq.heappush(self._expiry, (state.until, key))
        self._expire(target)
        self.released_through = target
        self._dirty_meta = True
        if self.persist:
            self._dirty_keys |= touched
        self.prune(prune_at)
        return rejections

    def _due(self, target: float) -> list[tuple[float, int, str, str]]:
        """The queue's entries before ``target``, in release order (taken off the queue)."""
        queue = self._queue
        queue.sort()
        split = bisect.bisect_left(queue, target, key=_event_time)
        due = queue[:split]
        del queue[:split]
        return due

    def _count(self, observations: list[Observation], builders: dict[int, PaneBuilder]) -> None:
        """Count a release's observations in their panes, each in its cell's row: the pane
        arithmetic (``PaneGrid.pane_start``), the cell look-up and ``Layout.observe`` are
        written out here, one call a release instead of five an observation."""
        pane, ids, updates = self._grid.pane, self.cells.ids, self._layout.updates
        for obs in observations:
            start = math.floor(obs.ts / pane) * pane
            builder = builders.get(start)
            if builder is None:
                builder = builders[start] = PaneBuilder(start, self._layout.width)
            cell = ids.get(obs.dims)
            if cell is None:
                cell = self.cells.cell(obs.dims)
            row = builder.rows.get(cell)
            if row is None:
                row, samples = builder.cell(cell)
            else:
                samples = builder.samples[cell]
            row[OBSERVATIONS] += 1
            for update, slots in updates[obs.kind]:
                update(obs, row, samples, slots)

    def _expire(self, target: float) -> None:
        """Forget finished keys whose de-duplication horizon has passed. A copy of one of their
        events arriving later is behind ``released_through``: late, still never counted twice."""
        while self._expiry and self._expiry[0][0] <= target:
            _, key = heapq.heappop(self._expiry)
            state = self.keys.get(key)
            if state is not None and state.finished and state.until <= target:
                del self.keys[key]
                if self.persist:
                    self._dirty_keys.add(key)

    def _observe(self, state: _KeyState, event: Event) -> list[Observation]:
        if event.kind in {"csat", "nps"}:
            state.done[event.event_id] = fingerprint(event)
            return [apply_survey(event)]
        before = state.ticket
        if before is None:
            old_dims, was_open = None, False
        else:
            old_dims, was_open = before.dims, before.open
        after, observations = apply_ticket_event(before, event, self._policy)
        state.ticket = after
        if after is None:
            is_open = False
            if before is not None:  # closed: its ids outlive it for a while
                state.done.update(before.event_ids)
                self.tickets -= 1
        else:
            is_open = after.open
            if before is None:
                self.tickets += 1
            if after.dims is not old_dims:
                # The cell's own Dims: equal dims are then the same object.
                after.dims = self.cells.shared(after.dims)
        # Backlog is a level: move the ticket between cells as it opens, closes or moves.
        if was_open != is_open or (is_open and after is not None and after.dims is not old_dims):
            cells = self.cells
            if was_open and old_dims is not None:
                self.backlog[cells.cell(old_dims)] -= 1
            if is_open and after is not None:
                self.backlog[cells.cell(after.dims)] += 1
            self._scope_backlog = None
        return observations

    def prune(self, prune_at: float) -> None:
        """Drop panes that every window ending at or before ``prune_at`` is done with."""
        if prune_at == NEVER:
            return
        oldest_needed = self._grid.needed_after(prune_at)
        if oldest_needed <= self._no_pane_before:
            return
        for start in [s for s in self.panes if s < oldest_needed]:
            del self.panes[start]
            self.changed_panes.discard(start)
            if self.persist:
                self._dirty_panes.add(start)
        self._no_pane_before = oldest_needed

    def take_changed_panes(self) -> set[int]:
        changed, self.changed_panes = self.changed_panes, set()
        return changed

    # --- reading --------------------------------------------------------------------------------

    def backlog_rows(self) -> npt.NDArray[np.int64]:
        """Open tickets per scope row (as many rows as there were scopes when computed), at this
        partition's watermark: computed again only after the backlog moved, with a few array
        operations over the cells holding open tickets; not to be changed by the caller."""
        if self._scope_backlog is not None:
            return self._scope_backlog
        open_cells = [(cell, n) for cell, n in self.backlog.items() if n]
        cells = np.array([cell for cell, _ in open_cells], dtype=np.int64)
        counts = np.array([n for _, n in open_cells], dtype=np.int64)
        rows, of_cell = self.cells.expand(cells)
        totals = np.zeros(len(self.cells.scopes.scopes), dtype=np.int64)
        np.add.at(totals, rows, counts[of_cell])
        self._scope_backlog = totals
        return totals

    def backlog_by_scope(self) -> Counter[Scope]:
        """Open tickets per scope with any, at this partition's watermark."""
        return self.cells.scopes.counted(self.backlog_rows())

    # --- persistence ----------------------------------------------------------------------------

    def drain_writes(self) -> list[tuple[str, bytes | None]]:
        """The encoded value (None: deleted) of every key, pane and the progress changed since
        the last call."""
        writes: list[tuple[str, bytes | None]] = [(k, None) for k in self._legacy_keys]
        self._legacy_keys = []
        tag = self.tag
        for key in self._dirty_keys:
            state = self.keys.get(key)
            value = None if state is None or not state.stored else orjson.dumps(state.to_json())
            writes.append((formats.key_key(tag, key), value))
        self._drain_accepted(writes)
        for start in self._dirty_panes:
            pane = self.panes.get(start)
            value = None if pane is None else formats.pane_bytes(pane, self._layout, self.cells)
            writes.append((formats.pane_key(tag, start), value))
        if self._dirty_meta:
            meta = {
                "max_ts": _finite(self.max_ts),
                "released_through": _finite(self.released_through),
            }
            writes.append((formats.meta_key(tag), orjson.dumps(meta)))
        self._dirty_keys, self._dirty_panes, self._dirty_meta = set(), set(), False
        return writes

    def _drain_accepted(self, writes: list[tuple[str, bytes | None]]) -> None:
        """Store the events accepted since the last drain that are still pending, as one
        record; delete the records whose events are all released."""
        released = self._released_through
        pending = [e for e in self._accepted if e.ts >= released]
        self._accepted = []
        records = self._accepted_records
        if pending:
            number = self._next_record
            self._next_record += 1
            heapq.heappush(records, (max(e.ts for e in pending), number))
            writes.append(
                (formats.accepted_key(self.tag, number), formats.encode_accepted(pending))
            )
        while records and records[0][0] < released:
            _, number = heapq.heappop(records)
            writes.append((formats.accepted_key(self.tag, number), None))

    def restore(self, items: Iterable[tuple[str, Any]]) -> None:
        """Rebuild memory from this partition's stored items (keys carrying this tag, values
        decoded from JSON). Format-1 items, and keys stored with their pending events, are
        converted and written again in this format with the next drain."""
        prefix = self.tag + "|"
        old: list[tuple[str, Any]] = []
        accepted: list[list[Event]] = []
        for key, value in items:
            if not key.startswith(prefix):
                continue
            kind, _, rest = key[len(prefix) :].partition("|")
            if kind == "key":
                self._restore_key(rest, value)
            elif kind == "accepted":
                accepted.append(self._restore_accepted(int(rest), value))
            elif kind == "pane":
                self.panes[int(rest)] = formats.decode_pane(value, self._layout, self.cells)
                self._no_pane_before = -math.inf
            elif kind == "meta":
                self.max_ts = _or_never(value["max_ts"])
                self.released_through = _or_never(value["released_through"])
            else:
                old.append((key, value))
        if old:
            self._convert(old)
        self._pend(accepted)
        self._index_keys()

    def _restore_key(self, record_key: str, value: dict[str, Any]) -> None:
        state = self.keys[record_key] = _KeyState.from_json(value)
        if state.pending:  # stored with the key before: stored apart from now on
            self._accepted += state.pending
            self._dirty_keys.add(record_key)

    def _restore_accepted(self, number: int, value: dict[str, Any]) -> list[Event]:
        events = formats.decode_accepted(value)
        newest = max((e.ts for e in events), default=NEVER)
        heapq.heappush(self._accepted_records, (newest, number))
        self._next_record = max(self._next_record, number + 1)
        return events

    def _index_keys(self) -> None:
        """The queue, expiry heap, ticket count and backlog of the restored keys."""
        for key, state in self.keys.items():
            for event in state.pending:
                self._queue.append((*_sort_key(event), key))
                self.max_ts = max(self.max_ts, event.ts)
            self.pending_count += len(state.pending)
            if state.finished and state.done:
                heapq.heappush(self._expiry, (state.until, key))
            ticket = state.ticket
            if ticket is not None:
                self.tickets += 1
                ticket.dims = self.cells.shared(ticket.dims)
                if ticket.open:
                    self.backlog[self.cells.cell(ticket.dims)] += 1
                    self._scope_backlog = None

    def _pend(self, accepted: list[list[Event]]) -> None:
        """Put the stored accepted events not yet released back into their keys' pending
        lists, in release order (a key's list is kept sorted)."""
        released = self._released_through
        touched: set[str] = set()
        for events in accepted:
            for event in events:
                if event.ts < released:
                    continue
                state = self.keys.get(event.key)
                if state is None:
                    state = self.keys[event.key] = _KeyState()
                state.pending.append(event)
                touched.add(event.key)
        for key in touched:
            self.keys[key].pending.sort(key=_sort_key)

    def _convert(self, items: list[tuple[str, Any]]) -> None:
        converted = legacy.convert(self.tag, items, self._layout, self.cells)
        for record_key, state in converted.keys.items():
            ks = _KeyState()
            ks.pending, ks.ticket, ks.done, ks.until = state
            self.keys[record_key] = ks
            self._dirty_keys.add(record_key)
            self._accepted += ks.pending
        for start, pane in converted.panes.items():
            self.panes[start] = pane
            self._dirty_panes.add(start)
            self._no_pane_before = -math.inf
        if converted.meta is not None:
            self.max_ts, self.released_through = converted.meta
            self._dirty_meta = True
        self._legacy_keys = converted.old_keys


def _finite(value: float) -> float | None:
    return None if value == NEVER else value


def _or_never(value: float | None) -> float:
    return NEVER if value is None else float(value)
