"""A partition whose unread records stopped coming is named, with the offset to read from, once
per quiet period: the worker seeks it back (Faust's fetch loop can drop a partition's last
records, and no later record then shows the hole)."""

from __future__ import annotations

from pipeline.engine.runtime import Engine
from tests.unit.core.factories import context
from tests.unit.engine.test_runtime import TOPICS, created

TP = ("tickets", 0)


def _engine() -> tuple[Engine, list[float]]:
    now = [1000.0]
    engine = Engine(context(), TOPICS)
    engine.assign([TP, ("tickets", 1)])
    engine.clock = lambda: now[0]
    engine.recover()
    return engine, now


def _record(offset: int) -> tuple[str, int, int, bytes, bytes]:
    return ("tickets", 0, offset, b"T1", created("T1", "2026-03-02T12:00:00Z", f"e{offset}"))


def test_a_lagging_partition_that_delivers_nothing_is_named_with_its_next_offset() -> None:
    engine, now = _engine()
    engine.handle_batch([_record(0), _record(1)])
    engine.end_offsets = {TP: 5, ("tickets", 1): 0}
    assert engine.unread_and_quiet(10.0) == {}  # its last record came just now
    now[0] += 9.0
    assert engine.unread_and_quiet(10.0) == {}
    now[0] += 1.0
    assert engine.unread_and_quiet(10.0) == {TP: 2}
    assert engine.unread_and_quiet(10.0) == {}  # named again only after another quiet period
    now[0] += 10.0
    assert engine.unread_and_quiet(10.0) == {TP: 2}


def test_a_partition_read_to_its_end_or_still_receiving_is_not_named() -> None:
    engine, now = _engine()
    engine.handle_batch([_record(0), _record(1)])
    engine.end_offsets = {TP: 2, ("tickets", 1): 0}
    now[0] += 60.0
    assert engine.unread_and_quiet(10.0) == {}  # read to its end: quiet, not behind
    engine.end_offsets = {TP: 9, ("tickets", 1): 0}
    engine.handle_batch([_record(2)])  # records keep coming
    now[0] += 5.0
    assert engine.unread_and_quiet(10.0) == {}
    # ("tickets", 1) has no offset known (nothing read, nothing saved): nothing to seek to.
    engine.end_offsets = {TP: 3, ("tickets", 1): 7}
    now[0] += 60.0
    assert engine.unread_and_quiet(10.0) == {}
