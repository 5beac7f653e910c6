"""When a worker has nothing left in hand: every record of its input partitions read, released
into windows, and every window that can close closed and delivered (or, where windows close on
another worker, its panes acknowledged by the broker).

On a finite stream (an import, a simulation that has stopped) that is the moment to read the
results: the worker logs it once per change and exports it as ``kpi_caught_up`` (1/0), and
``worker --exit-when-caught-up`` stops there. Records younger than the allowed lateness (plus
``time.max_producer_delay`` and ``time.idle_timeout``) are held until the wall clock has passed
them, and windows that have not ended yet cannot close: a worker on live input is caught up
only in quiet moments, and a window such as today's 24h one is delivered when it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline.engine.progress import NEVER
from pipeline.engine.runtime import Engine

__all__ = ["CaughtUp", "is_caught_up"]

log = logging.getLogger(__name__)


def is_caught_up(engine: Engine, delivering: bool = False) -> bool:
    """See the module docstring; ``delivering``: outputs are on their way to the broker, not
    yet acknowledged. False before the worker owns anything or knows the end offsets of its
    partitions."""
    if delivering or (not engine.assigned and not engine.closes_windows):
        return False
    for tp in engine.assigned:
        end = engine.end_offsets.get(tp)
        if end is None or engine.next_offsets.get(tp, 0) < end:
            return False  # records left to read
        core = engine.cores.get(tp)
        if core is not None and core.pending_count:
            return False  # events still held back by the watermark
    if not engine.closes_windows:
        return True
    frontier = engine.frontier()
    closed = engine.closer.closed_through
    # A spec that has closed nothing yet starts at the first window with data.
    return not any(
        NEVER < closed[spec.name] < spec.last_end_at(frontier) for spec in engine.ctx.windows
    )


class CaughtUp(Collector):
    """``kpi_caught_up`` as of the last ``check`` (the worker's refresh timer, every second,
    right after it closed what could close), and the "caught up" log line."""

    def __init__(
        self,
        engine: Engine,
        registry: CollectorRegistry | None = None,
        delivering: Callable[[], bool] = lambda: False,
    ) -> None:
        self.engine = engine
        self.delivering = delivering
        self.state = False
        self._logged: int | None = None  # records read when "caught up" was last logged
        if registry is not None:
            registry.register(self)

    def check(self) -> bool:
        """Whether the worker is caught up now; logs it once per batch of new records (on
        quiet live input it turns 0 for a moment whenever a window becomes due)."""
        engine = self.engine
        now = is_caught_up(engine, self.delivering())
        received = sum(engine.received.values())
        if now and received != self._logged:
            log.info(
                "caught up: %d input records read; every window that can close is closed and "
                "delivered (through %s)",
                received,
                _when(engine.closer.frontier) if engine.closes_windows else "the closer",
            )
            self._logged = received
        self.state = now
        return now

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "kpi_caught_up",
            "1 when every input record this worker read is in closed, delivered windows (or, "
            "where windows close on another worker, in panes the broker acknowledged), and no "
            "window can close yet; 0 while there is work in hand",
            value=1.0 if self.state else 0.0,
        )


def _when(at: float) -> str:
    if at == NEVER:
        return "no window yet"
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
