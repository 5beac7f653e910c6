"""Importing the same export twice counts once in the pipeline: a repeated event is recognised
by its id, also once its ticket is closed (ids are kept for the de-duplication horizon)."""

from __future__ import annotations

from pathlib import Path

from pipeline.importers import map_file
from pipeline.importers.produce import to_records
from tests.uci_pipeline import run_runtime
from tests.unit.importers.test_servicenow import row, write_csv


def test_a_second_import_changes_no_kpi(tmp_path: Path) -> None:
    rows = [
        row("INC1", 0, "New", "29/2/2016 01:23"),
        row("INC1", 1, "Resolved", "29/2/2016 08:53", reassignment_count="1"),
        row("INC1", 2, "Active", "1/3/2016 10:00", reassignment_count="1", reopen_count="1"),
        row("INC1", 3, "Resolved", "1/3/2016 12:00", reassignment_count="1", reopen_count="1"),
        row("INC2", 0, "New", "1/3/2016 11:00", opened_at="1/3/2016 10:59"),
        row("INC2", 1, "Resolved", "1/3/2016 11:30", opened_at="1/3/2016 10:59"),
        row("INC2", 2, "Closed", "1/3/2016 11:40", opened_at="1/3/2016 10:59"),
        row("INC3", 0, "Resolved", "6/3/2016 10:00", opened_at="6/3/2016 09:55"),
        row("INC3", 1, "Closed", "6/3/2016 10:02", opened_at="6/3/2016 09:55"),
    ]
    records = list(
        to_records(map_file(write_csv(tmp_path / "log.csv", rows), statuses=False).events)
    )
    assert len(records) == 11

    # Hourly windows: the runtime releases pending events every pane (an hour).
    once = run_runtime(records, partitions=1, window=3600)
    twice = run_runtime(records + records, partitions=1, window=3600)

    assert once.rejected == {} and once.duplicates == 0
    resolved = [
        r for r in once.results if r.kpi == "tickets_resolved" and r.scope.breakdown == "all"
    ]
    assert sum(r.value or 0 for r in resolved) == 4.0
    assert twice.results == once.results
    # Open tickets, pending events and closed tickets (INC2, within the de-duplication
    # horizon) all know their event ids: every repeated record is a duplicate, none is late.
    assert twice.rejected == {}
    assert twice.duplicates == len(records)
