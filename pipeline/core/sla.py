"""The SLA policy as the core uses it: limits per priority (optionally per service), the
statuses that pause the clock, and business-hours calendars.

The SLA clock of a ticket runs from ``created`` on its calendar's business hours, and stops
while the ticket is in a pausing status. Without a policy the calendar is 24/7 and nothing
pauses, so the clock is exactly the elapsed time (``ts - created``, the same float).

A ticket's calendar is chosen once, from its service and team at ``created`` (the first rule
that matches, else the desk's calendar): its business time then never depends on a later move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = ["ALWAYS", "Calendar", "CalendarRule", "SlaPolicy"]

_DAY = 86_400.0


@dataclass(frozen=True)
class Calendar:
    """Business hours: per weekday (0 = Monday) the open intervals as seconds after local
    midnight, sorted and disjoint; holidays are closed all day. ``None`` hours: always open."""

    name: str
    zone: str = "UTC"
    hours: tuple[tuple[tuple[int, int], ...], ...] | None = None
    holidays: frozenset[date] = frozenset()

    @property
    def always(self) -> bool:
        return self.hours is None

    def business_seconds(self, start: float, end: float) -> float:
        """Business seconds between two epoch times (0 when ``end <= start``)."""
        if end <= start:
            return 0.0
        if self.hours is None:
            return end - start
        return _business(self, start, end)


ALWAYS = Calendar("24/7")


def _business(cal: Calendar, start: float, end: float) -> float:
    zone = ZoneInfo(cal.zone)
    first = datetime.fromtimestamp(start, zone).date()
    last = datetime.fromtimestamp(end, zone).date()
    total = 0.0
    day = first
    while day <= last:
        lo, hi, seconds = _day_span(cal, day)
        if seconds:
            if start <= lo and hi <= end:
                total += seconds
            else:
                for a, b in _day_intervals(cal, day):
                    overlap = min(b, end) - max(a, start)
                    if overlap > 0:
                        total += overlap
        day += timedelta(days=1)
    return total


@lru_cache(maxsize=65_536)
def _day_intervals(cal: Calendar, day: date) -> tuple[tuple[float, float], ...]:
    """The open intervals of one local day, in epoch seconds (daylight saving included)."""
    assert cal.hours is not None
    if day in cal.holidays:
        return ()
    zone = ZoneInfo(cal.zone)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    out = []
    for a, b in cal.hours[day.weekday()]:
        # Wall-clock arithmetic on an aware datetime: 08:00 is 08:00 local on a DST day too.
        lo = (midnight + timedelta(seconds=a)).timestamp()
        hi = (
            (midnight + timedelta(seconds=b)).timestamp() if b < _DAY else _next_midnight(day, zone)
        )
        out.append((lo, hi))
    return tuple(out)


def _next_midnight(day: date, zone: ZoneInfo) -> float:
    nxt = day + timedelta(days=1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).timestamp()


@lru_cache(maxsize=65_536)
def _day_span(cal: Calendar, day: date) -> tuple[float, float, float]:
    intervals = _day_intervals(cal, day)
    if not intervals:
        return 0.0, 0.0, 0.0
    return intervals[0][0], intervals[-1][1], sum(b - a for a, b in intervals)


@dataclass(frozen=True)
class CalendarRule:
    """Tickets of this service and/or team (None: any) use calendar ``calendar`` (an index)."""

    calendar: int
    service: str | None = None
    team: str | None = None


@dataclass(frozen=True)
class SlaPolicy:
    """Limits in seconds by priority, and by (service, priority) where a service has its own."""

    resolution: Mapping[str, float] = field(default_factory=dict)
    resolution_by_service: Mapping[tuple[str, str], float] = field(default_factory=dict)
    first_response: Mapping[str, float] = field(default_factory=dict)
    first_response_by_service: Mapping[tuple[str, str], float] = field(default_factory=dict)
    pausing: frozenset[str] = frozenset()
    calendars: tuple[Calendar, ...] = (ALWAYS,)
    rules: tuple[CalendarRule, ...] = ()  # first match wins; else calendars[0]

    def calendar(self, index: int) -> Calendar:
        """Calendar ``index``; the default one when a ticket stored under a policy with more
        calendars names one this policy does not have."""
        calendars = self.calendars
        return calendars[index] if index < len(calendars) else calendars[0]

    def calendar_of(self, service: str, team: str) -> int:
        for rule in self.rules:
            if (rule.service is None or rule.service == service) and (
                rule.team is None or rule.team == team
            ):
                return rule.calendar
        return 0

    def resolution_limit(self, service: str, priority: str | None) -> float | None:
        p = priority or ""
        limit = self.resolution_by_service.get((service, p)) if self.resolution_by_service else None
        return limit if limit is not None else self.resolution.get(p)

    def first_response_limit(self, service: str, priority: str | None) -> float | None:
        p = priority or ""
        by_service = self.first_response_by_service
        limit = by_service.get((service, p)) if by_service else None
        return limit if limit is not None else self.first_response.get(p)
