"""The recovery timer: both phases on /metrics, one report per assignment."""

from __future__ import annotations

import logging
import time

import pytest
from prometheus_client import CollectorRegistry

from pipeline.worker.recovery import RecoveryTimer


def test_recovery_time_is_reported_once_per_assignment(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    timer = RecoveryTimer(registry)
    rebuilt = []

    def rebuild() -> int:
        time.sleep(0.05)
        rebuilt.append(1)
        return 8

    timer.assigned()
    time.sleep(0.1)
    with caplog.at_level(logging.INFO):
        timer.restored(rebuild)
        timer.restored(rebuild)  # Faust may signal completion twice: the second is not a recovery

    def value(phase: str) -> float:
        got = registry.get_sample_value("kpi_recovery_seconds", {"phase": phase})
        assert got is not None
        return got

    assert value("changelog") >= 0.1 and value("rebuild") >= 0.05
    assert value("total") == pytest.approx(value("changelog") + value("rebuild"))
    assert registry.get_sample_value("kpi_recoveries_total") == 1
    assert rebuilt == [1]
    assert "recovered the state of 8 input partitions in" in caplog.text
