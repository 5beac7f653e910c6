"""Bytes from a topic -> a core ``Event``, or a rejection with a reason and a readable detail.

Reasons (the ``reason`` label of the rejected counter and the DLQ header):
``invalid_encoding`` (not UTF-8), ``malformed_json``, ``not_an_object``,
``unsupported_schema_version``, ``unknown_type`` (unknown ticket ``type`` / survey ``kind``),
``unknown_status`` (a ``status_changed`` whose ``status`` is not in the vocabulary),
``missing_field``, ``invalid_field`` (wrong type, out of range, bad format, ``ts`` without offset).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pipeline.core.events import Event
from pipeline.schemas.events import (
    CsatSurvey,
    NpsSurvey,
    SurveyEvent,
    TicketCreated,
    TicketEvent,
    TicketStatusChanged,
    TicketUpdate,
)
from pipeline.schemas.fast import fast_survey, fast_ticket

__all__ = [
    "DECODERS",
    "DecodeError",
    "decode_survey",
    "decode_ticket",
    "survey_by_model",
    "ticket_by_model",
]

_TICKETS: TypeAdapter[TicketCreated | TicketUpdate | TicketStatusChanged] = TypeAdapter(TicketEvent)
_SURVEYS: TypeAdapter[CsatSurvey | NpsSurvey] = TypeAdapter(SurveyEvent)


@dataclass(frozen=True, slots=True)
class DecodeError(Exception):
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


def _field(loc: tuple[Any, ...]) -> str:
    # Discriminated unions put the tag first in the location ("created", "service"): drop it.
    parts = [str(p) for p in loc]
    if len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts) or "(record)"


def _classify(raw: bytes, error: ValidationError, discriminator: str) -> DecodeError:  # noqa: PLR0911 (one return per DLQ reason, in order of precedence)
    errors = error.errors(include_url=False)
    first = errors[0]
    kind = first["type"]
    if kind == "json_invalid":
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return DecodeError("invalid_encoding", f"not UTF-8: {exc.reason} at byte {exc.start}")
        return DecodeError("malformed_json", first["msg"])
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return DecodeError("not_an_object", "a record must be one JSON object")
    for err in errors:
        if err["loc"] and err["loc"][-1] == "schema_version":
            got = err.get("input")
            return DecodeError("unsupported_schema_version", f"schema_version {got!r} is not 1")
    if kind == "union_tag_invalid":
        return DecodeError("unknown_type", f"{discriminator}: {first['msg']}")
    for err in errors:
        got = err.get("input")
        if err["type"] == "enum" and err["loc"][-1:] == ("status",) and isinstance(got, str):
            return DecodeError(
                "unknown_status", f"status: {got!r} is not a status of the vocabulary"
            )
    if kind == "union_tag_not_found":
        return DecodeError("missing_field", f"{discriminator}: field required")
    details = "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in errors[:5])
    if all(e["type"] == "missing" for e in errors):
        return DecodeError("missing_field", details)
    return DecodeError("invalid_field", details)


def decode_ticket(raw: bytes, offset: int = -1) -> Event:
    fast, by_model = DECODERS["tickets"]
    return fast(raw, offset) or by_model(raw, offset)


def decode_survey(raw: bytes, offset: int = -1) -> Event:
    fast, by_model = DECODERS["surveys"]
    return fast(raw, offset) or by_model(raw, offset)


def ticket_by_model(raw: bytes, offset: int = -1) -> Event:
    """Decoding by the contract's models alone (the authority; see pipeline.schemas.fast)."""
    try:
        m = _TICKETS.validate_json(raw)
    except ValidationError as exc:
        raise _classify(raw, exc, "type") from None
    return Event(
        event_id=m.event_id,
        ts=m.ts.timestamp(),
        kind=m.type.value,
        key=m.ticket_id,
        ticket_id=m.ticket_id,
        service=m.service,
        team=m.team,
        channel=m.channel.value if m.channel else None,
        priority=m.priority.value if m.priority else None,
        handle_seconds=m.handle_seconds,
        cost=m.cost,
        offset=offset,
        status=m.status.value if isinstance(m, TicketStatusChanged) else None,
    )


def survey_by_model(raw: bytes, offset: int = -1) -> Event:
    """Decoding by the contract's models alone (the authority; see pipeline.schemas.fast)."""
    try:
        m = _SURVEYS.validate_json(raw)
    except ValidationError as exc:
        raise _classify(raw, exc, "kind") from None
    return Event(
        event_id=m.event_id,
        ts=m.ts.timestamp(),
        kind=m.kind,
        key=m.ticket_id or m.survey_id or m.event_id,
        ticket_id=m.ticket_id,
        service=m.service,
        team=m.team,
        channel=m.channel.value if m.channel else None,
        score=m.score,
        offset=offset,
    )


# Per source: the fast path, and the contract's models for what it leaves to them (the engine's
# admission takes the pair from here and calls it itself: a call a record less).
DECODERS: dict[str, tuple[Callable[[bytes, int], Event | None], Callable[[bytes, int], Event]]] = {
    "tickets": (fast_ticket, ticket_by_model),
    "surveys": (fast_survey, survey_by_model),
}
