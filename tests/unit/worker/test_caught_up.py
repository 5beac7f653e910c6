"""``kpi_caught_up``: every record read is in closed, delivered windows."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry

from pipeline.engine.runtime import Engine
from pipeline.worker.caught_up import CaughtUp, is_caught_up
from tests.unit.core.factories import context
from tests.unit.engine.test_runtime import TOPICS, created

T0 = datetime.fromisoformat("2026-03-02T12:00:00+00:00").timestamp()


def _engine(now: float) -> Engine:
    engine = Engine(context(), TOPICS)
    engine.assign([("tickets", 0)])
    engine.confirms_delivery = True
    engine.idle_timeout = 60.0
    engine.clock = lambda: now
    return engine


def _step(engine: Engine) -> None:
    """What the worker's refresh timer does, with every output acknowledged at once."""
    out = engine.idle()
    out.extend(engine.close())
    engine.delivered(out.closed_through)


def test_caught_up_only_once_read_released_closed_and_delivered() -> None:
    registry = CollectorRegistry()
    engine = _engine(T0 + 3600)
    gauge = CaughtUp(engine, registry)
    assert not gauge.check()  # end offsets not known yet
    engine.end_offsets = {("tickets", 0): 2}
    engine.handle("tickets", 0, 0, b"a", created("a", "2026-03-02T12:00:00Z", "e1"))
    assert not gauge.check()  # one record left to read
    engine.handle("tickets", 0, 1, b"b", created("b", "2026-03-02T12:01:00Z", "e2"))
    assert not gauge.check()  # read, but the watermark holds the events back
    assert registry.get_sample_value("kpi_caught_up") == 0.0
    engine.clock = lambda: T0 + 3 * 86400  # idle for days: the watermark follows the clock
    out = engine.idle()  # releases, and closes what that makes final
    out.extend(engine.close())
    assert out.windows and engine.closer.frontier > T0 + 86400  # both specs past the events
    gauge.delivering = lambda: True
    assert not gauge.check()  # closed, not yet delivered
    gauge.delivering = lambda: False
    assert gauge.check()
    assert registry.get_sample_value("kpi_caught_up") == 1.0
    # A window that is final but not closed yet is work in hand.
    closed = engine.closer.closed_through["1h"]
    engine.closer.closed_through["1h"] = closed - 300
    assert not gauge.check()
    engine.closer.closed_through["1h"] = closed
    assert gauge.check()
    # A new record is work in hand again.
    engine.end_offsets = {("tickets", 0): 3}
    assert not gauge.check()
    assert registry.get_sample_value("kpi_caught_up") == 0.0


def test_recent_events_wait_for_the_clock() -> None:
    engine = _engine(T0 - 3600)  # the record arrives an hour before ...
    engine.end_offsets = {("tickets", 0): 1}
    engine.handle("tickets", 0, 0, b"a", created("a", "2026-03-02T12:00:00Z", "e1"))
    # ... and now it is two minutes after the event (within the lateness), idle long enough.
    engine.clock = lambda: T0 + 120
    _step(engine)
    assert not is_caught_up(engine)
    engine.clock = lambda: T0 + 3600
    _step(engine)
    assert is_caught_up(engine)  # the 24h window is still open: nothing can close yet


def test_a_worker_without_partitions_is_not_caught_up() -> None:
    engine = Engine(context(), TOPICS)
    engine.closes_windows = False
    assert not is_caught_up(engine)
