"""The runtime without Kafka: bytes in, DLQ records and closed windows out."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise

import orjson
import pytest

from pipeline.core.scopes import Scope
from pipeline.engine.partition import PartitionCore
from pipeline.engine.runtime import Engine
from pipeline.kafka.partitioner import partition_for_key
from pipeline.simulate import SimConfig, generate
from tests.unit.core.factories import context

TOPICS = {"tickets": "t-topic", "surveys": "s-topic"}


def created(ticket_id: str, ts: str, event_id: str) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": event_id,
            "ts": ts,
            "type": "created",
            "ticket_id": ticket_id,
            "service": "email",
            "team": "l1",
            "channel": "web",
            "priority": "P4",
        }
    )


def test_bad_records_go_to_the_dlq_with_where_they_came_from() -> None:
    rt = Engine(context(), TOPICS)
    out = rt.handle("tickets", 2, 41, b"k", b"{oops")
    (dlq,) = out.dlq
    assert (dlq.reason, dlq.topic, dlq.partition, dlq.offset, dlq.value) == (
        "malformed_json",
        "t-topic",
        2,
        41,
        b"{oops",
    )
    headers = dict(dlq.headers())
    assert headers["dlq.reason"] == b"malformed_json" and headers["dlq.offset"] == b"41"
    assert rt.rejected == {"malformed_json": 1} and rt.received == {"tickets": 1}


def test_late_and_duplicate_events() -> None:
    rt = Engine(context(), TOPICS)
    assert not rt.handle("tickets", 0, 0, b"a", created("a", "2026-03-02T12:00:00Z", "e1")).dlq
    assert not rt.handle("tickets", 0, 1, b"a", created("a", "2026-03-02T12:00:00Z", "e1")).dlq
    assert rt.duplicates == {"tickets": 1}
    late = rt.handle("tickets", 0, 2, b"b", created("b", "2026-03-02T11:49:59Z", "e2"))
    assert [d.reason for d in late.dlq] == ["late"]
    # the same time in another partition is not late: watermarks are per partition
    assert not rt.handle("tickets", 1, 0, b"b", created("b", "2026-03-02T11:49:59Z", "e2")).dlq


def test_a_record_that_breaks_processing_is_dead_lettered_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = Engine(context(), TOPICS)

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(rt, "_core", broken)
    out = rt.handle("tickets", 0, 7, b"a", created("a", "2026-03-02T12:00:00Z", "e1"))
    assert [(d.reason, d.detail) for d in out.dlq] == [("processing_error", "RuntimeError: boom")]
    assert rt.rejected == {"processing_error": 1}


def test_windows_close_only_when_every_assigned_partition_is_accounted_for() -> None:
    rt = Engine(context(), TOPICS)
    rt.assign([("tickets", 0), ("tickets", 1)])
    for i, ts in enumerate(["2026-03-02T10:00:00Z", "2026-03-02T13:00:00Z"]):
        out = rt.handle("tickets", 0, i, f"a{i}".encode(), created(f"a{i}", ts, f"e{i}"))
    assert out.windows == []  # partition 1: end offset unknown, might hold older events
    rt.end_offsets = {("tickets", 0): 2, ("tickets", 1): 0}  # partition 1 is empty
    assert rt.close_windows()


def test_tickets_held_are_counted_as_they_open_and_close() -> None:
    """``kpi_tickets_tracked`` reads a count kept per partition, not a scan of its keys, and
    ``kpi_backlog_tickets`` a per-scope backlog computed again only when it moved: on a
    simulated stream (tickets created, resolved, closed and forgotten) both agree with the
    tickets held all the way."""
    config = SimConfig(
        seed=3,
        start=datetime(2026, 2, 2, tzinfo=UTC),
        duration=None,
        n_events=6000,
        tickets_per_hour=20.0,  # days of events: tickets are closed a day after resolution
    )
    records = [
        (r.topic, partition_for_key(r.key, 4), i, r.key, r.value)
        for i, r in enumerate(generate(config))
    ]
    engine = Engine(context(), topics=TOPICS)
    held = []
    for i in range(0, len(records), 300):
        engine.handle_batch(records[i : i + 300])
        everywhere: Counter[Scope] = Counter()
        for core in engine.cores.values():
            assert core.tickets == sum(1 for s in core.keys.values() if s.ticket is not None)
            assert core.backlog_by_scope() == _open_by_scope(core)
            everywhere += _open_by_scope(core)
        assert engine.backlog() == everywhere
        held.append(sum(core.tickets for core in engine.cores.values()))
    # Tickets were taken in and let go of.
    assert max(held) > 0 and any(b < a for a, b in pairwise(held))


def _open_by_scope(core: PartitionCore) -> Counter[Scope]:
    """Open tickets per scope, from the tickets held."""
    found: Counter[Scope] = Counter()
    scopes = core.cells.scopes.scopes
    for state in core.keys.values():
        if state.ticket is not None and state.ticket.open:
            for row in core.cells.scope_rows[core.cells.cell(state.ticket.dims)].tolist():
                found[scopes[row]] += 1
    return found
