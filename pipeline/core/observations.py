"""Observations: what the lifecycle saw happen at an anchor event, with the ticket's dimensions
as of that event. KPI definitions turn observations into accumulator updates.

An observation lives for one call (the lifecycle makes it, the pane builder consumes it), so it
is a plain tuple: cheap to make on the event path.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

__all__ = ["Dims", "ObsKind", "Observation"]


class ObsKind(StrEnum):
    CREATED = "created"
    FIRST_REPLY = "first_reply"  # value: seconds from created to the first agent_reply
    INTERACTION = "interaction"  # an agent_reply; cost / handle_seconds when given
    RESOLVED = "resolved"  # value: seconds from created to this resolution
    REOPENED = "reopened"
    FIRST_ESCALATED = "first_escalated"
    CSAT = "csat"  # value: score 1..5
    NPS = "nps"  # value: score 0..10


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
