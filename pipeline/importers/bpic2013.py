"""The BPI Challenge 2013 incident log (Volvo IT Belgium, VINST; one CSV row per status change
of a service request) as contract events.

One ticket per ``SR Number``; its rows in time order (the file's order for equal times):

- ``created`` at the first row, with service = ``Product``, team = ``Involved ST``, priority
  from ``SR Latest Impact`` (Major -> P1, High -> P2, Medium -> P3, Low -> P4); the log names no
  contact channel, so the channel is ``web`` (the contract's channel for "other");
- ``reassigned`` when ``Involved ST`` changes (the new team on it);
- ``escalated`` when ``ST Level`` moves up a line (L1 -> L2 -> L3); ``L2/L3`` names no one line,
  so such a row leaves the level as it was (and is counted);
- ``status_changed`` when ``Status/Sub Status`` maps to another status than the ticket's last
  one (``STATUS_OF_PAIR``; the pair's text is the ``status_detail``);
- ``resolved`` on ``Completed/Resolved`` and on ``Completed/In Call`` (resolved during the first
  call) when the ticket is open; a row of another status after a resolution is a ``reopened``;
- ``closed`` on the ``Completed/Closed`` (or ``Completed/Cancelled``) that the ticket never
  leaves; earlier closures (the request went on after them) are counted, not emitted.

Rows that cannot be mapped are skipped and reported with their line and reason, never guessed:
no ``SR Number``, a time that is not ISO 8601 with an offset, a ``Status/Sub Status`` outside
the mapping (``Unmatched/Unmatched``), an unknown impact or support line. The file's byte-order
mark, CRLF line ends and missing final newline are read as any CSV.

Events of one ticket keep the log's order: an event dated before the ticket's previous one is
moved forward to it, and events at the same time in an order the pipeline would apply
differently go 1 ms apart. Event ids are ``bpic2013-<SR Number>-<type>-<n>``, so importing the
same file twice counts once.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pipeline.importers.servicenow import (
    ImportedEvent,
    ImportFileError,
    MappingResult,
    Skipped,
    open_text,
)
from pipeline.importers.tickets import ticket_event
from pipeline.schemas.events import (
    Channel,
    Priority,
    Status,
)

__all__ = [
    "AMBIGUOUS_LEVEL",
    "EARLIER_CLOSURE",
    "NOT_OPEN",
    "PRIORITY_OF_IMPACT",
    "REQUIRED_COLUMNS",
    "STATUS_OF_PAIR",
    "map_file",
    "map_rows",
]

SOURCE = "bpic2013"
REQUIRED_COLUMNS = (
    "SR Number",
    "Change Date+Time",
    "Status",
    "Sub Status",
    "Involved ST",
    "ST Level",
    "SR Latest Impact",
    "Product",
)
STATUS_OF_PAIR = {
    "Queued/Awaiting Assignment": Status.QUEUED,
    "Accepted/Assigned": Status.QUEUED,  # accepted by a team, waiting for its agent to start
    "Accepted/In Progress": Status.IN_PROGRESS,
    "Accepted/Wait - User": Status.AWAITING_CUSTOMER,
    "Accepted/Wait - Customer": Status.AWAITING_CUSTOMER,
    "Accepted/Wait - Vendor": Status.AWAITING_VENDOR,
    "Accepted/Wait - Implementation": Status.AWAITING_OTHER,
    "Accepted/Wait": Status.AWAITING_OTHER,  # a wait the log does not explain
}
_RESOLVED = frozenset({"Completed/Resolved", "Completed/In Call"})
_CLOSED = frozenset({"Completed/Closed", "Completed/Cancelled"})
PRIORITY_OF_IMPACT = {
    "Major": Priority.P1,
    "High": Priority.P2,
    "Medium": Priority.P3,
    "Low": Priority.P4,
}
_LEVELS = {"L1": 1, "L2": 2, "L3": 3, "L2/L3": None}
_RANK = {
    "created": 0,
    "status_changed": 1,
    "reassigned": 2,
    "escalated": 5,
    "resolved": 6,
    "reopened": 7,
    "closed": 8,
}
UNKNOWN = "unknown"

# Adjustment kinds (rows that map, with something the pipeline cannot take as it is).
AMBIGUOUS_LEVEL = "ambiguous_level"  # ST Level L2/L3: the level is left as it was
EARLIER_CLOSURE = "closure_followed_by_more"  # a closure the request went on after
NOT_OPEN = "resolved_while_resolved"  # a second resolution without a reopen in between


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    number: str
    ts_ms: int
    pair: str
    team: str
    level: str
    priority: Priority
    service: str


def _parse_time(text: str) -> int:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return round(moment.timestamp() * 1000)


def _parse_row(fields: Sequence[str], line: int) -> _Row | Skipped:
    number, when, status, sub_status, team, level, impact, product = (f.strip() for f in fields)
    if not number:
        return Skipped(line, "missing_number", "no SR Number")
    try:
        ts_ms = _parse_time(when)
    except ValueError as exc:
        return Skipped(line, "invalid_timestamp", f"Change Date+Time: {exc}")
    pair = f"{status}/{sub_status}"
    if pair not in STATUS_OF_PAIR and pair not in _RESOLVED and pair not in _CLOSED:
        return Skipped(line, "unmapped_status", f"Status/Sub Status {pair!r} has no mapping")
    if level not in _LEVELS:
        return Skipped(line, "invalid_level", f"ST Level {level!r} is not L1, L2, L3 or L2/L3")
    priority = PRIORITY_OF_IMPACT.get(impact)
    if priority is None:
        return Skipped(line, "invalid_impact", f"SR Latest Impact {impact!r} has no priority")
    return _Row(line, number, ts_ms, pair, team or UNKNOWN, level, priority, product or UNKNOWN)


class _Case:
    """Emits one service request's events in log order, with times that keep that order."""

    def __init__(self, first: _Row) -> None:
        self.number = first.number
        self.ordinals: Counter[str] = Counter()
        self.last_ms = first.ts_ms
        self.last_rank = 0
        self.events: list[ImportedEvent] = []

    def emit(self, kind: str, row: _Row, status: Status | None = None) -> None:
        rank = _RANK[kind]
        ts_ms = max(row.ts_ms, self.last_ms)
        if ts_ms == self.last_ms and rank < self.last_rank:
            ts_ms += 1
        self.last_ms, self.last_rank = ts_ms, rank
        self.ordinals[kind] += 1
        dims = (row.service, row.team, Channel.WEB, row.priority)
        moved = (status, row.pair) if status is not None else None
        event = ticket_event(SOURCE, self.number, kind, self.ordinals[kind], ts_ms, dims, moved)
        self.events.append(ImportedEvent(event, ts_ms, row.line))


def _final_closure(rows: list[_Row]) -> int | None:
    if not rows or rows[-1].pair not in _CLOSED:
        return None
    index = len(rows) - 1
    while index > 0 and rows[index - 1].pair in _CLOSED:
        index -= 1
    return index


def _map_case(rows: list[_Row], result: MappingResult) -> list[ImportedEvent]:  # noqa: PLR0912 (one branch per kind of status move of the log)
    rows.sort(key=lambda r: (r.ts_ms, r.line))
    first = rows[0]
    case = _Case(first)
    case.emit("created", first)
    closure = _final_closure(rows)
    team, level, status, is_open = first.team, _LEVELS[first.level], None, True
    for index, row in enumerate(rows):
        if row.team != team:
            case.emit("reassigned", row)
            team = row.team
        moved_to = _LEVELS[row.level]
        if moved_to is None:
            result.note(AMBIGUOUS_LEVEL, row.line)
        else:
            if level is not None and moved_to > level:
                case.emit("escalated", row)
            level = moved_to
        target = STATUS_OF_PAIR.get(row.pair)
        if target is not None:
            if not is_open:
                case.emit("reopened", row)
                is_open = True
            if target != status:
                case.emit("status_changed", row, target)
                status = target
        elif row.pair in _RESOLVED:
            if is_open:
                case.emit("resolved", row)
                is_open = False
            else:
                result.note(NOT_OPEN, row.line)
        elif index == closure:
            case.emit("closed", row)
            break  # the rows after it are closures too: the ticket is done
        else:
            result.note(EARLIER_CLOSURE, row.line)
    return case.events


def map_rows(rows: Iterable[tuple[int, Sequence[str]]]) -> MappingResult:
    """Map ``(line, fields)`` pairs, the fields of each row in the order of REQUIRED_COLUMNS."""
    result = MappingResult()
    cases: dict[str, list[_Row]] = {}
    for line, fields in rows:
        result.rows += 1
        parsed = _parse_row(fields, line)
        if isinstance(parsed, Skipped):
            result.skipped.append(parsed)
        else:
            cases.setdefault(parsed.number, []).append(parsed)
    order: list[tuple[int, int, ImportedEvent]] = []
    for position, case_rows in enumerate(cases.values()):
        for event in _map_case(case_rows, result):
            order.append((event.ts_ms, position, event))
    order.sort(key=lambda item: (item[0], item[1]))
    result.events = [event for _, _, event in order]
    result.incidents = len(cases)
    return result


def map_file(path: Path) -> MappingResult:
    """Read a plain or gzipped CSV export of the log and map it. Raises ImportFileError when the
    file cannot be read as this export."""
    raw, text = open_text(path)
    with raw, text:
        reader = csv.reader(text)
        try:
            header = next(reader, None)
        except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
            raise ImportFileError(f"{path}: not a readable CSV file ({exc})") from None
        if not header:
            raise ImportFileError(f"{path}: empty file, expected a CSV header")
        header = [h.strip() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ImportFileError(
                f"{path}: missing column(s) {', '.join(missing)}; a BPIC 2013 incident log "
                f"needs {', '.join(REQUIRED_COLUMNS)}"
            )
        columns = [header.index(c) for c in REQUIRED_COLUMNS]
        width = len(header)

        def numbered() -> Iterator[tuple[int, list[str]]]:
            start = reader.line_num + 1
            for row in reader:
                if row:
                    if len(row) < width:
                        row += [""] * (width - len(row))
                    yield start, [row[i] for i in columns]
                start = reader.line_num + 1

        try:
            return map_rows(numbered())
        except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
            raise ImportFileError(
                f"{path}: unreadable after line {reader.line_num} ({exc})"
            ) from None
