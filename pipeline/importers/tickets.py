"""One contract ticket event of an imported case: the part every importer shares. Event ids
are deterministic (source, case, kind and ordinal), so importing twice counts once."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.schemas.events import (
    SCHEMA_VERSION,
    Channel,
    Priority,
    Status,
    TicketCreated,
    TicketStatusChanged,
    TicketType,
    TicketUpdate,
)

__all__ = ["TicketDims", "ticket_event"]

TicketDims = tuple[str, str, Channel, Priority]  # service, team, channel, priority


def ticket_event(
    source: str,
    case: str,
    kind: str,
    ordinal: int,
    ts_ms: int,
    dims: TicketDims,
    status: tuple[Status, str] | None = None,
) -> TicketCreated | TicketUpdate | TicketStatusChanged:
    """The ``ordinal``-th event of ``kind`` of a case; ``status``: the status moved into and
    the tool's own text, for a status move."""
    service, team, channel, priority = dims
    common = {
        "schema_version": SCHEMA_VERSION,
        "event_id": f"{source}-{case}-{kind}-{ordinal}",
        # Whole milliseconds, exactly (no float rounding): the record timestamp must match.
        "ts": datetime.fromtimestamp(ts_ms // 1000, UTC).replace(microsecond=ts_ms % 1000 * 1000),
        "ticket_id": case,
        "service": service,
        "team": team,
        "channel": channel,
        "priority": priority,
    }
    if kind == "created":
        return TicketCreated(type=TicketType.CREATED, **common)  # type: ignore[arg-type]
    if status is not None:
        moved_into, detail = status
        return TicketStatusChanged(
            type=TicketType.STATUS_CHANGED,
            status=moved_into,
            status_detail=detail,
            **common,  # type: ignore[arg-type]
        )
    return TicketUpdate(type=TicketType(kind), **common)  # type: ignore[arg-type]
