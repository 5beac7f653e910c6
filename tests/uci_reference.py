"""An independent computation of KPIs straight from the ServiceNow incident log (UCI dataset 498).

Written from the SPEC's words (section 9 for what happened when, section 4 for the KPIs), with the
standard library only and no code of the pipeline: no events, no windows engine, no sketch. Each
incident's rows are walked in ``sys_mod_count`` order; a resolution is a move into state Resolved
(the state before the first row is New, and a rise of ``reopen_count`` makes the incident open
again), a reopen is a rise of ``reopen_count``, a reassignment a rise of ``reassignment_count``.
Rows whose state is not a state (``-100``) are left out. Quantities are as of the anchor row:
its category (service), its priority (SLA), its time.

The log has no agent replies and no escalations, so a first resolution is first-contact resolved
when no reassignment happened up to it (no row so far has a ``reassignment_count`` above 0).

Quantiles follow the rank rule the pipeline's sketch documents (sorted value at index
``int(q * (n - 1))``); the sketch may differ from these by its relative accuracy (1%).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "DATASET",
    "SLA_SECONDS",
    "WindowKpis",
    "calendar_month",
    "fixed_window",
    "log_for_tests",
    "uci_kpis",
    "write_subset",
]

DATASET = Path(__file__).parent / "data" / "uci498_incident_event_log.csv.gz"
SLA_SECONDS = {"P1": 4 * 3600, "P2": 8 * 3600, "P3": 24 * 3600, "P4": 72 * 3600}
STATES = {
    "New",
    "Active",
    "Awaiting User Info",
    "Awaiting Vendor",
    "Awaiting Problem",
    "Awaiting Evidence",
    "Resolved",
    "Closed",
}
OVERALL = None  # the service key of the organisation-wide figures
# Tests use every EVERY-th incident of the log unless KPI_TEST_UCI_FULL=1 asks for all of it
# (`make test-uci`): the whole log takes minutes on a small machine.
FULL_ENV = "KPI_TEST_UCI_FULL"
EVERY = 8

WindowOf = Callable[[float], float]  # event time (epoch s) -> start of its window (epoch s)


def calendar_month(ts: float) -> float:
    moment = datetime.fromtimestamp(ts, UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp()


def fixed_window(size_seconds: int) -> WindowOf:
    """Tumbling windows of a fixed size aligned to the Unix epoch."""
    return lambda ts: float(int(ts // size_seconds) * size_seconds)


@dataclass
class WindowKpis:
    """What one window and one service (or all of them) saw."""

    resolution_times: list[float] = field(default_factory=list)
    first_resolutions: int = 0
    first_contact: int = 0
    reopens: int = 0
    within_sla: int = 0

    @property
    def tickets_resolved(self) -> int:
        return len(self.resolution_times)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.resolution_times)
        return ordered[int(q * (len(ordered) - 1))]

    def values(self) -> dict[str, tuple[float | None, int]]:
        """KPI.stat -> (value, sample size), the value None when the sample is empty."""
        n = self.tickets_resolved

        def rate(num: int, den: int) -> tuple[float | None, int]:
            return (num / den if den else None, den)

        out: dict[str, tuple[float | None, int]] = {
            "tickets_resolved.value": (float(n), n),
            "fcr_rate.value": rate(self.first_contact, self.first_resolutions),
            "reopen_rate.value": rate(self.reopens, n),
            "sla_compliance.value": rate(self.within_sla, n),
        }
        if n:
            out["resolution_time.mean"] = (sum(self.resolution_times) / n, n)
            out["resolution_time.p50"] = (self.quantile(0.5), n)
            out["resolution_time.p90"] = (self.quantile(0.9), n)
        return out


def _epoch(text: str) -> float:
    day, month, rest = text.split("/", 2)
    year, clock = rest.split(" ")
    hour, minute = clock.split(":")[:2]
    moment = datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=UTC)
    return moment.timestamp()


def _service(category: str) -> str:
    return "unknown" if category in ("", "?") else category


def uci_kpis(
    path: Path = DATASET,
    window_of: WindowOf = calendar_month,
    sla_seconds: Mapping[str, float] = SLA_SECONDS,
) -> dict[tuple[float, str | None], WindowKpis]:
    """(window start, service or None for all services) -> what that window saw."""
    with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as binary:
        rows = list(csv.DictReader(io.TextIOWrapper(binary, encoding="utf-8", newline="")))
    incidents: dict[str, list[tuple[int, float, int, dict[str, str]]]] = defaultdict(list)
    for index, row in enumerate(rows):
        if row["incident_state"] in STATES:
            key = (int(row["sys_mod_count"]), _epoch(row["sys_updated_at"]), index, row)
            incidents[row["number"]].append(key)

    out: dict[tuple[float, str | None], WindowKpis] = defaultdict(WindowKpis)

    def scopes(ts: float, service: str) -> list[WindowKpis]:
        start = window_of(ts)
        return [out[(start, service)], out[(start, OVERALL)]]

    for history in incidents.values():
        history.sort(key=lambda item: item[:3])
        opened = _epoch(history[0][3]["opened_at"])
        state, reopens, resolutions, reopened, reassigned = "New", 0, 0, False, False
        for _, at, _, row in history:
            service = _service(row["category"])
            reassigned = reassigned or int(row["reassignment_count"]) > 0
            if int(row["reopen_count"]) > reopens:
                reopens = int(row["reopen_count"])
                reopened = True
                state = "Active"
                for w in scopes(at, service):
                    w.reopens += 1
            if row["incident_state"] == "Resolved" and state != "Resolved":
                seconds = at - opened
                priority = "P" + row["priority"].split(" - ")[0].strip()
                first = resolutions == 0 and not reopened
                for w in scopes(at, service):
                    w.resolution_times.append(seconds)
                    w.within_sla += seconds <= sla_seconds[priority]
                    if first:
                        w.first_resolutions += 1
                        w.first_contact += not reassigned
                resolutions += 1
            state = row["incident_state"]
    return dict(out)


def write_subset(dest: Path, every: int = EVERY, source: Path = DATASET) -> Path:
    """A gzipped copy of the log with the rows of every ``every``-th incident (by number), which
    spreads over the whole year and keeps whole incident histories."""
    with gzip.open(source, "rt", encoding="utf-8", newline="") as src:
        lines = iter(src)
        header = next(lines)
        kept = [line for line in lines if int(line.split(",", 1)[0][3:]) % every == 0]
    with gzip.open(dest, "wt", encoding="utf-8", newline="") as out:
        out.write(header)
        out.writelines(kept)
    return dest


def log_for_tests(directory: Path) -> Path:
    """The log the tests import: the whole file with KPI_TEST_UCI_FULL=1, else a subset."""
    if os.environ.get(FULL_ENV) == "1":
        return DATASET
    return write_subset(directory / f"uci-every-{EVERY}th-incident.csv.gz")
