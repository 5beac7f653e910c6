"""Crash recovery on the real broker: the worker is killed with SIGKILL at seeded random moments
while a seeded stream flows, and restarted each time; table state comes back from the changelogs
and every closed window of every KPI equals the reference (nothing lost, nothing counted twice).

The two-kill run is part of the default run; the 200,000-event soak runs with ``make soak`` and
its figures are in SOAK.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.kafka import LocalBroker
from tests.integration.compare import simulated
from tests.integration.faults import run_with_kills

pytestmark = pytest.mark.integration


def test_two_sigkills_mid_stream_lose_nothing_and_count_nothing_twice(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    records = simulated(hours=14, tickets_per_hour=200, seed=42)
    assert len(records) >= 9_000
    run = run_with_kills(kafka_broker, tmp_path, "crash", records, kills=2, seed=42, rate=100)
    assert len(run.kills) == 2 and all(k["recovery"] > 0 for k in run.kills)
    print("\n" + run.summary())


@pytest.mark.soak
def test_soak_four_sigkills_during_two_hundred_thousand_events(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    records = simulated(hours=96, tickets_per_hour=360, seed=2026)
    assert len(records) >= 200_000
    # The stream must outlast four kills, each after up to 8,000 records read and a recovery
    # that replays the whole changelog (tens of seconds late in the run with the memory store).
    run = run_with_kills(
        kafka_broker,
        tmp_path,
        "soak",
        records,
        kills=4,
        seed=2026,
        rate=200,
        work_before_kill=(2000, 8000),
    )
    assert len(run.kills) == 4
    print("\n" + run.summary())
