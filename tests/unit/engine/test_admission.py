"""Hostile records through the runtime: each gets its defined outcome (a named DLQ reason or
acceptance), and the future-timestamp guard judges by the wall clock and the stream."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pipeline.engine.admission import Admission
from pipeline.engine.runtime import Engine
from tests.unit.core.factories import context

TOPICS = {"tickets": "t-topic", "surveys": "s-topic"}
NOW = 1_780_000_000.0  # the fake wall clock (2026-05-28)


def created(ts: str = "2026-03-02T12:00:00Z", **changes: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": "e1",
        "ts": ts,
        "type": "created",
        "ticket_id": "T1",
        "service": "email",
        "team": "l1",
        "channel": "web",
        "priority": "P4",
        **changes,
    }


def runtime(max_future: float | None = 3600.0) -> Engine:
    admission = Admission(max_future=max_future, clock=lambda: NOW)
    return Engine(context(), TOPICS, admission=admission)


def reasons(rt: Engine, raw: bytes | None, key: bytes | None = b"T1") -> list[str]:
    """The DLQ reasons of one new record (the next offset of tickets/0)."""
    offset = rt.next_offsets.get(("tickets", 0), 0)
    return [d.reason for d in rt.handle("tickets", 0, offset, key, raw).dlq]  # type: ignore[arg-type]


def with_text(event: dict[str, Any], text: str) -> bytes:
    """The event's JSON with ``text`` spliced in as a raw extra member."""
    return orjson.dumps(event)[:-1] + b"," + text.encode() + b"}"


@pytest.mark.parametrize(
    ("raw", "key", "reason"),
    [
        (None, b"T1", "empty_record"),
        (b"", b"T1", "empty_record"),
        (orjson.dumps(created(comment="x" * 70_000)), b"T1", "record_too_large"),
        (b"\xc3\x28" + orjson.dumps(created()), b"T1", "invalid_encoding"),
        (bytes(range(256)), b"T1", "invalid_encoding"),
        (with_text(created(), '"x":' + "[" * 300 + "]" * 300), b"T1", "malformed_json"),
        (with_text(created(), '"x":' + "9" * 5000), b"T1", "malformed_json"),
        (orjson.dumps(created(handle_seconds=1e30)), b"T1", "invalid_field"),
        (with_text(created(), '"handle_seconds":1e400'), b"T1", "invalid_field"),
        (with_text(created(), '"cost":NaN'), b"T1", "invalid_field"),
        (with_text(created(), '"cost":-Infinity'), b"T1", "invalid_field"),
        (with_text(created(), '"cost":18446744073709551617'), b"T1", "invalid_field"),
        (
            with_text(created(), '"schema_version":18446744073709551617'),
            b"T1",
            "unsupported_schema_version",
        ),
        (orjson.dumps(created()), None, "wrong_key"),
        (orjson.dumps(created()), b"T2", "wrong_key"),
        (orjson.dumps(created("1969-07-20T20:17:00Z")), b"T1", "timestamp_before_1970"),
        (orjson.dumps(created("9999-12-31T23:59:59Z")), b"T1", "timestamp_in_future"),
        (orjson.dumps(created("10000-01-01T00:00:00Z")), b"T1", "invalid_field"),
    ],
)
def test_each_hostile_record_has_its_reason(
    raw: bytes | None, key: bytes | None, reason: str
) -> None:
    rt = runtime()
    assert reasons(rt, raw, key) == [reason]
    assert rt.rejected == {reason: 1} and not rt.cores.get(("tickets", 0), None)


def test_accepted_oddities_unknown_fields_nan_in_them_and_duplicate_members() -> None:
    rt = runtime()
    odd = with_text(created(), '"x":[[[{"deep":1e400}]]],"y":NaN,"z":' + "9" * 30)
    assert reasons(rt, odd) == []
    # A repeated member: the last value wins, as in most JSON parsers.
    twice = with_text(created(event_id="e2", ticket_id="T2"), '"service":"network"')
    assert reasons(rt, twice, b"T2") == []
    pending = rt.cores[("tickets", 0)].keys
    assert pending["T1"].pending[0].service == "email"
    assert pending["T2"].pending[0].service == "network"


def test_a_reused_event_id_with_other_content_is_rejected_and_the_first_copy_counts() -> None:
    rt = runtime()
    assert reasons(rt, orjson.dumps(created())) == []
    assert reasons(rt, orjson.dumps(created())) == []  # a redelivered copy
    assert rt.duplicates == {"tickets": 1}
    assert reasons(rt, orjson.dumps(created(team="l2"))) == ["conflicting_duplicate"]
    # Released (the ticket's ids are kept with a fingerprint while it lives): same verdicts.
    rt.handle(
        "tickets",
        0,
        5,
        b"T9",
        orjson.dumps(created("2026-03-02T14:00:00Z", ticket_id="T9", event_id="e9")),
    )
    core = rt.cores[("tickets", 0)]
    assert core.keys["T1"].ticket is not None and not core.keys["T1"].pending
    assert reasons(rt, orjson.dumps(created())) == []
    assert reasons(rt, orjson.dumps(created(priority="P1"))) == ["conflicting_duplicate"]
    assert rt.duplicates == {"tickets": 2}


def test_the_future_guard_judges_by_the_clock_and_by_the_stream() -> None:
    rt = runtime(max_future=3600.0)

    def iso(epoch: float) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(epoch, UTC).isoformat()

    def send(ts: float, n: int) -> list[str]:
        raw = orjson.dumps(created(iso(ts), ticket_id=f"T{n}", event_id=f"e{n}"))
        return [d.reason for d in rt.handle("tickets", 0, n, f"T{n}".encode(), raw).dlq]

    assert send(NOW - 86400 * 300, 1) == []  # history: always in the past of the clock
    assert send(NOW + 3500, 2) == []  # a producer clock a little fast
    assert send(NOW + 2 * 3600, 3) == ["timestamp_in_future"]  # fresh: the clock alone judges
    # A simulation running ahead of the clock: each event is close to the newest accepted one.
    ts = NOW + 3500
    for n in range(4, 12):
        ts += 3000
        assert send(ts, n) == [], n
    assert send(ts + 3700, 12) == ["timestamp_in_future"]
    assert (
        runtime(max_future=None)
        .handle("tickets", 0, 0, b"T1", orjson.dumps(created("9999-01-01T00:00:00Z")))
        .dlq
        == []
    )
