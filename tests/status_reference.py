"""An independent computation of time in status and SLA compliance (with and without pausing
statuses) straight from the two real logs, for checking the pipeline.

Written from the words of docs/kpis.md (statuses, the SLA clock) and docs/import.md (which row
means what), with the standard library only and no code of the pipeline. Each ticket's rows are
walked in log order and turned into steps (time, what happened):

- a status visit ends when the open ticket moves into another status, or is resolved; its
  length counts for that status, in the window of its end, under the service of that row;
- a resolution's SLA time is the time since ``created`` minus the time spent, while open, in a
  pausing status; it meets the SLA when at most the limit of the row's priority (24/7 clock);
- a reopen makes the ticket open again, in the status it was in (from the reopen on).

Quantiles follow the rank rule (sorted value at index ``int(q * (n - 1))``).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["BPIC", "SLA_SECONDS", "StatusKpis", "bpic_steps", "status_kpis", "uci_steps"]

DATA = Path(__file__).parent / "data"
BPIC = DATA / "bpic2013_incidents_VINST-new.csv.gz"
SLA_SECONDS = {"P1": 4 * 3600, "P2": 8 * 3600, "P3": 24 * 3600, "P4": 72 * 3600}

# A step: (time, action, status or None, service, priority); actions: status, resolve, reopen.
Step = tuple[float, str, str | None, str, str]
WindowOf = Callable[[float], float]


@dataclass
class StatusKpis:
    """What one window and one service (or all, None) saw."""

    visits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    resolutions: int = 0
    within_sla: int = 0  # elapsed time
    within_sla_paused: int = 0  # pausing statuses stop the clock

    def values(self, paused: bool) -> dict[str, tuple[float | None, int]]:
        out: dict[str, tuple[float | None, int]] = {}
        n = self.resolutions
        met = self.within_sla_paused if paused else self.within_sla
        out["sla_compliance.value"] = (met / n if n else None, n)
        for status, lengths in self.visits.items():
            ordered = sorted(lengths)
            k = len(ordered)
            name = f"time_in_status_{status}"
            out[f"{name}.mean"] = (sum(ordered) / k, k)
            out[f"{name}.p50"] = (ordered[int(0.5 * (k - 1))], k)
            out[f"{name}.p90"] = (ordered[int(0.9 * (k - 1))], k)
        return out


def _open(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rb") as binary:
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        return list(csv.DictReader(text))


# --- the UCI ServiceNow log ---------------------------------------------------------------------

_UCI_STATUS = {
    "New": "new",
    "Active": "in_progress",
    "Awaiting User Info": "awaiting_customer",
    "Awaiting Vendor": "awaiting_vendor",
    "Awaiting Problem": "awaiting_other",
    "Awaiting Evidence": "awaiting_other",
}
_UCI_STATES = {*_UCI_STATUS, "Resolved", "Closed"}


def _uci_time(text: str) -> float:
    day, month, rest = text.split("/", 2)
    year, clock = rest.split(" ")
    hour, minute = clock.split(":")[:2]
    return datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=UTC).timestamp()


def uci_steps(path: Path) -> Iterator[tuple[float, list[Step]]]:
    """Per incident: (opened_at, steps). Times keep the log's order: a row dated before the
    incident's previous event counts at that event's time."""
    incidents: dict[str, list[tuple[int, int, dict[str, str]]]] = defaultdict(list)
    for index, row in enumerate(_open(path)):
        if row["incident_state"] in _UCI_STATES:
            incidents[row["number"]].append((int(row["sys_mod_count"]), index, row))
    for history in incidents.values():
        history.sort(key=lambda item: (item[0], _uci_time(item[2]["sys_updated_at"]), item[1]))
        opened = _uci_time(history[0][2]["opened_at"])
        first = history[0][2]
        steps: list[Step] = [(opened, "status", "new", _service(first), _priority(first))]
        last = opened
        status, state, is_open, reopens, reassignments = "new", "New", True, 0, 0
        for _, _, row in history:
            at = max(_uci_time(row["sys_updated_at"]), last)
            here = (_service(row), _priority(row))
            acted = False
            if int(row["reassignment_count"]) > reassignments:
                reassignments = int(row["reassignment_count"])
                acted = True
            if int(row["reopen_count"]) > reopens:
                reopens = int(row["reopen_count"])
                if not is_open:
                    steps.append((at, "reopen", None, *here))
                    is_open, acted = True, True
                state = "Active"
            if row["incident_state"] == "Resolved" and state != "Resolved" and is_open:
                steps.append((at, "resolve", None, *here))
                is_open, acted = False, True
            moved = _UCI_STATUS.get(row["incident_state"])
            if moved is not None and moved != status:
                steps.append((at, "status", moved, *here))
                status, acted = moved, True
            if acted:
                last = at
            state = row["incident_state"]
        yield opened, steps


def _service(row: dict[str, str]) -> str:
    return "unknown" if row["category"] in ("", "?") else row["category"]


def _priority(row: dict[str, str]) -> str:
    return "P" + row["priority"].split(" - ")[0].strip()


# --- the BPIC 2013 log ---------------------------------------------------------------------------

_BPIC_STATUS = {
    "Queued/Awaiting Assignment": "queued",
    "Accepted/Assigned": "queued",
    "Accepted/In Progress": "in_progress",
    "Accepted/Wait - User": "awaiting_customer",
    "Accepted/Wait - Customer": "awaiting_customer",
    "Accepted/Wait - Vendor": "awaiting_vendor",
    "Accepted/Wait - Implementation": "awaiting_other",
    "Accepted/Wait": "awaiting_other",
}
_BPIC_PRIORITY = {"Major": "P1", "High": "P2", "Medium": "P3", "Low": "P4"}


def bpic_steps(path: Path = BPIC) -> Iterator[tuple[float, list[Step]]]:
    """Per service request: (first row's time, steps)."""
    requests: dict[str, list[tuple[float, int, dict[str, str]]]] = defaultdict(list)
    for index, row in enumerate(_open(path)):
        pair = f"{row['Status']}/{row['Sub Status']}"
        if pair in _BPIC_STATUS or pair.startswith("Completed/"):
            at = datetime.fromisoformat(row["Change Date+Time"]).timestamp()
            requests[row["SR Number"]].append((at, index, row))
    for history in requests.values():
        history.sort(key=lambda item: item[:2])
        steps: list[Step] = []
        status, is_open = None, True
        for at, _, row in history:
            pair = f"{row['Status']}/{row['Sub Status']}"
            here = (row["Product"] or "unknown", _BPIC_PRIORITY[row["SR Latest Impact"]])
            moved = _BPIC_STATUS.get(pair)
            if moved is not None:
                if not is_open:
                    steps.append((at, "reopen", None, *here))
                    is_open = True
                if moved != status:
                    steps.append((at, "status", moved, *here))
                    status = moved
            elif pair in ("Completed/Resolved", "Completed/In Call") and is_open:
                steps.append((at, "resolve", None, *here))
                is_open = False
        yield history[0][0], steps


# --- the KPIs ------------------------------------------------------------------------------------


def status_kpis(
    tickets: Iterator[tuple[float, list[Step]]],
    window_of: WindowOf,
    pausing: frozenset[str] = frozenset({"awaiting_customer", "awaiting_vendor"}),
) -> dict[tuple[float, str | None], StatusKpis]:
    """(window start, service or None for all services) -> what that window saw."""
    out: dict[tuple[float, str | None], StatusKpis] = defaultdict(StatusKpis)

    def scopes(ts: float, service: str) -> list[StatusKpis]:
        start = window_of(ts)
        return [out[(start, service)], out[(start, None)]]

    for created, steps in tickets:
        status: str | None = None
        since, paused, is_open = created, 0.0, True
        for at, action, moved, service, priority in steps:
            if action == "reopen":
                is_open, since = True, at
                continue
            if is_open and status is not None and (action == "resolve" or moved != status):
                for w in scopes(at, service):
                    w.visits[status].append(at - since)
                if status in pausing:
                    paused += at - since
            if action == "status":
                status, since = moved, at
                continue
            # resolve
            since, is_open = at, False
            limit = SLA_SECONDS[priority]
            for w in scopes(at, service):
                w.resolutions += 1
                w.within_sla += at - created <= limit
                w.within_sla_paused += at - created - paused <= limit
    return dict(out)
