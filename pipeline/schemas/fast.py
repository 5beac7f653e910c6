"""The common case of decoding, without pydantic: a well-formed event decoded by msgspec into a
struct whose field types and bounds are the contract's (pipeline.schemas.events), then the
checks that span fields (required by type, score range by kind) in Python.

The contract's pydantic models stay the authority. This path only ever *accepts*, and only what
the models accept with the same values; anything it is unsure of (a field it does not check
exactly, a timestamp in a form it does not parse, a value out of range, a number msgspec cannot
read) returns None, and the record goes through the models, which accept it or say precisely
what is wrong. tests/unit/schemas/test_fast_decode.py holds the two to the same results.

Why: the models cost about 8 µs a record, most of the event path's budget; this costs about 1.1
(msgspec decodes and checks the types and bounds in one pass in C, where parsing with orjson
and checking field by field in Python cost 3.5). Refusing unknown members rather than scanning
each record for nesting first took it from 1.6.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias

import msgspec
from msgspec import Meta

from pipeline.core.events import Event
from pipeline.schemas.events import Channel, Priority, Status, TicketType

__all__ = ["fast_survey", "fast_ticket"]

# RFC 3339 with an offset, at most microseconds: the forms whose datetime.fromisoformat value is
# the models' value. Anything else (lower-case z, a space, nanoseconds, ...) is left to them.
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")
# The common form "YYYY-MM-DDTHH:MM:SSZ" read in two parts: the hour ("YYYY-MM-DDTHH:"), known
# once a whole timestamp in it passed the check above, and the minute and second ("MM:SSZ"), from
# a table of every valid one. Any valid hour with any valid minute and second is a valid
# timestamp of this form, and its value is the sum (whole seconds: exact in a float). Two
# dictionary look-ups instead of the regex and fromisoformat, which were a third of decoding.
_HOURS: dict[str, float] = {}
_MAX_HOURS = 32_768  # a stream spanning more hours starts over (the cost of a miss, no more)
_MINUTES_SECONDS = {f"{m:02d}:{s:02d}Z": m * 60.0 + s for m in range(60) for s in range(60)}
_SCORES = {"csat": (1, 5), "nps": (0, 10)}
# Events are made from a tuple of every field in order: a named tuple's own __new__ (a Python
# function taking keywords and defaults) costs three times as much, once per record.
_new_event = tuple.__new__

# The contract's field types, as msgspec states them (strict as the models are: no bool for an
# int, an int for a float, no string for a number). A member the contract does not name sends
# the record to the models: they ignore it, but only after parsing it, and they refuse what
# msgspec would skip unread (nesting hundreds of levels deep, an integer of more than 4,300
# digits). Known members are scalars, so nothing nested passes this path either.
_Name = Annotated[str, Meta(min_length=1, max_length=200)]
_EventId = Annotated[str, Meta(min_length=1, max_length=128)]
if TYPE_CHECKING:  # the values are the enums': strings to a type checker
    _Channel: TypeAlias = str
    _Priority: TypeAlias = str
    _Status: TypeAlias = str
    _TicketType: TypeAlias = str
else:  # plain strings in the event, as the models' values are
    _Channel = Literal[tuple(c.value for c in Channel)]
    _Priority = Literal[tuple(p.value for p in Priority)]
    _Status = Literal[tuple(s.value for s in Status)]
    _TicketType = Literal[tuple(t.value for t in TicketType)]


class _Ticket(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """Every member of a ticket event of any type: what one type requires and another ignores
    (``status`` outside ``status_changed``) is checked for all, and a record that fails a check
    its type would not make goes to the models, which accept it."""

    schema_version: int
    event_id: _EventId
    ts: str
    type: _TicketType
    ticket_id: _Name
    service: _Name | None = None
    team: _Name | None = None
    channel: _Channel | None = None
    priority: _Priority | None = None
    agent_id: _Name | None = None
    customer_id: _Name | None = None
    handle_seconds: Annotated[float, Meta(ge=0, le=86_400)] | None = None
    cost: Annotated[float, Meta(ge=0, le=1_000_000)] | None = None
    status: _Status | None = None
    status_detail: _Name | None = None


class _Survey(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    schema_version: int
    event_id: _EventId
    ts: str
    kind: Literal["csat", "nps"]
    score: int
    service: _Name
    ticket_id: _Name | None = None
    survey_id: _Name | None = None
    team: _Name | None = None
    channel: _Channel | None = None
    comment: Annotated[str, Meta(max_length=10_000)] | None = None


_decode_ticket = msgspec.json.Decoder(_Ticket).decode
_decode_survey = msgspec.json.Decoder(_Survey).decode


# Python refuses to convert a decimal string of more than 4,300 digits, and so do the models: a
# record this short cannot hold one, and a longer one goes to them rather than rely on msgspec
# refusing the number for its own reason (it does, out of range, for every field here).
_MAX_BYTES = 4300


def _seconds(ts: str) -> float | None:
    """The timestamp in seconds, or None when only the models can say."""
    if len(ts) == 20:
        hour = _HOURS.get(ts[:14])
        if hour is not None:
            minutes_seconds = _MINUTES_SECONDS.get(ts[14:])
            if minutes_seconds is not None:
                return hour + minutes_seconds
    if _TS.fullmatch(ts) is None:
        return None
    try:
        value = datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return None
    minutes_seconds = _MINUTES_SECONDS.get(ts[14:])
    if len(ts) == 20 and minutes_seconds is not None and ts.isascii():  # "YYYY-MM-DDTHH:MM:SSZ"
        if len(_HOURS) >= _MAX_HOURS:
            _HOURS.clear()
        _HOURS[ts[:14]] = value - minutes_seconds
    return value


def fast_ticket(raw: bytes, offset: int) -> Event | None:
    """The ticket event of ``raw``, or None to leave it to the models."""
    if len(raw) > _MAX_BYTES:
        return None
    try:
        t = _decode_ticket(raw)
    except msgspec.DecodeError:  # a ValidationError too
        return None
    kind = t.type
    if kind == "created":
        if t.service is None or t.team is None or t.channel is None or t.priority is None:
            return None
    elif kind == "status_changed" and t.status is None:
        return None
    ts = _seconds(t.ts)
    if ts is None or t.schema_version != 1:
        return None
    return _new_event(
        Event,
        (
            t.event_id,
            ts,
            kind,
            t.ticket_id,
            t.ticket_id,
            t.service,
            t.team,
            t.channel,
            t.priority,
            t.handle_seconds,
            t.cost,
            None,
            offset,
            t.status if kind == "status_changed" else None,
        ),
    )


def fast_survey(raw: bytes, offset: int) -> Event | None:
    """The survey event of ``raw``, or None to leave it to the models."""
    if len(raw) > _MAX_BYTES:
        return None
    try:
        s = _decode_survey(raw)
    except msgspec.DecodeError:  # a ValidationError too
        return None
    low, high = _SCORES[s.kind]
    score = s.score
    ts = _seconds(s.ts)
    if not low <= score <= high or ts is None or s.schema_version != 1:
        return None
    return _new_event(
        Event,
        (
            s.event_id,
            ts,
            s.kind,
            s.ticket_id or s.survey_id or s.event_id,
            s.ticket_id,
            s.service,
            s.team,
            s.channel,
            None,
            None,
            None,
            score,
            offset,
            None,
        ),
    )
