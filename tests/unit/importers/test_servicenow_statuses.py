"""ServiceNow status moves (``statuses=True``): incident_state -> status_changed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pipeline.importers import map_file
from tests.unit.importers.test_servicenow import ms, row, write_csv
from tests.unit.importers.test_servicenow import timeline as lifecycle


def moves(path: Path) -> list[tuple[str, str | None, str | None, int]]:
    return [
        (
            e.event.type.value,
            getattr(e.event, "status", None),
            getattr(e.event, "status_detail", None),
            e.ts_ms,
        )
        for e in map_file(path, statuses=True).events
    ]


def test_each_move_into_another_status_is_one_status_changed(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "log.csv",
        [
            row("INC1", 0, "New", "29/2/2016 01:23"),
            row("INC1", 1, "Active", "29/2/2016 02:00"),
            row("INC1", 2, "Awaiting User Info", "29/2/2016 03:00"),
            row("INC1", 3, "Awaiting Problem", "29/2/2016 04:00"),
            row("INC1", 4, "Awaiting Evidence", "29/2/2016 05:00"),  # awaiting_other again
            row("INC1", 5, "Resolved", "29/2/2016 06:00"),
            row("INC1", 6, "Active", "29/2/2016 07:00", reopen_count="1"),
            row("INC1", 7, "Resolved", "29/2/2016 08:00", reopen_count="1"),
            row("INC1", 8, "Closed", "29/2/2016 09:00", reopen_count="1"),
        ],
    )
    opened = ms("29/02/2016 01:16")
    assert moves(path) == [
        ("created", None, None, opened),
        ("status_changed", "new", "New", opened),
        ("status_changed", "in_progress", "Active", ms("29/02/2016 02:00")),
        ("status_changed", "awaiting_customer", "Awaiting User Info", ms("29/02/2016 03:00")),
        ("status_changed", "awaiting_other", "Awaiting Problem", ms("29/02/2016 04:00")),
        ("resolved", None, None, ms("29/02/2016 06:00")),
        ("reopened", None, None, ms("29/02/2016 07:00")),
        # after the reopen in the same minute, as the log has it
        ("status_changed", "in_progress", "Active", ms("29/02/2016 07:00") + 1),
        ("resolved", None, None, ms("29/02/2016 08:00")),
        ("closed", None, None, ms("29/02/2016 09:00")),
    ]


def test_status_moves_change_no_lifecycle_event_and_no_adjustment(tmp_path: Path) -> None:
    rows = [
        row("INC1", 0, "Active", "29/2/2016 00:50", reassignment_count="1"),
        row("INC1", 1, "Resolved", "29/2/2016 08:53", reassignment_count="1"),
        row("INC1", 2, "Resolved", "29/2/2016 08:53", reassignment_count="2"),
    ]
    path = write_csv(tmp_path / "log.csv", rows)
    plain, with_statuses = map_file(path, statuses=False), map_file(path)
    assert lifecycle(plain) == [
        (kind, ts) for kind, ts in lifecycle(with_statuses) if kind != "status_changed"
    ]
    assert plain.adjusted == with_statuses.adjusted
    ids = [e.event.event_id for e in with_statuses.events]
    assert ids[1] == "servicenow-INC1-status_changed-1" and len(set(ids)) == len(ids)


def test_the_real_log_status_moves_by_state() -> None:
    from tests.uci_reference import DATASET

    result = map_file(DATASET, statuses=True)
    details = Counter(
        getattr(e.event, "status_detail", None)
        for e in result.events
        if e.event.type.value == "status_changed"
    )
    # Every incident starts New; one goes back to New later.
    assert details["New"] == result.incidents + 1 == 24_919
    assert set(details) == {
        "New",
        "Active",
        "Awaiting User Info",
        "Awaiting Vendor",
        "Awaiting Problem",
        "Awaiting Evidence",
    }
    lifecycle_only = map_file(DATASET, statuses=False)
    assert len(result.events) - sum(details.values()) == len(lifecycle_only.events)
