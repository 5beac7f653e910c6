"""Factories for core events and contexts (hand-made sequences for unit tests)."""

from __future__ import annotations

import itertools

from pipeline.core.context import CoreContext
from pipeline.core.events import Event
from pipeline.core.windows import WindowSpec

_ids = itertools.count()
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z: an hour and day boundary
MIN = 60.0
HOUR = 3600.0


def context(**overrides: object) -> CoreContext:
    values: dict[str, object] = {
        "windows": (WindowSpec("1h", 3600, 300), WindowSpec("24h", 86400, 3600)),
        "allowed_lateness": 600.0,
        "release_tick": 60.0,
        "breakdowns": ("all", "service", "service_team"),
    }
    values.update(overrides)
    return CoreContext(**values)  # type: ignore[arg-type]


def ticket(kind: str, ticket_id: str, ts: float, **fields: object) -> Event:
    if kind == "created":
        defaults: dict[str, object] = {
            "service": "email",
            "team": "email-l1",
            "channel": "email",
            "priority": "P3",
        }
        defaults.update(fields)
        fields = defaults
    event_id = str(fields.pop("event_id", f"e{next(_ids)}"))
    return Event(event_id=event_id, ts=ts, kind=kind, key=ticket_id, ticket_id=ticket_id, **fields)  # type: ignore[arg-type]


def survey(kind: str, score: int, ts: float, service: str = "email", **fields: object) -> Event:
    event_id = str(fields.pop("event_id", f"s{next(_ids)}"))
    key = str(fields.pop("ticket_id", event_id))
    return Event(
        event_id=event_id, ts=ts, kind=kind, key=key, service=service, score=score, **fields
    )  # type: ignore[arg-type]
