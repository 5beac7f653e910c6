"""Observations: what the lifecycle saw happen at an anchor event, with the ticket's dimensions
as of that event. KPI definitions turn observations into accumulator updates.

An observation lives for one call (the lifecycle makes it, the pane builder consumes it), so it
is a plain tuple: cheap to make on the event path.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

__all__ = ["STATUS_VISITS", "Dims", "ObsKind", "Observation", "observation"]


class ObsKind(StrEnum):
    CREATED = "created"
    FIRST_REPLY = "first_reply"  # value: seconds from created to the first agent_reply
    INTERACTION = "interaction"  # an agent_reply; cost / handle_seconds when given
    RESOLVED = "resolved"  # value: seconds from created to this resolution
    REOPENED = "reopened"
    FIRST_ESCALATED = "first_escalated"
    CSAT = "csat"  # value: score 1..5
    NPS = "nps"  # value: score 0..10
    # A status visit ended (the ticket left the status, or was resolved); value: its seconds.
    IN_NEW = "time_in:new"
    IN_QUEUED = "time_in:queued"
    IN_PROGRESS = "time_in:in_progress"
    IN_AWAITING_CUSTOMER = "time_in:awaiting_customer"
    IN_AWAITING_VENDOR = "time_in:awaiting_vendor"
    IN_AWAITING_OTHER = "time_in:awaiting_other"


# Status (pipeline.schemas.events.Status value) -> the observation kind of a visit to it.
STATUS_VISITS: dict[str, ObsKind] = {
    kind.value.removeprefix("time_in:"): kind for kind in ObsKind if kind.startswith("time_in:")
}


class Dims(NamedTuple):
    """The dimensions an observation counts under (a "cell"); None where unknown (a survey
    without a team, every survey's priority)."""

    service: str
    team: str | None = None
    channel: str | None = None
    priority: str | None = None


class Observation(NamedTuple):
    kind: ObsKind
    ts: float
    dims: Dims
    value: float = 0.0
    # RESOLVED: the first resolution (not after a reopen) and whether it met the FCR conditions.
    first_resolution: bool = False
    fcr: bool = False
    # INTERACTION: explicit cost, else agent effort in seconds (priced by channel rate).
    cost: float | None = None
    handle_seconds: float | None = None
    # RESOLVED and FIRST_REPLY: seconds on the SLA policy's clock (business time minus paused
    # time; equal to ``value`` without a policy). RESOLVED also: the business and the paused
    # seconds since created, and the ticket's handoffs (team changes) since its last resolution.
    sla_value: float = 0.0
    business: float = 0.0
    paused: float = 0.0
    handoffs: int = 0


_new_observation = tuple.__new__


def observation(  # noqa: PLR0913, PLR0917 (the named tuple's fields, one parameter each)
    kind: ObsKind,
    ts: float,
    dims: Dims,
    value: float = 0.0,
    first_resolution: bool = False,
    fcr: bool = False,
    cost: float | None = None,
    handle_seconds: float | None = None,
    sla_value: float = 0.0,
    business: float = 0.0,
    paused: float = 0.0,
    handoffs: int = 0,
) -> Observation:
    """``Observation(...)``, made from a tuple of every field: the named tuple's own __new__
    (reached through the type's call with keywords) costs about twice as much, and the
    lifecycle makes one or two observations an event."""
    return _new_observation(
        Observation,
        (
            kind,
            ts,
            dims,
            value,
            first_resolution,
            fcr,
            cost,
            handle_seconds,
            sla_value,
            business,
            paused,
            handoffs,
        ),
    )
