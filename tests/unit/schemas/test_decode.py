"""The v1 contract: valid events decode; each kind of invalid record gets its reason and names
the field."""

from __future__ import annotations

import orjson
import pytest

from pipeline.schemas.decode import DecodeError, decode_survey, decode_ticket

CREATED = {
    "schema_version": 1,
    "event_id": "e1",
    "ts": "2026-03-02T10:00:00+01:00",
    "type": "created",
    "ticket_id": "T1",
    "service": "email",
    "team": "email-l1",
    "channel": "chat",
    "priority": "P2",
}
CSAT = {
    "schema_version": 1,
    "event_id": "s1",
    "ts": "2026-03-02T10:00:00Z",
    "kind": "csat",
    "score": 4,
    "service": "email",
    "ticket_id": "T1",
}


def encode(event: dict[str, object], **changes: object) -> bytes:
    data = {**event, **changes}
    return orjson.dumps({k: v for k, v in data.items() if v is not ...})


def test_valid_created_decodes_with_event_time_in_utc_seconds() -> None:
    event = decode_ticket(encode(CREATED))
    assert event.ts == 1772442000.0  # 09:00Z
    assert (event.kind, event.key, event.channel, event.priority) == ("created", "T1", "chat", "P2")


def test_later_ticket_events_need_no_dimensions_and_unknown_fields_are_ignored() -> None:
    raw = encode(
        {
            "schema_version": 1,
            "event_id": "e2",
            "ts": "2026-03-02T10:00:00Z",
            "type": "reassigned",
            "ticket_id": "T1",
            "team": "email-l2",
            "extra": [1],
        }
    )
    event = decode_ticket(raw)
    assert event.team == "email-l2" and event.service is None


def test_surveys_are_keyed_by_ticket_else_survey_id_else_event_id() -> None:
    assert decode_survey(encode(CSAT)).key == "T1"
    assert decode_survey(encode(CSAT, ticket_id=..., survey_id="S9")).key == "S9"
    assert decode_survey(encode(CSAT, ticket_id=...)).key == "s1"


STATUS = {
    "schema_version": 1,
    "event_id": "e3",
    "ts": "2026-03-02T11:00:00Z",
    "type": "status_changed",
    "ticket_id": "T1",
    "status": "awaiting_customer",
    "status_detail": "Accepted/Wait - User",
}


def test_a_status_move_decodes_with_its_status() -> None:
    event = decode_ticket(encode(STATUS))
    assert (event.kind, event.status, event.key) == ("status_changed", "awaiting_customer", "T1")
    # Other ticket events carry no status, and a status field on them is ignored like any extra.
    assert decode_ticket(encode(CREATED, status="queued")).status is None


@pytest.mark.parametrize(
    ("raw", "reason", "mentions"),
    [
        (encode(STATUS, status="waiting"), "unknown_status", "status"),
        (encode(STATUS, status="waiting"), "unknown_status", "waiting"),
        (encode(STATUS, status=...), "missing_field", "status"),
        (encode(STATUS, status=3), "invalid_field", "status"),
        (encode(STATUS, status_detail=""), "invalid_field", "status_detail"),
        (b"\xff\xfe{}", "invalid_encoding", "UTF-8"),
        (b'{"schema_version": 1,', "malformed_json", "JSON"),
        (b"[1, 2]", "not_an_object", "object"),
        (encode(CREATED, schema_version=2), "unsupported_schema_version", "2"),
        (encode(CREATED, schema_version=True), "unsupported_schema_version", "True"),
        (encode(CREATED, type="merged"), "unknown_type", "merged"),
        (encode(CREATED, type=...), "missing_field", "type"),
        (encode(CREATED, priority=...), "missing_field", "priority"),
        (encode(CREATED, priority="P5"), "invalid_field", "priority"),
        (encode(CREATED, channel="fax"), "invalid_field", "channel"),
        (encode(CREATED, ts="2026-03-02T10:00:00"), "invalid_field", "ts"),
        (encode(CREATED, ts=1772442000), "invalid_field", "ts"),
        (encode(CREATED, event_id=""), "invalid_field", "event_id"),
        (encode(CREATED, event_id="x" * 129), "invalid_field", "event_id"),
        (encode(CREATED, handle_seconds=-1), "invalid_field", "handle_seconds"),
    ],
)
def test_invalid_tickets_are_rejected_with_reason_and_field(
    raw: bytes, reason: str, mentions: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_ticket(raw)
    assert caught.value.reason == reason
    assert mentions in caught.value.detail


@pytest.mark.parametrize(
    ("changes", "reason", "mentions"),
    [
        ({"score": 6}, "invalid_field", "score"),
        ({"score": 0}, "invalid_field", "score"),
        ({"score": "5"}, "invalid_field", "score"),
        ({"score": 4.0}, "invalid_field", "score"),
        ({"kind": "nps", "score": 11}, "invalid_field", "score"),
        ({"kind": "ces"}, "unknown_type", "ces"),
        ({"service": ...}, "missing_field", "service"),
    ],
)
def test_invalid_surveys(changes: dict[str, object], reason: str, mentions: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_survey(encode(CSAT, **changes))
    assert (caught.value.reason, mentions in caught.value.detail) == (reason, True)


@pytest.mark.parametrize(("kind", "score"), [("csat", 1), ("csat", 5), ("nps", 0), ("nps", 10)])
def test_score_boundaries_are_valid(kind: str, score: int) -> None:
    assert decode_survey(encode(CSAT, kind=kind, score=score)).score == score
