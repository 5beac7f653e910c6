"""How long the worker takes to get back to work after partitions are assigned (at start-up,
after a crash, after a rebalance): Faust restores the table from its changelog topic, then the
runtime rebuilds its in-memory state from the table. Reported on /metrics and in the log,
with how much of the changelogs the restore had to read."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["RecoveryTimer"]

log = logging.getLogger(__name__)


class RecoveryTimer:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = Gauge(
            "kpi_recovery_seconds",
            "Duration of the latest recovery: from partitions assigned to state ready "
            "(changelog restore plus state rebuild)",
            ["phase"],
            registry=registry,
        )
        self.recoveries = Counter(
            "kpi_recoveries",
            "Recoveries of table state since the worker started",
            registry=registry,
        )
        self.changelog_records = Gauge(
            "kpi_recovery_changelog_records",
            "Changelog records the latest recovery had to read: from where the local copy of "
            "each owned table partition ends (its start with the memory store) to the end",
            registry=registry,
        )
        self._assigned_at: float | None = None

    def assigned(self) -> None:
        self._assigned_at = time.monotonic()

    def restored(self, rebuild: Callable[[], int]) -> None:
        """The changelog restore is done: rebuild the runtime's state now (``rebuild`` returns
        how many input partitions it holds) and report both phases."""
        if self._assigned_at is None:  # a second completion signal for the same assignment
            return
        restored_at = time.monotonic()
        partitions = rebuild()
        done = time.monotonic()
        total, changelog = done - self._assigned_at, restored_at - self._assigned_at
        self.seconds.labels("total").set(total)
        self.seconds.labels("changelog").set(changelog)
        self.seconds.labels("rebuild").set(done - restored_at)
        self.recoveries.inc()
        self._assigned_at = None
        log.info(
            "recovered the state of %d input partitions in %.2fs "
            "(changelog restore %.2fs, state rebuild %.2fs)",
            partitions,
            total,
            changelog,
            done - restored_at,
        )
