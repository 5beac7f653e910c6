"""Per-ticket lifecycle state, driven in event-time order, turning events into observations.

Events reach ``apply_ticket_event`` already sorted by event time (the partition core releases
them at the watermark), so per-ticket quantities are exactly "as of the anchor event" whatever
the arrival order was.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.events import Event, fingerprint
from pipeline.core.observations import Dims, Observation, ObsKind

__all__ = ["Rejection", "TicketState", "apply_survey", "apply_ticket_event"]


class Rejection(Exception):
    """An event that is valid on its own but not in its ticket's history."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class TicketState:
    """One ticket's lifecycle as of its newest released event."""

    __slots__ = (
        "agent_replies",
        "created_ts",
        "dims",
        "escalated",
        "event_ids",
        "first_reply_seen",
        "open",
        "reassignments",
        "reopened",
        "resolutions",
    )

    def __init__(self, created_ts: float, dims: Dims) -> None:
        self.created_ts = created_ts
        self.dims = dims  # as of the newest event (a later value updates the ticket)
        self.open = True
        self.resolutions = 0
        self.reopened = False
        self.agent_replies = 0  # before the first resolution
        self.reassignments = 0  # before the first resolution
        self.escalated = False
        self.first_reply_seen = False
        # Released events (id -> fingerprint), for de-duplication: a later copy with the same id
        # is a redelivery if its content matches, else a conflicting duplicate.
        self.event_ids: dict[str, int] = {}

    @property
    def team(self) -> str | None:
        return self.dims.team

    def to_json(self) -> dict[str, Any]:
        """The ticket as stored (see pipeline.engine.formats): named fields."""
        return {
            "created_ts": self.created_ts,
            "dims": list(self.dims),
            "open": self.open,
            "resolutions": self.resolutions,
            "reopened": self.reopened,
            "agent_replies": self.agent_replies,
            "reassignments": self.reassignments,
            "escalated": self.escalated,
            "first_reply_seen": self.first_reply_seen,
            "event_ids": self.event_ids,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TicketState:
        state = cls(float(data["created_ts"]), Dims(*data["dims"]))
        state.open = bool(data["open"])
        state.resolutions = int(data["resolutions"])
        state.reopened = bool(data["reopened"])
        state.agent_replies = int(data["agent_replies"])
        state.reassignments = int(data["reassignments"])
        state.escalated = bool(data["escalated"])
        state.first_reply_seen = bool(data["first_reply_seen"])
        state.event_ids = {str(k): int(v) for k, v in data["event_ids"].items()}
        return state


def _updated_dims(dims: Dims, event: Event) -> Dims:
    # A later value updates the ticket (e.g. team on reassigned).
    service, team, channel, priority = event.service, event.team, event.channel, event.priority
    if service is None and team is None and channel is None and priority is None:
        return dims
    return Dims(
        service if service is not None else dims.service,
        team if team is not None else dims.team,
        channel if channel is not None else dims.channel,
        priority if priority is not None else dims.priority,
    )


def apply_ticket_event(
    state: TicketState | None, event: Event
) -> tuple[TicketState | None, list[Observation]]:
    """The ticket's state after ``event`` and the observations it anchors.

    Returns ``None`` as state once the ticket is closed (nothing more is expected of it).
    Raises Rejection for events that contradict the ticket's history.
    """
    kind = event.kind
    if kind == "created":
        if state is not None:
            raise Rejection("duplicate_created", f"ticket {event.ticket_id} was already created")
        assert event.service and event.team and event.channel and event.priority
        dims = Dims(event.service, event.team, event.channel, event.priority)
        state = TicketState(event.ts, dims)
        state.event_ids[event.event_id] = fingerprint(event)
        return state, [Observation(ObsKind.CREATED, event.ts, dims)]
    if state is None:
        raise Rejection(
            "unknown_ticket", f"{kind} for ticket {event.ticket_id}, which was never created"
        )

    dims = state.dims = _updated_dims(state.dims, event)
    state.event_ids[event.event_id] = fingerprint(event)
    if kind == "agent_reply":
        observations = []
        if not state.first_reply_seen:
            state.first_reply_seen = True
            observations.append(
                Observation(ObsKind.FIRST_REPLY, event.ts, dims, event.ts - state.created_ts)
            )
        if state.resolutions == 0:
            state.agent_replies += 1
        observations.append(
            Observation(
                ObsKind.INTERACTION,
                event.ts,
                dims,
                cost=event.cost,
                handle_seconds=event.handle_seconds,
            )
        )
        return state, observations
    if kind == "reassigned":
        if state.resolutions == 0:
            state.reassignments += 1
    elif kind == "escalated":
        if not state.escalated:
            state.escalated = True
            return state, [Observation(ObsKind.FIRST_ESCALATED, event.ts, dims)]
    elif kind == "resolved":
        if not state.open:
            raise Rejection("invalid_transition", f"ticket {event.ticket_id} is already resolved")
        first = state.resolutions == 0 and not state.reopened
        fcr = (
            first and state.agent_replies <= 1 and state.reassignments == 0 and not state.escalated
        )
        state.open = False
        state.resolutions += 1
        return state, [
            Observation(ObsKind.RESOLVED, event.ts, dims, event.ts - state.created_ts, first, fcr)
        ]
    elif kind == "reopened":
        if state.open:
            raise Rejection("invalid_transition", f"ticket {event.ticket_id} is not resolved")
        state.open = True
        state.reopened = True
        return state, [Observation(ObsKind.REOPENED, event.ts, dims)]
    elif kind == "closed":
        return None, []
    return state, []


def apply_survey(event: Event) -> Observation:
    assert event.service is not None and event.score is not None
    kind = ObsKind.CSAT if event.kind == "csat" else ObsKind.NPS
    dims = Dims(event.service, event.team, event.channel, None)
    return Observation(kind, event.ts, dims, float(event.score))
