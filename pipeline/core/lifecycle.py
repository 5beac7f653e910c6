"""Per-ticket lifecycle state, driven in event-time order, turning events into observations.

Events reach ``apply`` already sorted by event time (the source core releases them at the
watermark), so per-ticket quantities are exactly "as of the anchor event" whatever the arrival
order was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
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


@dataclass(slots=True)
class TicketState:
    created_ts: float
    service: str
    team: str
    channel: str
    priority: str
    open: bool = True
    resolutions: int = 0
    reopened: bool = False
    agent_replies: int = 0
    reassignments: int = 0
    escalated: bool = False
    first_reply_seen: bool = False
    # Released events (id -> fingerprint), for de-duplication: a later copy with the same id is
    # a redelivery if its content matches, else a conflicting duplicate.
    event_ids: dict[str, int] = field(default_factory=dict)

    @property
    def dims(self) -> Dims:
        return Dims(self.service, self.team, self.channel, self.priority)

    def to_json(self) -> list[Any]:
        # Positional: this is written to the changelog on every event of the ticket.
        return [getattr(self, name) for name in _TICKET_FIELDS]

    @classmethod
    def from_json(cls, data: list[Any]) -> TicketState:
        state = cls(*data)
        if isinstance(state.event_ids, list):  # saved before fingerprints: content unknown (0)
            state.event_ids = dict.fromkeys(state.event_ids, 0)
        return state


_TICKET_FIELDS = tuple(f.name for f in fields(TicketState))


def _update_dims(state: TicketState, event: Event) -> None:
    # A later value updates the ticket (e.g. team on reassigned).
    if event.service is not None:
        state.service = event.service
    if event.team is not None:
        state.team = event.team
    if event.channel is not None:
        state.channel = event.channel
    if event.priority is not None:
        state.priority = event.priority


def apply_ticket_event(
    state: TicketState | None, event: Event
) -> tuple[TicketState | None, list[Observation]]:
    """The ticket's state after ``event`` and the observations it anchors.

    Returns ``None`` as state once the ticket is closed (nothing more is expected of it).
    Raises Rejection for events that contradict the ticket's history.
    """
    if event.kind == "created":
        if state is not None:
            raise Rejection("duplicate_created", f"ticket {event.ticket_id} was already created")
        assert event.service and event.team and event.channel and event.priority
        state = TicketState(event.ts, event.service, event.team, event.channel, event.priority)
        state.event_ids[event.event_id] = fingerprint(event)
        return state, [Observation(ObsKind.CREATED, event.ts, state.dims)]
    if state is None:
        raise Rejection(
            "unknown_ticket", f"{event.kind} for ticket {event.ticket_id}, which was never created"
        )

    _update_dims(state, event)
    state.event_ids[event.event_id] = fingerprint(event)
    dims = state.dims
    kind = event.kind
    observations: list[Observation] = []
    if kind == "agent_reply":
        if not state.first_reply_seen:
            state.first_reply_seen = True
            observations.append(
                Observation(ObsKind.FIRST_REPLY, event.ts, dims, value=event.ts - state.created_ts)
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
    elif kind == "reassigned":
        if state.resolutions == 0:
            state.reassignments += 1
    elif kind == "escalated":
        if not state.escalated:
            state.escalated = True
            observations.append(Observation(ObsKind.FIRST_ESCALATED, event.ts, dims))
    elif kind == "resolved":
        if not state.open:
            raise Rejection("invalid_transition", f"ticket {event.ticket_id} is already resolved")
        first = state.resolutions == 0 and not state.reopened
        fcr = (
            first and state.agent_replies <= 1 and state.reassignments == 0 and not state.escalated
        )
        state.open = False
        state.resolutions += 1
        observations.append(
            Observation(
                ObsKind.RESOLVED,
                event.ts,
                dims,
                value=event.ts - state.created_ts,
                first_resolution=first,
                fcr=fcr,
            )
        )
    elif kind == "reopened":
        if state.open:
            raise Rejection("invalid_transition", f"ticket {event.ticket_id} is not resolved")
        state.open = True
        state.reopened = True
        observations.append(Observation(ObsKind.REOPENED, event.ts, dims))
    elif kind == "closed":
        return None, observations
    return state, observations


def apply_survey(event: Event) -> Observation:
    assert event.service is not None and event.score is not None
    kind = ObsKind.CSAT if event.kind == "csat" else ObsKind.NPS
    dims = Dims(event.service, event.team, event.channel, None)
    return Observation(kind, event.ts, dims, value=float(event.score))
