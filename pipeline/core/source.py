"""One input topic-partition's share of the pipeline: de-duplication, lateness, the reorder buffer,
the ticket lifecycle and the partial pane aggregates.

Events are accepted into a per-key pending list and released to the lifecycle in event-time order
once this partition's watermark passes them. Any event accepted later must lie at or above the
watermark (else it is late), so released events can never be preceded by a new one: results do not
depend on arrival order within the allowed lateness. Releases happen in ticks of watermark
progress so that a pane is written once per tick, not per event. The tick is one pane by default:
windows end on pane boundaries, so that closes them as early as any finer tick would.

State is kept in memory and written through to a ``StateStore`` under keys prefixed with this
partition's tag, so a Faust table changelog of the same partition can restore it.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pipeline.core.aggregate import Aggregate
from pipeline.core.context import CoreContext
from pipeline.core.events import Event, event_from_record, event_to_record
from pipeline.core.kpis import CATALOGUE_VERSION
from pipeline.core.lifecycle import Rejection, TicketState, apply_survey, apply_ticket_event
from pipeline.core.observations import Observation
from pipeline.core.scopes import Scope, scopes_of
from pipeline.core.store import StateStore

__all__ = ["Accepted", "ReleasedRejection", "SourceCore"]

NEVER = -math.inf


def _sort_key(event: Event) -> tuple[float, int, str]:
    return event.sort_key


class Accepted(Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    LATE = "late"


@dataclass(slots=True)
class ReleasedRejection:
    event: Event
    reason: str
    detail: str


@dataclass(slots=True)
class _KeyState:
    pending: list[Event] = field(default_factory=list)
    ticket: TicketState | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "p": [event_to_record(e) for e in self.pending],
            "t": self.ticket.to_json() if self.ticket else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _KeyState:
        ticket = TicketState.from_json(data["t"]) if data["t"] else None
        return cls([event_from_record(r) for r in data["p"]], ticket)

    def knows(self, event_id: str) -> bool:
        if any(e.event_id == event_id for e in self.pending):
            return True
        return self.ticket is not None and event_id in self.ticket.event_ids


class SourceCore:
    def __init__(self, source: str, partition: int, ctx: CoreContext, store: StateStore) -> None:
        self.source = source
        self.partition = partition
        self.tag = f"{source}:{partition}"
        self.store = store
        self._lateness = ctx.allowed_lateness
        self._tick = ctx.tick
        self._grid = ctx.grid
        self._breakdowns = ctx.breakdowns
        self._listeners = ctx.kpis_by_observation
        self.max_ts = NEVER
        self.released_through = NEVER
        self.keys: dict[str, _KeyState] = {}
        self._heap: list[tuple[tuple[float, int, str], str]] = []  # (sort key, record key)
        # pane start -> scope -> partial aggregate of this partition
        self.panes: dict[int, dict[Scope, Aggregate]] = {}
        self.backlog: Counter[Scope] = Counter()
        self.pending_count = 0

    # --- state keys ---------------------------------------------------------------------------

    def _key_key(self, key: str) -> str:
        return f"{self.tag}|k|{key}"

    def _pane_key(self, start: int) -> str:
        # One record per pane with every scope in it: a pane's events are all released in the
        # same tick (panes are whole ticks), so this writes each pane once, instead of once per
        # scope (tens of scopes per pane).
        return f"{self.tag}|p{CATALOGUE_VERSION}|{start}"

    def _pane_value(self, start: int) -> dict[str, Any]:
        return {scope.encode(): agg.to_json() for scope, agg in self.panes[start].items()}

    def _meta_key(self) -> str:
        return f"{self.tag}|m"

    # --- time -----------------------------------------------------------------------------------

    @property
    def watermark(self) -> float:
        return self.max_ts - self._lateness

    @property
    def has_data(self) -> bool:
        return self.max_ts != NEVER

    # --- input ----------------------------------------------------------------------------------

    def accept(self, event: Event, frontier: float = NEVER) -> Accepted:
        """Take one validated event. ``frontier`` is the end up to which windows are already
        closed (by every partition); an event before it could no longer be counted."""
        state = self.keys.get(event.key)
        if state is not None and state.knows(event.event_id):
            return Accepted.DUPLICATE
        if event.ts < self.watermark or event.ts < frontier or event.ts < self.released_through:
            return Accepted.LATE
        if state is None:
            state = self.keys[event.key] = _KeyState()
        # Kept in event-time order, so release takes the head without sorting again.
        bisect.insort(state.pending, event, key=_sort_key)
        self.pending_count += 1
        heapq.heappush(self._heap, (event.sort_key, event.key))
        self.store.put(self._key_key(event.key), state.to_json())
        if event.ts > self.max_ts:
            self.max_ts = event.ts
        return Accepted.ACCEPTED

    def release(self, frontier: float = NEVER) -> list[ReleasedRejection]:
        """Release pending events below the watermark (rounded down to the tick) in event-time
        order; write touched keys, changed panes and this partition's progress."""
        target = math.floor(self.watermark / self._tick) * self._tick if self.has_data else NEVER
        if target <= self.released_through:
            return []
        rejections: list[ReleasedRejection] = []
        touched: set[str] = set()
        dirty: set[int] = set()  # pane starts
        while self._heap and self._heap[0][0][0] < target:
            _, key = heapq.heappop(self._heap)
            state = self.keys[key]
            event = state.pending.pop(0)
            self.pending_count -= 1
            touched.add(key)
            try:
                for obs in self._observe(state, event):
                    self._aggregate(obs, dirty)
            except Rejection as rejection:
                rejections.append(ReleasedRejection(event, rejection.reason, rejection.detail))
        for key in touched:
            state = self.keys[key]
            if not state.pending and state.ticket is None:
                del self.keys[key]
                self.store.delete(self._key_key(key))
            else:
                self.store.put(self._key_key(key), state.to_json())
        for start in dirty:
            self.store.put(self._pane_key(start), self._pane_value(start))
        self.released_through = target
        self.prune(frontier)
        self.store.put(self._meta_key(), {"max_ts": self.max_ts, "released": target})
        return rejections

    def _observe(self, state: _KeyState, event: Event) -> list[Observation]:
        if event.is_survey:
            return [apply_survey(event)]
        before = state.ticket
        was_open = before is not None and before.open
        old_scopes = scopes_of(before.dims, self._breakdowns) if was_open and before else []
        after, observations = apply_ticket_event(before, event)
        state.ticket = after
        # Backlog is a level: move the ticket between scopes as it opens, closes or changes team.
        for scope in old_scopes:
            self.backlog[scope] -= 1
        if after is not None and after.open:
            for scope in scopes_of(after.dims, self._breakdowns):
                self.backlog[scope] += 1
        return observations

    def _aggregate(self, obs: Observation, dirty: set[int]) -> None:
        kpis = self._listeners[obs.kind]
        start = self._grid.pane_start(obs.ts)
        by_scope = self.panes.setdefault(start, {})
        for scope in scopes_of(obs.dims, self._breakdowns):
            agg = by_scope.get(scope)
            if agg is None:
                agg = by_scope[scope] = Aggregate()
            for kpi in kpis:
                kpi.observe(obs, agg)
        dirty.add(start)

    def prune(self, frontier: float) -> None:
        """Drop panes that every window has finished with."""
        if frontier == NEVER:
            return
        oldest_needed = self._grid.needed_after(frontier)
        for start in [s for s in self.panes if s < oldest_needed]:
            del self.panes[start]
            self.store.delete(self._pane_key(start))

    # --- reading --------------------------------------------------------------------------------

    def panes_between(self, first: int, end: int) -> Iterator[tuple[int, dict[Scope, Aggregate]]]:
        for start, by_scope in self.panes.items():
            if first <= start < end:
                yield start, by_scope

    @property
    def open_tickets(self) -> int:
        return sum(1 for s in self.keys.values() if s.ticket is not None and s.ticket.open)

    # --- recovery -------------------------------------------------------------------------------

    def restore(self, items: Iterable[tuple[str, Any]]) -> None:
        """Rebuild memory from this partition's stored items (keys carrying this tag)."""
        prefix = self.tag + "|"
        per_scope: list[tuple[str, int]] = []  # panes stored one record per scope (older layout)
        for full_key, value in items:
            if not full_key.startswith(prefix):
                continue
            kind, _, rest = full_key[len(prefix) :].partition("|")
            if kind == "k":
                self.keys[rest] = _KeyState.from_json(value)
            elif kind == f"p{CATALOGUE_VERSION}":
                start_text, _, scope_text = rest.partition("|")
                pane = self.panes.setdefault(int(start_text), {})
                if scope_text:
                    pane[Scope.decode(scope_text)] = Aggregate.from_json(value)
                    per_scope.append((full_key, int(start_text)))
                else:
                    for text, agg in value.items():
                        pane[Scope.decode(text)] = Aggregate.from_json(agg)
            elif kind == "m":
                self.max_ts = float(value["max_ts"])
                self.released_through = float(value["released"])
            # panes of another catalogue version are left alone: they never mix with these
        # Rewrite panes of the older layout as one record each.
        for full_key, _ in per_scope:
            self.store.delete(full_key)
        for start in {start for _, start in per_scope}:
            self.store.put(self._pane_key(start), self._pane_value(start))
        for key, state in self.keys.items():
            for event in state.pending:
                heapq.heappush(self._heap, (event.sort_key, key))
                self.max_ts = max(self.max_ts, event.ts)
            self.pending_count += len(state.pending)
            ticket = state.ticket
            if ticket is not None and ticket.open:
                for scope in scopes_of(ticket.dims, self._breakdowns):
                    self.backlog[scope] += 1
