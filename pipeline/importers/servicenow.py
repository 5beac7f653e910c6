"""The ServiceNow incident audit log (one CSV row per update of an incident) as contract events.

The mapping is SPEC section 9. Per incident, rows are taken in ``sys_mod_count`` order and
compared with the incident's state so far:

- ``created`` at ``opened_at``, with service = ``category``, team = ``assignment_group``, channel
  from ``contact_type`` and priority ``N - Name`` -> ``PN``; the state before the first row is
  New, so an incident whose first row is already Resolved was resolved at that row;
- ``reassigned`` for each unit that ``reassignment_count`` rises above its highest value so far;
- ``reopened`` when ``reopen_count`` rises (the incident is then open again, so a row that is
  both reopened and Resolved was resolved again too);
- ``resolved`` on each transition into Resolved;
- ``closed`` on the transition into Closed that the incident never leaves;
- later events carry the row's dimensions (a later value updates the ticket) and the row's
  ``sys_updated_at`` as their time;
- ``status_changed`` (unless ``statuses=False``, ``--no-statuses``) when the row's state
  maps to another status than the incident's last one (``STATUS_OF_STATE``; the state's text
  is the ``status_detail``), after the row's lifecycle events; the incident is New from
  ``opened_at`` (a ``status_changed`` to ``new`` right after ``created``). Resolved and Closed
  are lifecycle events, not statuses.

Real exports have quirks; how each is handled, so that nothing is guessed silently:

- Rows that cannot be mapped (no incident number, a count or a timestamp missing or not
  readable, a state that is not a state such as ``-100``, no priority or one outside 1..4) are
  skipped and reported with their line and reason. The incident's other rows still count.
- Timestamps are day-first with minutes and no zero padding (``29/2/2016 01:16``, optional
  seconds), in the source system's local time, which is taken as UTC.
- A few rows are dated before their incident was opened, or before an earlier update of the same
  incident. The log's order (``sys_mod_count``) is kept: such an event is moved forward to the
  time of the incident's previous event, and counted.
- Minutes are the finest grain, and the pipeline orders same-time events of a ticket by
  lifecycle rank (created, reassigned, ..., resolved, reopened, closed). Where the log says
  otherwise (reassigned after resolved, or resolved after reopened, within a minute), the later
  event goes 1 ms after the earlier one, and is counted.
- A few incidents are closed, then reopened and resolved again. Closed ends a ticket in the
  contract, so only the final closure becomes ``closed``; the earlier ones are counted.
- A count that falls back (a stale row) is ignored: only rises above the highest value so far
  count, so the stale row does not cause a second ``reassigned`` or ``reopened`` later.
- An event that would contradict the ticket's lifecycle (reopened while open, resolved while
  already resolved, as a log with missing rows could suggest) is not emitted, and is counted.

Event ids are ``servicenow-<number>-<type>-<n>`` (the n-th event of that type of the incident):
the same file always gives the same ids, so importing it twice counts once.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

from pipeline.importers.tickets import ticket_event
from pipeline.schemas.events import (
    Channel,
    Priority,
    Status,
    TicketCreated,
    TicketStatusChanged,
    TicketUpdate,
)

__all__ = [
    "REQUIRED_COLUMNS",
    "STATUS_OF_STATE",
    "ImportFileError",
    "ImportedEvent",
    "MapProgress",
    "MappingResult",
    "Skipped",
    "map_file",
    "map_rows",
    "parse_timestamp",
]

SOURCE = "servicenow"
REQUIRED_COLUMNS = (
    "number",
    "incident_state",
    "reassignment_count",
    "reopen_count",
    "sys_mod_count",
    "opened_at",
    "sys_updated_at",
    "contact_type",
    "category",
    "assignment_group",
    "priority",
)
STATES = frozenset(
    {
        "New",
        "Active",
        "Awaiting User Info",
        "Awaiting Vendor",
        "Awaiting Problem",
        "Awaiting Evidence",
        "Resolved",
        "Closed",
    }
)
# incident_state -> the contract's status vocabulary (Resolved, Closed: lifecycle events).
STATUS_OF_STATE = {
    "New": Status.NEW,
    "Active": Status.IN_PROGRESS,
    "Awaiting User Info": Status.AWAITING_CUSTOMER,
    "Awaiting Vendor": Status.AWAITING_VENDOR,
    "Awaiting Problem": Status.AWAITING_OTHER,
    "Awaiting Evidence": Status.AWAITING_OTHER,
}
MISSING = ("", "?")  # how the export writes a missing value
UNKNOWN = "unknown"
_CHANNELS = {
    "phone": Channel.PHONE,
    "ivr": Channel.PHONE,
    "email": Channel.EMAIL,
    "self service": Channel.SELF_SERVICE,
}
_PRIORITY = re.compile(r"\s*([0-9]+)\s*-")
_TIMESTAMP = re.compile(r"\s*(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})(?::(\d{2}))?\s*")
_EVERY = 2000  # rows or incidents between progress reports
# The pipeline's order of same-time events of one ticket (pipeline.core.events).
_RANK = {
    "created": 0,
    "status_changed": 1,
    "reassigned": 2,
    "resolved": 6,
    "reopened": 7,
    "closed": 8,
}


class MapProgress(Protocol):
    """Told how far mapping is: reading rows (by bytes of the file), then mapping incidents."""

    def read(self, bytes_read: int, rows: int) -> None: ...

    def mapped(self, incidents: int, total: int) -> None: ...


class ImportFileError(Exception):
    """The file cannot be imported at all (missing, unreadable, not this export's columns)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    line: int
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class ImportedEvent:
    event: TicketCreated | TicketUpdate | TicketStatusChanged
    ts_ms: int  # event time: the Kafka record timestamp
    line: int  # the CSV line of the row it came from


@dataclass
class MappingResult:
    """Events in event-time order, and an account of every row that did not map plainly."""

    events: list[ImportedEvent] = field(default_factory=list)
    rows: int = 0
    incidents: int = 0  # incidents with at least one mapped row (each has one ``created``)
    skipped: list[Skipped] = field(default_factory=list)
    # Adjustments, by kind: the lines they concern (see the module docstring).
    adjusted: dict[str, list[int]] = field(default_factory=dict)

    def events_by_type(self) -> Counter[str]:
        return Counter(e.event.type.value for e in self.events)

    def skipped_by_reason(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for s in self.skipped:
            out.setdefault(s.reason, []).append(s.line)
        return out

    def note(self, kind: str, line: int) -> None:
        self.adjusted.setdefault(kind, []).append(line)


# Adjustment kinds (summary labels live with the summary).
MOVED_FORWARD = "moved_forward"
SAME_MINUTE = "same_minute_order"
EARLIER_CLOSURE = "closure_followed_by_reopen"
CONTRADICTS_LIFECYCLE = "contradicts_lifecycle"


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    number: str
    mod: int
    state: str
    reassignments: int
    reopens: int
    opened_ms: int
    updated_ms: int
    service: str
    team: str
    channel: Channel
    priority: Priority


# --- fields ---------------------------------------------------------------------------------------

_ts_cache: dict[str, int] = {}


def parse_timestamp(text: str) -> int:
    """``29/2/2016 01:16`` (day first, no zero padding, optional seconds), as UTC, in epoch ms.
    Raises ValueError for anything else."""
    cached = _ts_cache.get(text)
    if cached is not None:
        return cached
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a day/month/year hour:minute time")
    day, month, year, hour, minute, second = match.groups()
    moment = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=UTC
    )
    # Timestamps repeat a lot (opened_at on every row of an incident): parse each once.
    if len(_ts_cache) > 500_000:
        _ts_cache.clear()
    value = _ts_cache[text] = int(moment.timestamp()) * 1000
    return value


def _dimension(value: str) -> str:
    return UNKNOWN if value in MISSING else value


def _channel(contact_type: str) -> Channel:
    # The contract has no "unknown" channel: a missing contact type is one of the others (web).
    return _CHANNELS.get(contact_type.lower(), Channel.WEB)


def _parse_row(fields: Sequence[str], line: int) -> _Row | Skipped:  # noqa: PLR0911 (each unmappable field is reported as soon as it is found)
    """One row, its fields in the order of REQUIRED_COLUMNS."""
    (
        number,
        state,
        reassignment_count,
        reopen_count,
        sys_mod_count,
        opened_at,
        sys_updated_at,
        contact_type,
        category,
        assignment_group,
        priority,
    ) = (f.strip() for f in fields)
    if number in MISSING:
        return Skipped(line, "missing_number", "no incident number")
    counts: list[int] = []
    for name, text in (
        ("sys_mod_count", sys_mod_count),
        ("reassignment_count", reassignment_count),
        ("reopen_count", reopen_count),
    ):
        if not text.isdigit():
            return Skipped(line, "invalid_count", f"{name} {text!r} is not a whole number")
        counts.append(int(text))
    times: list[int] = []
    for name, text in (("opened_at", opened_at), ("sys_updated_at", sys_updated_at)):
        if text in MISSING:
            return Skipped(line, "missing_timestamp", f"no {name}")
        try:
            times.append(parse_timestamp(text))
        except ValueError as exc:
            return Skipped(line, "invalid_timestamp", f"{name}: {exc}")
    if state not in STATES:
        return Skipped(line, "invalid_state", f"incident_state {state!r} is not a state")
    if priority in MISSING:
        return Skipped(line, "missing_priority", "no priority")
    match = _PRIORITY.match(priority)
    if match is None or match.group(1) not in ("1", "2", "3", "4"):
        return Skipped(line, "invalid_priority", f"priority {priority!r} is not 1..4 - name")
    return _Row(
        line,
        number,
        counts[0],
        state,
        counts[1],
        counts[2],
        times[0],
        times[1],
        _dimension(category),
        _dimension(assignment_group),
        _channel(contact_type),
        Priority(f"P{match.group(1)}"),
    )


# --- one incident ---------------------------------------------------------------------------------


def _final_closure(rows: list[_Row]) -> int | None:
    """Index of the row whose transition into Closed is never left again, if any."""
    if not rows or rows[-1].state != "Closed":
        return None
    index = len(rows) - 1
    while index > 0 and rows[index - 1].state == "Closed":
        index -= 1
    return index


class _Incident:
    """Emits one incident's events in log order, with times that keep that order."""

    def __init__(self, first: _Row, result: MappingResult) -> None:
        self.result = result
        self.number = first.number
        self.ordinals: Counter[str] = Counter()
        self.last_ms = first.opened_ms
        self.last_rank = 0
        self.events: list[ImportedEvent] = []

    def emit(self, kind: str, row: _Row, ts_ms: int, status: str | None = None) -> None:
        rank = _RANK[kind]
        # Status moves keep the log order by the same rules, without being counted: they are
        # not lifecycle events the summary accounts for.
        counted = status is None
        if ts_ms < self.last_ms:
            if counted:
                self.result.note(MOVED_FORWARD, row.line)
            ts_ms = self.last_ms
        if ts_ms == self.last_ms and rank < self.last_rank:
            if counted:
                self.result.note(SAME_MINUTE, row.line)
            ts_ms = self.last_ms + 1
        self.last_ms, self.last_rank = ts_ms, rank
        self.ordinals[kind] += 1
        dims = (row.service, row.team, row.channel, row.priority)
        moved = (STATUS_OF_STATE[status], status) if status is not None else None
        event = ticket_event(SOURCE, self.number, kind, self.ordinals[kind], ts_ms, dims, moved)
        self.events.append(ImportedEvent(event, ts_ms, row.line))


def _map_incident(  # noqa: PLR0912 (one branch per kind of change between two rows of an incident)
    rows: list[_Row], result: MappingResult, statuses: bool = True
) -> list[ImportedEvent]:
    rows.sort(key=lambda r: (r.mod, r.updated_ms, r.line))
    first = rows[0]
    incident = _Incident(first, result)
    incident.emit("created", first, first.opened_ms)
    status = STATUS_OF_STATE["New"]
    if statuses:
        incident.emit("status_changed", first, first.opened_ms, "New")
    closure = _final_closure(rows)
    state, is_open = "New", True
    reassignments = reopens = 0
    for index, row in enumerate(rows):
        at = row.updated_ms
        for _ in range(row.reassignments - reassignments):
            incident.emit("reassigned", row, at)
        reassignments = max(reassignments, row.reassignments)
        if row.reopens > reopens:
            reopens = row.reopens
            if is_open:
                result.note(CONTRADICTS_LIFECYCLE, row.line)
            else:
                incident.emit("reopened", row, at)
                is_open = True
            state = "Active"  # open again: a Resolved row now is a new resolution
        if row.state == "Resolved" and state != "Resolved":
            if is_open:
                incident.emit("resolved", row, at)
                is_open = False
            else:
                result.note(CONTRADICTS_LIFECYCLE, row.line)
        if row.state == "Closed" and state != "Closed":
            if index == closure:
                incident.emit("closed", row, at)
            else:
                result.note(EARLIER_CLOSURE, row.line)
        moved = STATUS_OF_STATE.get(row.state)
        if statuses and moved is not None and moved != status:
            incident.emit("status_changed", row, at, row.state)
            status = moved
        state = row.state
    return incident.events


# --- the file -------------------------------------------------------------------------------------


def map_rows(
    rows: Iterable[tuple[int, Sequence[str]]],
    progress: MapProgress | None = None,
    statuses: bool = True,
) -> MappingResult:
    """Map ``(line, fields)`` pairs, the fields of each row in the order of REQUIRED_COLUMNS.
    ``statuses=False`` leaves out the status moves (``status_changed``)."""
    result = MappingResult()
    incidents: dict[str, list[_Row]] = {}
    for line, fields in rows:
        result.rows += 1
        parsed = _parse_row(fields, line)
        if isinstance(parsed, Skipped):
            result.skipped.append(parsed)
        else:
            incidents.setdefault(parsed.number, []).append(parsed)
    order: list[tuple[int, int, ImportedEvent]] = []
    for position, incident_rows in enumerate(incidents.values()):
        for event in _map_incident(incident_rows, result, statuses):
            order.append((event.ts_ms, position, event))
        if progress is not None and position % _EVERY == 0:
            progress.mapped(position, len(incidents))
    if progress is not None:
        progress.mapped(len(incidents), len(incidents))
    # Event-time order across incidents (the pipeline's watermark follows event time); the
    # sort is stable, so one incident's events keep their order.
    order.sort(key=lambda item: (item[0], item[1]))
    result.events = [event for _, _, event in order]
    result.incidents = len(incidents)
    return result


def open_text(path: Path) -> tuple[IO[bytes], IO[str]]:
    """The raw file (for progress by bytes) and its text, gunzipped when it is gzip."""
    try:
        raw: IO[bytes] = path.open("rb")
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read it ({exc.strerror})") from None
    magic = raw.read(2)
    raw.seek(0)
    binary: IO[bytes] = raw
    if magic == b"\x1f\x8b":
        binary = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
    return raw, io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def map_file(
    path: Path, progress: MapProgress | None = None, statuses: bool = True
) -> MappingResult:
    """Read a plain or gzipped CSV export and map it. Raises ImportFileError when the file
    cannot be read as this export. ``statuses=False`` leaves out the status moves."""
    raw, text = open_text(path)
    with raw, text:
        reader = csv.reader(text)
        try:
            header = next(reader, None)
        except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
            raise ImportFileError(f"{path}: not a readable CSV file ({exc})") from None
        if not header:
            raise ImportFileError(f"{path}: empty file, expected a CSV header")
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ImportFileError(
                f"{path}: missing column(s) {', '.join(missing)}; a ServiceNow incident export "
                f"needs {', '.join(REQUIRED_COLUMNS)}"
            )
        columns = [header.index(c) for c in REQUIRED_COLUMNS]
        width = len(header)

        def numbered() -> Iterator[tuple[int, list[str]]]:
            # A row starts on the line after the end of the previous one (fields may hold
            # line breaks), so report its first line.
            start, count = reader.line_num + 1, 0
            for row in reader:
                if row:  # blank lines are not rows
                    if len(row) < width:  # a short row: its missing fields are empty
                        row += [""] * (width - len(row))
                    yield start, [row[i] for i in columns]
                    count += 1
                    if progress is not None and count % _EVERY == 0:
                        progress.read(raw.tell(), count)
                start = reader.line_num + 1
            if progress is not None:
                progress.read(raw.tell(), count)

        try:
            result = map_rows(numbered(), progress, statuses)
        except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
            raise ImportFileError(
                f"{path}: unreadable after line {reader.line_num} ({exc})"
            ) from None
    return result
