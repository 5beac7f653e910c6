"""The ServiceNow mapping (SPEC section 9) on small hand-made exports."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.importers import ImportFileError, MappingResult, map_file, parse_timestamp
from pipeline.importers.produce import to_records
from pipeline.schemas.decode import decode_ticket

HEADER = [
    "number",
    "incident_state",
    "active",
    "reassignment_count",
    "reopen_count",
    "sys_mod_count",
    "opened_at",
    "sys_updated_at",
    "contact_type",
    "category",
    "assignment_group",
    "priority",
    "resolved_at",
]
DEFAULTS = {
    "active": "true",
    "reassignment_count": "0",
    "reopen_count": "0",
    "opened_at": "29/2/2016 01:16",
    "contact_type": "Phone",
    "category": "Category 55",
    "assignment_group": "Group 56",
    "priority": "3 - Moderate",
    "resolved_at": "?",
}


def row(number: str, mod: int, state: str, updated: str, **fields: str) -> dict[str, str]:
    return {
        **DEFAULTS,
        "number": number,
        "sys_mod_count": str(mod),
        "incident_state": state,
        "sys_updated_at": updated,
        **fields,
    }


def write_csv(path: Path, rows: Sequence[dict[str, str]], header: Sequence[str] = HEADER) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(header), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: v for k, v in r.items() if k in header})
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(buffer.getvalue().encode()))
    else:
        path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def mapped(tmp_path: Path, rows: Sequence[dict[str, str]], name: str = "log.csv") -> MappingResult:
    # The lifecycle mapping; the status moves have their own tests (test_servicenow_statuses).
    return map_file(write_csv(tmp_path / name, rows), statuses=False)


def ms(text: str) -> int:
    return int(datetime.strptime(text, "%d/%m/%Y %H:%M").replace(tzinfo=UTC).timestamp() * 1000)


def timeline(result: MappingResult, number: str = "INC1") -> list[tuple[str, int]]:
    return [(e.event.type.value, e.ts_ms) for e in result.events if e.event.ticket_id == number]


def test_a_plain_lifecycle_maps_to_created_resolved_closed_at_the_right_times(
    tmp_path: Path,
) -> None:
    result = mapped(
        tmp_path,
        [
            row("INC1", 0, "New", "29/2/2016 01:23"),
            row("INC1", 2, "Resolved", "29/2/2016 08:53"),
            row("INC1", 3, "Resolved", "29/2/2016 11:29"),  # still Resolved: no new event
            row("INC1", 4, "Closed", "5/3/2016 12:00"),
        ],
    )
    assert timeline(result) == [
        ("created", ms("29/02/2016 01:16")),  # opened_at, not the first update
        ("resolved", ms("29/02/2016 08:53")),
        ("closed", ms("05/03/2016 12:00")),
    ]
    created = result.events[0].event
    assert (created.service, created.team, created.channel, created.priority) == (
        "Category 55",
        "Group 56",
        "phone",
        "P3",
    )
    assert (result.rows, result.incidents, result.skipped) == (4, 1, [])


def test_rows_are_taken_in_sys_mod_count_order_not_file_order(tmp_path: Path) -> None:
    result = mapped(
        tmp_path,
        [
            row("INC1", 3, "Closed", "5/3/2016 12:00"),
            row("INC1", 1, "Resolved", "29/2/2016 08:53"),
            row("INC1", 0, "New", "29/2/2016 01:23"),
            row("INC1", 2, "Active", "1/3/2016 09:00", reopen_count="1"),
        ],
    )
    # In log order: resolved, reopened (Active), closed: no second resolution.
    assert [kind for kind, _ in timeline(result)] == ["created", "resolved", "reopened", "closed"]


@pytest.mark.parametrize(
    ("contact_type", "channel"),
    [
        ("Phone", "phone"),
        ("IVR", "phone"),
        ("Email", "email"),
        ("Self service", "self_service"),
        ("Direct opening", "web"),
        ("?", "web"),
    ],
)
def test_channel_comes_from_contact_type(tmp_path: Path, contact_type: str, channel: str) -> None:
    result = mapped(tmp_path, [row("INC1", 0, "New", "29/2/2016 01:23", contact_type=contact_type)])
    assert result.events[0].event.channel == channel


@pytest.mark.parametrize(
    ("text", "priority"),
    [("1 - Critical", "P1"), ("2 - High", "P2"), ("3 - Moderate", "P3"), ("4 - Low", "P4")],
)
def test_priority_number_becomes_p_n(tmp_path: Path, text: str, priority: str) -> None:
    result = mapped(tmp_path, [row("INC1", 0, "New", "29/2/2016 01:23", priority=text)])
    assert result.events[0].event.priority == priority


def test_missing_dimensions_map_to_unknown(tmp_path: Path) -> None:
    result = mapped(
        tmp_path,
        [
            row("INC1", 0, "New", "29/2/2016 01:23", category="?", assignment_group="?"),
            row("INC1", 1, "Resolved", "29/2/2016 02:00", category="Category 9"),
        ],
    )
    created, resolved = (e.event for e in result.events)
    assert (created.service, created.team) == ("unknown", "unknown")
    # A later row's value updates the ticket: the resolution carries that row's dimensions.
    assert (resolved.service, resolved.team) == ("Category 9", "Group 56")


def test_reassigned_once_per_rise_of_the_count_and_not_after_a_stale_row(tmp_path: Path) -> None:
    result = mapped(
        tmp_path,
        [
            row("INC1", 0, "New", "29/2/2016 01:23"),
            row("INC1", 1, "Active", "29/2/2016 02:00", reassignment_count="1"),
            row("INC1", 2, "Active", "29/2/2016 03:00", reassignment_count="1"),
            row("INC1", 3, "Active", "29/2/2016 04:00", reassignment_count="3"),  # two at once
            row("INC1", 4, "Active", "29/2/2016 05:00", reassignment_count="0"),  # stale row
            row("INC1", 5, "Active", "29/2/2016 06:00", reassignment_count="3"),
        ],
    )
    assert timeline(result) == [
        ("created", ms("29/02/2016 01:16")),
        ("reassigned", ms("29/02/2016 02:00")),
        ("reassigned", ms("29/02/2016 04:00")),
        ("reassigned", ms("29/02/2016 04:00")),
    ]
    assert [e.event.event_id for e in result.events[1:]] == [
        "servicenow-INC1-reassigned-1",
        "servicenow-INC1-reassigned-2",
        "servicenow-INC1-reassigned-3",
    ]


def test_a_reopen_gives_a_second_resolution(tmp_path: Path) -> None:
    result = mapped(
        tmp_path,
        [
            row("INC1", 0, "New", "29/2/2016 01:23"),
            row("INC1", 1, "Resolved", "29/2/2016 08:53"),
            row("INC1", 2, "Active", "1/3/2016 10:00", reopen_count="1"),
            row("INC1", 3, "Awaiting User Info", "1/3/2016 11:00", reopen_count="1"),
            row("INC1", 4, "Resolved", "2/3/2016 09:30", reopen_count="1"),
            row("INC1", 5, "Closed", "7/3/2016 10:00", reopen_count="1"),
        ],
    )
    assert timeline(result) == [
        ("created", ms("29/02/2016 01:16")),
        ("resolved", ms("29/02/2016 08:53")),
        ("reopened", ms("01/03/2016 10:00")),
        ("resolved", ms("02/03/2016 09:30")),
        ("closed", ms("07/03/2016 10:00")),
    ]
    ids = [e.event.event_id for e in result.events]
    assert ids[1] == "servicenow-INC1-resolved-1" and ids[3] == "servicenow-INC1-resolved-2"


def test_a_row_that_is_reopened_and_resolved_again_gives_both_events(tmp_path: Path) -> None:
    result = mapped(
        tmp_path,
        [
            row("INC1", 0, "New", "29/2/2016 01:23"),
            row("INC1", 1, "Resolved", "29/2/2016 08:53"),
            row("INC1", 2, "Resolved", "1/3/2016 10:00", reopen_count="1"),
        ],
    )
    kinds = [kind for kind, _ in timeline(result)]
    assert kinds == ["created", "resolved", "reopened", "resolved"]
    # The pipeline orders same-time events resolved before reopened: 1 ms keeps the log's order.
    assert result.events[3].ts_ms == result.events[2].ts_ms + 1
    assert result.adjusted == {"same_minute_order": [4]}


def test_an_incident_whose_first_row_is_resolved_was_resolved_there(tmp_path: Path) -> None:
    result = mapped(
        tmp_path,
        [
            row("INC1", 1, "Resolved", "29/2/2016 08:53", reassignment_count="1"),
            row("INC1", 2, "Closed", "5/3/2016 12:00", reassignment_count="1"),
        ],
    )
    assert [kind for kind, _ in timeline(result)] == ["created", "reassigned", "resolved", "closed"]


def test_only_the_final_closure_is_closed(tmp_path: Path) -> None:
    result = mapped(
        tmp_path,
        [
            row("INC1", 0, "New", "29/2/2016 01:23"),
            row("INC1", 1, "Resolved", "29/2/2016 08:53"),
            row("INC1", 2, "Closed", "5/3/2016 12:00"),
            row("INC1", 3, "Active", "6/3/2016 09:00", reopen_count="1"),
            row("INC1", 4, "Resolved", "7/3/2016 09:00", reopen_count="1"),
            row("INC1", 5, "Closed", "12/3/2016 09:00", reopen_count="1"),
            row("INC1", 6, "Closed", "12/3/2016 10:00", reopen_count="1"),
        ],
    )
    assert timeline(result) == [
        ("created", ms("29/02/2016 01:16")),
        ("resolved", ms("29/02/2016 08:53")),
        ("reopened", ms("06/03/2016 09:00")),
        ("resolved", ms("07/03/2016 09:00")),
        ("closed", ms("12/03/2016 09:00")),
    ]
    assert result.adjusted == {"closure_followed_by_reopen": [4]}


def test_events_keep_the_log_order_when_its_times_do_not(tmp_path: Path) -> None:
    result = mapped(
        tmp_path,
        [
            # Dated before the incident was opened (a real export has such rows).
            row("INC1", 0, "Active", "29/2/2016 00:50", reassignment_count="1"),
            # Resolved, then reassigned within the same minute.
            row("INC1", 1, "Resolved", "29/2/2016 08:53", reassignment_count="1"),
            row("INC1", 2, "Resolved", "29/2/2016 08:53", reassignment_count="2"),
        ],
    )
    opened = ms("29/02/2016 01:16")
    assert timeline(result) == [
        ("created", opened),
        ("reassigned", opened),  # moved forward to created
        ("resolved", ms("29/02/2016 08:53")),
        ("reassigned", ms("29/02/2016 08:53") + 1),  # after the resolution, as logged
    ]
    assert result.adjusted == {"moved_forward": [2], "same_minute_order": [4]}


def test_an_event_that_contradicts_the_lifecycle_is_not_emitted_but_counted(
    tmp_path: Path,
) -> None:
    result = mapped(
        tmp_path,
        [
            row("INC1", 0, "New", "29/2/2016 01:23"),
            row("INC1", 1, "Active", "29/2/2016 02:00", reopen_count="1"),  # never resolved
        ],
    )
    assert [kind for kind, _ in timeline(result)] == ["created"]
    assert result.adjusted == {"contradicts_lifecycle": [3]}


@pytest.mark.parametrize(
    ("fields", "reason", "detail"),
    [
        ({"incident_state": "-100"}, "invalid_state", "'-100' is not a state"),
        ({"incident_state": "?"}, "invalid_state", "'?' is not a state"),
        ({"sys_updated_at": "?"}, "missing_timestamp", "no sys_updated_at"),
        ({"opened_at": ""}, "missing_timestamp", "no opened_at"),
        ({"sys_updated_at": "31/2/2016 10:00"}, "invalid_timestamp", "sys_updated_at"),
        ({"opened_at": "2016-02-29T01:16"}, "invalid_timestamp", "opened_at"),
        ({"priority": "?"}, "missing_priority", "no priority"),
        ({"priority": "5 - Planning"}, "invalid_priority", "'5 - Planning'"),
        ({"reopen_count": "x"}, "invalid_count", "reopen_count 'x'"),
        ({"sys_mod_count": "?"}, "invalid_count", "sys_mod_count"),
        ({"number": "?"}, "missing_number", "no incident number"),
    ],
)
def test_rows_that_cannot_be_mapped_are_reported_with_line_and_reason(
    tmp_path: Path, fields: dict[str, str], reason: str, detail: str
) -> None:
    result = mapped(
        tmp_path,
        [
            row("INC1", 0, "New", "29/2/2016 01:23"),
            {**row("INC1", 1, "Active", "29/2/2016 02:00", reassignment_count="1"), **fields},
            row("INC1", 2, "Resolved", "29/2/2016 03:00", reassignment_count="1"),
        ],
    )
    assert len(result.skipped) == 1
    skipped = result.skipped[0]
    assert (skipped.line, skipped.reason) == (3, reason)
    assert detail in skipped.detail
    # The incident's other rows still count: the reassignment shows up with the next row.
    assert timeline(result)[1:] == [
        ("reassigned", ms("29/02/2016 03:00")),
        ("resolved", ms("29/02/2016 03:00")),
    ]


def test_line_numbers_count_line_breaks_inside_quoted_fields(tmp_path: Path) -> None:
    header = [*HEADER, "notes"]
    rows = [
        row("INC1", 0, "New", "29/2/2016 01:23", notes="two\nlines"),
        row("INC1", 1, "-100", "29/2/2016 02:00", notes="x"),
    ]
    result = map_file(write_csv(tmp_path / "log.csv", rows, header), statuses=False)
    assert [(s.line, s.reason) for s in result.skipped] == [(4, "invalid_state")]


def test_an_incident_without_any_mappable_row_gives_no_events(tmp_path: Path) -> None:
    result = mapped(
        tmp_path,
        [row("INC1", 0, "-100", "29/2/2016 01:23"), row("INC2", 0, "New", "29/2/2016 02:00")],
    )
    assert {e.event.ticket_id for e in result.events} == {"INC2"}
    assert result.incidents == 1


def test_events_of_all_incidents_come_in_event_time_order(tmp_path: Path) -> None:
    result = mapped(
        tmp_path,
        [
            row("INC1", 0, "New", "29/2/2016 01:23"),
            row("INC1", 1, "Resolved", "3/3/2016 08:00"),
            row("INC2", 0, "New", "1/3/2016 09:00", opened_at="1/3/2016 09:00"),
            row("INC2", 1, "Resolved", "1/3/2016 10:00", opened_at="1/3/2016 09:00"),
        ],
    )
    assert [(e.event.ticket_id, e.event.type.value) for e in result.events] == [
        ("INC1", "created"),
        ("INC2", "created"),
        ("INC2", "resolved"),
        ("INC1", "resolved"),
    ]


def _lifecycle_rows() -> list[dict[str, str]]:
    return [
        row("INC1", 0, "New", "29/2/2016 01:23", assignment_group="?"),
        row("INC1", 1, "Resolved", "29/2/2016 08:53", reassignment_count="1"),
        row("INC1", 2, "Active", "1/3/2016 10:00", reassignment_count="1", reopen_count="1"),
        row("INC1", 3, "Resolved", "1/3/2016 10:00", reassignment_count="1", reopen_count="1"),
        row("INC1", 4, "Closed", "6/3/2016 10:00", reassignment_count="1", reopen_count="1"),
        row(
            "INC2", 0, "New", "1/3/2016 11:00", opened_at="1/3/2016 10:59", priority="1 - Critical"
        ),
    ]


def test_event_ids_are_deterministic_unique_and_independent_of_the_file(tmp_path: Path) -> None:
    rows = _lifecycle_rows()
    first = map_file(write_csv(tmp_path / "a.csv", rows), statuses=False)
    again = map_file(write_csv(tmp_path / "b.csv.gz", rows), statuses=False)  # gzipped
    ids = [e.event.event_id for e in first.events]
    assert ids == [e.event.event_id for e in again.events]
    assert len(set(ids)) == len(ids) == 7
    assert [(e.event, e.ts_ms) for e in first.events] == [(e.event, e.ts_ms) for e in again.events]


def test_records_validate_against_the_contract_with_event_time_as_timestamp(
    tmp_path: Path,
) -> None:
    result = mapped(tmp_path, _lifecycle_rows())
    records = list(to_records(result.events))
    assert len(records) == len(result.events) == 7
    for offset, (record, imported) in enumerate(zip(records, result.events, strict=True)):
        event = decode_ticket(record.value, offset)  # the worker's own decoding
        assert record.key == imported.event.ticket_id.encode() == event.key.encode()
        assert record.ts_ms == imported.ts_ms == round(event.ts * 1000)
        assert event.event_id == imported.event.event_id
        assert record.topic == "tickets"


def test_timestamps_are_day_first_without_padding_in_utc() -> None:
    assert parse_timestamp("29/2/2016 01:16") == ms("29/02/2016 01:16")
    assert parse_timestamp("1/3/2016 9:05") == ms("01/03/2016 09:05")
    assert parse_timestamp("5/3/2016 12:00:30") == ms("05/03/2016 12:00") + 30_000
    for bad in ("29/2/2016", "2016-02-29 01:16", "30/2/2016 01:16", "1/13/2016 01:16"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"nope\.csv: no such file"):
        map_file(tmp_path / "nope.csv")


def test_missing_columns_are_named(tmp_path: Path) -> None:
    header = [c for c in HEADER if c not in ("reopen_count", "priority")]
    path = write_csv(tmp_path / "log.csv", [row("INC1", 0, "New", "29/2/2016 01:23")], header)
    with pytest.raises(ImportFileError, match=r"missing column\(s\) reopen_count, priority"):
        map_file(path)


@pytest.mark.parametrize("content", [b"", b"\x1f\x8bnot really gzip"])
def test_an_empty_or_broken_file_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "log.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=r"log\.csv: (empty file|not a readable CSV)"):
        map_file(path)


def test_blank_lines_are_not_rows_and_short_rows_have_empty_fields(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "log.csv", [row("INC1", 0, "New", "29/2/2016 01:23")])
    text = path.read_text()
    path.write_text(text + "\n" + "INC2,New,true,0,0,0,29/2/2016 01:00,29/2/2016 01:00\n\n")
    result = map_file(path, statuses=False)
    assert result.rows == 2
    assert [(s.line, s.reason) for s in result.skipped] == [(4, "missing_priority")]
