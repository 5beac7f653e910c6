"""The core's own event: a compact, framework-free record of one validated input event.

The adapters turn contract events (pydantic models) into these; the core never sees bytes or
pydantic. ``sort_key`` fixes the processing order of events with the same timestamp, so that
results never depend on arrival order. A named tuple: one is made per input record.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

import orjson

__all__ = ["KIND_RANK", "SURVEY_KINDS", "Event", "fingerprint"]

SURVEY_KINDS = frozenset({"csat", "nps"})

# Same-timestamp events are processed in lifecycle order (a ticket is created before it is replied
# to, replied to before it is resolved); surveys last.
KIND_RANK = {
    "created": 0,
    "assigned": 1,
    "reassigned": 2,
    "agent_reply": 3,
    "customer_reply": 4,
    "escalated": 5,
    "resolved": 6,
    "reopened": 7,
    "closed": 8,
    # A status move at the time of another event: after created, before it is resolved.
    "status_changed": 1,
    "csat": 9,
    "nps": 9,
}


class Event(NamedTuple):
    event_id: str
    ts: float
    kind: str  # ticket type (created, resolved, ...) or survey kind (csat, nps)
    key: str  # the record key: ticket_id, else the survey's own id
    ticket_id: str | None = None
    service: str | None = None
    team: str | None = None
    channel: str | None = None
    priority: str | None = None
    handle_seconds: float | None = None
    cost: float | None = None
    score: int | None = None
    # Where the record came from, so a rejection found later can point at the original.
    offset: int = -1
    # status_changed: the status moved into (after ``offset`` so that events without one keep
    # the fingerprint they always had).
    status: str | None = None

    @property
    def is_survey(self) -> bool:
        return self.kind in SURVEY_KINDS

    @property
    def sort_key(self) -> tuple[float, int, str]:
        return (self.ts, KIND_RANK[self.kind], self.event_id)


def fingerprint(event: Event) -> int:
    """A stable checksum of what the pipeline uses of an event (not where it was read from): a
    re-sent copy has the same one, a different event under a reused id almost surely not."""
    # orjson's text of str/float/int/None is the same in every process (unlike hash() of a
    # str), and costs a quarter of repr's. An event without a status keeps the print it had
    # before statuses existed.
    if event.status is None:
        return zlib.crc32(orjson.dumps(event[:12]))
    return zlib.crc32(orjson.dumps((*event[:12], event.status)))
