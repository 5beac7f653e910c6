"""Version-1 event contract (SPEC section 3): ticket and survey events, strict.

Strict means no coercion: ``"5"`` is not a score, ``true`` is not a schema version, a ``ts`` without
an offset is rejected. Unknown extra fields are ignored so that producers can add fields without
breaking consumers; anything that changes meaning needs a new ``schema_version``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, field_validator

__all__ = [
    "PAUSING_BY_DEFAULT",
    "SCHEMA_VERSION",
    "Channel",
    "CsatSurvey",
    "NpsSurvey",
    "Priority",
    "Status",
    "SurveyEvent",
    "TicketCreated",
    "TicketEvent",
    "TicketStatusChanged",
    "TicketType",
    "TicketUpdate",
]

SCHEMA_VERSION = 1


class Channel(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"
    WEB = "web"
    SELF_SERVICE = "self_service"
    SOCIAL = "social"


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Status(StrEnum):
    """Where a ticket is, in the pipeline's vocabulary (the tool's own text goes in
    ``status_detail``). Resolution and closure are lifecycle events, not statuses."""

    NEW = "new"  # logged, nobody has looked at it yet
    QUEUED = "queued"  # waiting for a team or an agent to take it
    IN_PROGRESS = "in_progress"  # someone works on it
    AWAITING_CUSTOMER = "awaiting_customer"  # waiting for the customer / user
    AWAITING_VENDOR = "awaiting_vendor"  # waiting for a supplier
    AWAITING_OTHER = "awaiting_other"  # waiting for a problem, change, implementation, evidence


# The statuses that stop the SLA clock when a policy does not say otherwise.
PAUSING_BY_DEFAULT = (Status.AWAITING_CUSTOMER, Status.AWAITING_VENDOR)


class TicketType(StrEnum):
    CREATED = "created"
    ASSIGNED = "assigned"
    REASSIGNED = "reassigned"
    AGENT_REPLY = "agent_reply"
    CUSTOMER_REPLY = "customer_reply"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    STATUS_CHANGED = "status_changed"


Name = Annotated[str, Field(min_length=1, max_length=200)]
EventId = Annotated[str, Field(min_length=1, max_length=128)]
# Upper bounds keep a garbage number (1e30, an int beyond 64 bits) from swamping a mean: no
# single interaction takes more than a day of agent effort or costs a million.
HandleSeconds = Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)]
Cost = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]


class _Event(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    schema_version: StrictInt = Field(description="Contract version; always 1 here.")
    event_id: EventId = Field(description="Unique id; a re-sent event keeps its id.")
    ts: AwareDatetime = Field(description="Event time, RFC 3339 with an offset.")

    @field_validator("schema_version")
    @classmethod
    def _supported_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"schema_version {value} is not supported (expected 1)")
        return value


class _TicketBase(_Event):
    ticket_id: Name
    agent_id: Name | None = None
    customer_id: Name | None = None
    handle_seconds: HandleSeconds | None = Field(
        default=None, description="Agent effort of this interaction, in seconds (at most a day)."
    )
    cost: Cost | None = Field(
        default=None, description="Explicit cost of this interaction (at most 1,000,000)."
    )


class TicketCreated(_TicketBase):
    """The first event of a ticket: every dimension is required."""

    type: Literal[TicketType.CREATED]
    service: Name
    team: Name
    channel: Channel
    priority: Priority


class TicketUpdate(_TicketBase):
    """Any later lifecycle event; a dimension given here updates the ticket."""

    type: Literal[
        TicketType.ASSIGNED,
        TicketType.REASSIGNED,
        TicketType.AGENT_REPLY,
        TicketType.CUSTOMER_REPLY,
        TicketType.ESCALATED,
        TicketType.RESOLVED,
        TicketType.REOPENED,
        TicketType.CLOSED,
    ]
    service: Name | None = None
    team: Name | None = None
    channel: Channel | None = None
    priority: Priority | None = None


class TicketStatusChanged(_TicketBase):
    """The ticket moved into a status (additive to version 1: no other event changes)."""

    type: Literal[TicketType.STATUS_CHANGED]
    status: Status = Field(description="The status moved into, from the pipeline's vocabulary.")
    status_detail: Name | None = Field(
        default=None, description="The source tool's own status text, kept as a detail."
    )
    service: Name | None = None
    team: Name | None = None
    channel: Channel | None = None
    priority: Priority | None = None


TicketEvent = Annotated[
    TicketCreated | TicketUpdate | TicketStatusChanged, Field(discriminator="type")
]


class _SurveyBase(_Event):
    service: Name
    ticket_id: Name | None = None
    survey_id: Name | None = Field(
        default=None, description="Record key when there is no ticket_id (else event_id is)."
    )
    team: Name | None = None
    channel: Channel | None = None
    comment: Annotated[str, Field(max_length=10_000)] | None = None


class CsatSurvey(_SurveyBase):
    kind: Literal["csat"]
    score: Annotated[StrictInt, Field(ge=1, le=5)]


class NpsSurvey(_SurveyBase):
    kind: Literal["nps"]
    score: Annotated[StrictInt, Field(ge=0, le=10)]


SurveyEvent = Annotated[CsatSurvey | NpsSurvey, Field(discriminator="kind")]


def event_time(ts: datetime) -> float:
    """Event time as epoch seconds (the core's time unit)."""
    return ts.timestamp()
