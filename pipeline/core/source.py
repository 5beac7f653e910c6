"""One input topic-partition's share of the pipeline: de-duplication, lateness, the reorder buffer,
the ticket lifecycle and the partial pane aggregates.

Events are accepted into a per-key pending list and released to the lifecycle in event-time order
once this partition's watermark passes them. Any event accepted later must lie at or above the
watermark (else it is late), so released events can never be preceded by a new one: results do not
depend on arrival order within the allowed lateness. Releases happen in ticks of watermark
progress so that a pane is written once per tick, not per event. The tick is one pane by default:
windows end on pane boundaries, so that closes them as early as any finer tick would.

State is kept in memory and written through to a ``StateStore`` under keys prefixed with this
partition's tag, so a Faust table changelog of the same partition can restore it. A release
changes many records at once (keys, panes, progress); the store makes a batch of writes durable
as a whole (see pipeline/worker/journal.py), so recovery never sees half a release.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pipeline.core.aggregate import Aggregate
from pipeline.core.context import CoreContext
from pipeline.core.events import Event, event_from_record, event_to_record, fingerprint
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
    DUPLICATE = "duplicate"  # a copy of an event already taken: not counted again
    CONFLICT = "conflict"  # an event id already taken, with other content: the first one counts
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
    # Released events whose ticket is gone (closed) or that have none (surveys): id ->
    # fingerprint, kept until ``until`` (event time) for de-duplication.
    done: dict[str, int] = field(default_factory=dict)
    until: float = NEVER

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "p": [event_to_record(e) for e in self.pending],
            "t": self.ticket.to_json() if self.ticket else None,
        }
        if self.done:
            data.update(d=self.done, u=self.until)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _KeyState:
        ticket = TicketState.from_json(data["t"]) if data["t"] else None
        pending = [event_from_record(r) for r in data["p"]]
        # A key whose ids are kept but that is not finished yet has no horizon (NEVER), which
        # JSON stores as null.
        until = data.get("u")
        return cls(pending, ticket, data.get("d") or {}, NEVER if until is None else float(until))

    @property
    def finished(self) -> bool:
        return not self.pending and self.ticket is None

    def seen(self, event: Event) -> bool | None:
        """None for a new event id; True for a copy of a known event, False for a known id
        with other content."""
        for known in self.pending:
            if known.event_id == event.event_id:
                return fingerprint(known) == fingerprint(event)
        known_print = self.done.get(event.event_id)
        if known_print is None and self.ticket is not None:
            known_print = self.ticket.event_ids.get(event.event_id)
        if known_print is not None:
            return known_print in (0, fingerprint(event))
        return None


class SourceCore:
    def __init__(self, source: str, partition: int, ctx: CoreContext, store: StateStore) -> None:
        self.source = source
        self.partition = partition
        self.tag = f"{source}:{partition}"
        self.store = store
        self._lateness = ctx.allowed_lateness
        self._tick = ctx.tick
        self._horizon = ctx.dedup_horizon
        self._grid = ctx.grid
        self._breakdowns = ctx.breakdowns
        self._listeners = ctx.kpis_by_observation
        self.max_ts = NEVER
        self.released_through = NEVER
        self.keys: dict[str, _KeyState] = {}
        self._heap: list[tuple[tuple[float, int, str], str]] = []  # (sort key, record key)
        self._expiry: list[tuple[float, str]] = []  # (until, key) of finished keys
        # pane start -> scope -> partial aggregate of this partition
        self.panes: dict[int, dict[Scope, Aggregate]] = {}
        self.backlog: Counter[Scope] = Counter()
        self.pending_count = 0
        # For a driver that hands panes on to where windows are closed (``hands_on_panes``):
        # the stored value of every pane changed since it last took them.
        self.hands_on_panes = False
        self._changed_panes: dict[int, dict[str, Any]] = {}

    # --- state keys ---------------------------------------------------------------------------

    def _key_key(self, key: str) -> str:
        return f"{self.tag}|k|{key}"

    def _pane_key(self, start: int) -> str:
        # One record per pane with every scope in it: a pane's events are all released in the
        # same tick (panes are whole ticks), so this writes each pane once, instead of once per
        # scope (tens of scopes per pane).
        return f"{self.tag}|p{CATALOGUE_VERSION}|{start}"

    def pane_value(self, start: int) -> dict[str, Any]:
        """A pane as stored: every scope's aggregate as JSON."""
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
        seen = state.seen(event) if state is not None else None
        if seen is not None:
            return Accepted.DUPLICATE if seen else Accepted.CONFLICT
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
        writes: list[tuple[str, Any]] = []  # (store key, value or None to delete)
        for key in touched:
            state = self.keys[key]
            if state.finished and not state.done:
                del self.keys[key]
                writes.append((self._key_key(key), None))
                continue
            if state.finished:
                state.until = target + self._horizon
                heapq.heappush(self._expiry, (state.until, key))
            writes.append((self._key_key(key), state.to_json()))
        writes += self._expire(target)
        for start in dirty:
            value = self.pane_value(start)
            writes.append((self._pane_key(start), value))
            if self.hands_on_panes:
                self._changed_panes[start] = value
        self.released_through = target
        writes += self._prune(frontier)
        writes.append((self._meta_key(), {"max_ts": self.max_ts, "released": target}))
        self._write(writes)
        return rejections

    def _expire(self, target: float) -> list[tuple[str, Any]]:
        """Forget finished keys whose de-duplication horizon has passed. A copy of one of their
        events arriving later is behind ``released_through``: late, still never counted twice."""
        deletes: list[tuple[str, Any]] = []
        while self._expiry and self._expiry[0][0] <= target:
            _, key = heapq.heappop(self._expiry)
            state = self.keys.get(key)
            if state is not None and state.finished and state.until <= target:
                del self.keys[key]
                deletes.append((self._key_key(key), None))
        return deletes

    def _write(self, writes: list[tuple[str, Any]]) -> None:
        for store_key, value in writes:
            if value is None:
                self.store.delete(store_key)
            else:
                self.store.put(store_key, value)

    def _observe(self, state: _KeyState, event: Event) -> list[Observation]:
        if event.is_survey:
            state.done[event.event_id] = fingerprint(event)
            return [apply_survey(event)]
        before = state.ticket
        was_open = before is not None and before.open
        old_scopes = scopes_of(before.dims, self._breakdowns) if was_open and before else []
        after, observations = apply_ticket_event(before, event)
        state.ticket = after
        if after is None and before is not None:  # closed: its ids outlive it for a while
            state.done.update(before.event_ids)
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

    def _prune(self, frontier: float) -> list[tuple[str, Any]]:
        """Drop panes that every window has finished with; returns their deletions."""
        if frontier == NEVER:
            return []
        oldest_needed = self._grid.needed_after(frontier)
        deletes: list[tuple[str, Any]] = []
        for start in [s for s in self.panes if s < oldest_needed]:
            del self.panes[start]
            self._changed_panes.pop(start, None)
            deletes.append((self._pane_key(start), None))
        return deletes

    def take_changed_panes(self) -> dict[int, dict[str, Any]]:
        """The stored value of every pane changed since the last call (see hands_on_panes)."""
        changed, self._changed_panes = self._changed_panes, {}
        return changed

    # --- reading --------------------------------------------------------------------------------

    @property
    def open_tickets(self) -> int:
        return sum(1 for s in self.keys.values() if s.ticket is not None and s.ticket.open)

    # --- recovery -------------------------------------------------------------------------------

    def restore(self, items: Iterable[tuple[str, Any]]) -> None:
        """Rebuild memory from this partition's stored items (keys carrying this tag)."""
        prefix = self.tag + "|"
        mine = {key[len(prefix) :]: value for key, value in items if key.startswith(prefix)}
        for local_key, value in mine.items():
            kind, _, rest = local_key.partition("|")
            if kind == "k":
                self.keys[rest] = _KeyState.from_json(value)
            elif kind == f"p{CATALOGUE_VERSION}":
                self.panes[int(rest)] = {
                    Scope.decode(text): Aggregate.from_json(agg) for text, agg in value.items()
                }
            elif kind == "m":
                self.max_ts = float(value["max_ts"])
                self.released_through = float(value["released"])
            # panes of another catalogue version are left alone: they never mix with these
        for key, state in self.keys.items():
            for event in state.pending:
                heapq.heappush(self._heap, (event.sort_key, key))
                self.max_ts = max(self.max_ts, event.ts)
            self.pending_count += len(state.pending)
            if state.finished and state.done:
                heapq.heappush(self._expiry, (state.until, key))
            ticket = state.ticket
            if ticket is not None and ticket.open:
                for scope in scopes_of(ticket.dims, self._breakdowns):
                    self.backlog[scope] += 1
