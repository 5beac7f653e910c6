"""The BPIC 2013 mapping on small hand-made logs, and on the real file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pipeline.importers import ImportFileError
from pipeline.importers.bpic2013 import map_file
from pipeline.importers.produce import to_records
from pipeline.schemas.decode import decode_ticket
from tests.status_reference import BPIC

HEADER = (
    "SR Number,Change Date+Time,Status,Sub Status,Activity,Involved ST,ST Level,"
    "SR Latest Impact,Product"
)


def write(path: Path, *rows: str, bom: bool = True, final_newline: bool = False) -> Path:
    """The file as published: a byte-order mark, CRLF line ends, no final newline."""
    text = "\r\n".join([HEADER, *rows]) + ("\r\n" if final_newline else "")
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def r(sr: str, ts: str, status: str, team: str = "V30", level: str = "L1", impact: str = "Medium",
      product: str = "PROD582") -> str:  # fmt: skip
    main, sub = status.split("/")
    return f"{sr},2010-03-31T{ts}+01:00,{main},{sub},{main}-{sub},{team},{level},{impact},{product}"


def timeline(path: Path) -> list[tuple[str, str | None, int]]:
    out = []
    for e in map_file(path).events:
        ev = e.event
        out.append((ev.type.value, getattr(ev, "status", None), e.ts_ms % 86_400_000))
    return out


def ms(hms: str) -> int:
    h, m, s = (int(x) for x in hms.split(":"))
    return ((h - 1) * 3600 + m * 60 + s) * 1000  # +01:00 -> UTC


def test_a_request_maps_to_statuses_escalation_reassignment_and_resolution(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "log.csv",
        r("1-1", "10:00:00", "Accepted/In Progress"),
        r("1-1", "10:30:00", "Queued/Awaiting Assignment", team="V5 3rd", level="L2"),
        r("1-1", "11:00:00", "Accepted/Wait - User", team="V5 3rd", level="L2"),
        r("1-1", "12:00:00", "Completed/Resolved", team="V5 3rd", level="L2"),
        r("1-1", "13:00:00", "Completed/Closed", team="V5 3rd", level="L2"),
    )
    assert timeline(path) == [
        ("created", None, ms("10:00:00")),
        ("status_changed", "in_progress", ms("10:00:00")),
        ("reassigned", None, ms("10:30:00")),
        ("escalated", None, ms("10:30:00")),
        ("status_changed", "queued", ms("10:30:00") + 1),  # after the escalation, as logged
        ("status_changed", "awaiting_customer", ms("11:00:00")),
        ("resolved", None, ms("12:00:00")),
        ("closed", None, ms("13:00:00")),
    ]
    created = map_file(path).events[0].event
    assert (created.service, created.team, created.channel, created.priority) == (
        "PROD582",
        "V30",
        "web",
        "P3",
    )
    detail = [getattr(e.event, "status_detail", None) for e in map_file(path).events]
    assert detail[1] == "Accepted/In Progress"


def test_in_call_is_a_resolution_and_work_after_it_a_reopen(tmp_path: Path) -> None:
    path = write(
        tmp_path / "log.csv",
        r("2", "09:00:00", "Accepted/In Progress", impact="Major"),
        r("2", "09:05:00", "Completed/In Call", impact="Major"),
        r("2", "10:00:00", "Completed/Closed", impact="Major"),  # the request goes on after it
        r("2", "11:00:00", "Accepted/In Progress", impact="Major"),
        r("2", "11:30:00", "Completed/Resolved", impact="Major"),
        r("2", "11:40:00", "Completed/Resolved", impact="Major"),  # already resolved
        r("2", "12:00:00", "Completed/Closed", impact="Major"),
        r("2", "12:10:00", "Completed/Closed", impact="Major"),
    )
    kinds = [(kind, status) for kind, status, _ in timeline(path)]
    assert kinds == [
        ("created", None),
        ("status_changed", "in_progress"),
        ("resolved", None),
        ("reopened", None),  # in_progress again: no status move
        ("resolved", None),
        ("closed", None),
    ]
    result = map_file(path)
    assert result.adjusted == {"closure_followed_by_more": [4], "resolved_while_resolved": [7]}
    assert result.events[0].event.priority == "P1"


def test_levels_move_up_one_escalation_per_move_and_l2_l3_is_left_as_it_was(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "log.csv",
        r("3", "09:00:00", "Accepted/In Progress", level="L1"),
        r("3", "09:10:00", "Accepted/In Progress", level="L2/L3"),
        r("3", "09:20:00", "Accepted/In Progress", level="L2"),
        r("3", "09:30:00", "Accepted/In Progress", level="L1"),
        r("3", "09:40:00", "Accepted/In Progress", level="L3"),
    )
    assert [k for k, _, _ in timeline(path)].count("escalated") == 2
    assert map_file(path).adjusted == {"ambiguous_level": [3]}


@pytest.mark.parametrize(
    ("row", "reason", "detail"),
    [
        (r("4", "09:00:00", "Unmatched/Unmatched"), "unmapped_status", "'Unmatched/Unmatched'"),
        (r("", "09:00:00", "Accepted/In Progress"), "missing_number", "SR Number"),
        (r("4", "09:00:00", "Accepted/In Progress", level="L4"), "invalid_level", "'L4'"),
        (r("4", "09:00:00", "Accepted/In Progress", impact="Huge"), "invalid_impact", "'Huge'"),
        (
            "4,2010-03-31T09:00:00,Accepted,In Progress,x,V30,L1,Medium,P",
            "invalid_timestamp",
            "no UTC offset",
        ),
        ("4,yesterday,Accepted,In Progress,x,V30,L1,Medium,P", "invalid_timestamp", "yesterday"),
    ],
)
def test_rows_that_cannot_be_mapped_are_reported_with_line_and_reason(
    tmp_path: Path, row: str, reason: str, detail: str
) -> None:
    path = write(tmp_path / "log.csv", r("5", "08:00:00", "Accepted/In Progress"), row)
    result = map_file(path)
    (skipped,) = result.skipped
    assert (skipped.line, skipped.reason) == (3, reason)
    assert detail in skipped.detail
    assert result.incidents == 1  # request 5 still maps


@pytest.mark.parametrize(("bom", "final_newline"), [(True, False), (False, True)])
def test_bom_crlf_and_a_missing_final_newline_read_the_same(
    tmp_path: Path, bom: bool, final_newline: bool
) -> None:
    rows = (r("6", "09:00:00", "Accepted/In Progress"), r("6", "09:05:00", "Completed/In Call"))
    published = write(tmp_path / "a.csv", *rows)
    other = write(tmp_path / "b.csv", *rows, bom=bom, final_newline=final_newline)
    assert timeline(published) == timeline(other)
    assert map_file(published).skipped == [] and len(map_file(published).events) == 3


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("SR Number,Status\r\n1,Accepted", encoding="utf-8")
    with pytest.raises(ImportFileError, match="Change Date\\+Time"):
        map_file(path)


def test_the_real_file_maps_every_row_but_the_unmatched_ones_idempotently() -> None:
    result = map_file(BPIC)
    assert (result.rows, result.incidents) == (65_533, 7_554)
    assert Counter(s.reason for s in result.skipped) == {"unmapped_status": 5}
    by_type = result.events_by_type()
    assert by_type["created"] == 7_554
    # Requests whose last row is a closure (5,573 Closed, 1 Cancelled) end with closed.
    assert by_type["closed"] == 5_574
    # 7,546 requests have a Completed/Resolved or Completed/In Call row (7,554 less 8 never
    # completed); every further resolution follows a reopen.
    resolved = {e.event.ticket_id for e in result.events if e.event.type.value == "resolved"}
    assert len(resolved) == 7_546
    assert by_type["resolved"] == len(resolved) + by_type["reopened"] - 1  # one ends reopened
    ids = [e.event.event_id for e in result.events]
    assert len(set(ids)) == len(ids)
    again = map_file(BPIC)
    assert ids == [e.event.event_id for e in again.events]
    # Every record is a valid contract event, in event-time order.
    times = [e.ts_ms for e in result.events]
    assert times == sorted(times)
    for offset, record in enumerate(to_records(result.events[:2000])):
        assert decode_ticket(record.value, offset).ts * 1000 == record.ts_ms
