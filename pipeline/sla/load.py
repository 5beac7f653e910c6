"""Read an SLA policy file (``version: sla/v1``) into the core's ``SlaPolicy``.

Every problem is collected, not just the first, and named ``file:line: field: message``. The
file's YAML is read with the line of every key and item (``pipeline.targets.document``).

    version: sla/v1
    pausing_statuses: [awaiting_customer, awaiting_vendor]   # the default
    calendars:
      office:
        time_zone: Europe/Brussels
        hours: {mon-fri: "08:00-18:00", sat: "09:00-12:00"}
        holidays: {country: BE, dates: [2026-12-24]}
    default_calendar: office          # default: 24/7
    calendar_rules:                   # first match wins
      - {team: night-shift, calendar: 24/7}
    limits:                           # default: P1 4h, P2 8h, P3 24h, P4 72h resolution
      - {priority: P1, resolution: 4h, first_response: 30m}
      - {priority: P1, service: network, resolution: 2h}

A priority (of a service) without a resolution limit counts as missed in ``sla_compliance``;
without a first-response limit its tickets are not in ``first_response_sla_compliance``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.core.durations import parse_duration
from pipeline.core.kpis import DEFAULT_SLA_SECONDS
from pipeline.core.sla import ALWAYS, Calendar, CalendarRule, SlaPolicy
from pipeline.schemas.events import PAUSING_BY_DEFAULT, Priority, Status
from pipeline.targets.document import DocPath, TargetIssue, TargetsError, compose, field_name

__all__ = ["HOLIDAY_YEARS", "VERSION", "SlaPolicyError", "load_sla_policy", "parse_sla_policy"]

VERSION = "sla/v1"
ALWAYS_NAME = "24/7"
HOLIDAY_YEARS = range(2000, 2051)  # years whose public holidays a country calendar holds
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_KEYS = {
    (): (
        "version",
        "pausing_statuses",
        "calendars",
        "default_calendar",
        "calendar_rules",
        "limits",
    ),
    ("calendars", "*"): ("time_zone", "hours", "holidays"),
    ("calendars", "*", "holidays"): ("country", "subdivision", "dates"),
    ("calendar_rules", 0): ("service", "team", "calendar"),
    ("limits", 0): ("priority", "service", "resolution", "first_response"),
}
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


# (resolution, resolution by (service, priority), first response, first response by ...)
_Limits = tuple[
    dict[str, float], dict[tuple[str, str], float], dict[str, float], dict[tuple[str, str], float]
]


class SlaPolicyError(Exception):
    """The policy file is invalid; ``issues`` holds every error found, in line order."""

    def __init__(self, issues: Sequence[TargetIssue]) -> None:
        self.issues = tuple(issues)
        count = len(self.issues)
        head = f"{count} error{'s' * (count != 1)} in SLA policy file"
        super().__init__("\n".join([head + ":", *(f"  {issue}" for issue in self.issues)]))


def load_sla_policy(path: str | Path) -> SlaPolicy:
    """Read and check a policy file (UTF-8, with or without BOM, any line endings)."""
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise SlaPolicyError([TargetIssue(source, None, "(file)", "no such file")]) from None
    except UnicodeDecodeError as exc:
        raise SlaPolicyError([TargetIssue(source, None, "(file)", f"not UTF-8: {exc}")]) from None
    return parse_sla_policy(text, source)


def parse_sla_policy(text: str, source: str = "<string>") -> SlaPolicy:
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if not text.strip():
        raise SlaPolicyError(
            [TargetIssue(source, 1, "(document)", f"empty; start with 'version: {VERSION}'")]
        )
    try:
        data, lines, problems = compose(text, source)
    except TargetsError as exc:
        raise SlaPolicyError(exc.issues) from None
    checker = _Checker(source, lines, problems)
    policy = checker.run(data)
    if checker.errors:
        raise SlaPolicyError(sorted(checker.errors, key=lambda i: i.line or 0))
    assert policy is not None
    return policy


class _Checker:
    def __init__(self, source: str, lines: dict[DocPath, int], problems: list[TargetIssue]):
        self.source, self.lines = source, lines
        self.errors: list[TargetIssue] = list(problems)

    def error(self, path: DocPath, message: str) -> None:
        line = None
        for n in range(len(path), -1, -1):  # the nearest place the file has a line for
            line = self.lines.get(path[:n])
            if line is not None:
                break
        self.errors.append(TargetIssue(self.source, line, field_name(path), message))

    def mapping(self, path: DocPath, value: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.error(path, "expected a mapping of keys")
            return {}
        for key in value:
            if key not in allowed:
                self.error((*path, key), f"unknown key {key!r} (keys: {', '.join(allowed)})")
        return value

    def listing(self, path: DocPath, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(path, "expected a list")
            return []
        return value

    def run(self, data: Any) -> SlaPolicy | None:
        doc = self.mapping((), data, _KEYS[()])
        if doc.get("version") != VERSION:
            got = doc.get("version")
            self.error(
                ("version",),
                f"missing; an SLA policy file starts with 'version: {VERSION}'"
                if got is None
                else f"{got!r} is not a supported version; this pipeline reads {VERSION!r}",
            )
        pausing = self.pausing(doc)
        names, calendars = self.calendars(doc)
        default = self.calendar_ref(("default_calendar",), doc.get("default_calendar"), names)
        rules = self.rules(doc, names)
        limits = self.limits(doc)
        if self.errors:
            return None
        # The default calendar first: a ticket no rule matches uses calendars[0].
        order = [default or 0] + [i for i in range(len(calendars)) if i != (default or 0)]
        position = {old: new for new, old in enumerate(order)}
        return SlaPolicy(
            resolution=limits[0],
            resolution_by_service=limits[1],
            first_response=limits[2],
            first_response_by_service=limits[3],
            pausing=pausing,
            calendars=tuple(calendars[i] for i in order),
            rules=tuple(CalendarRule(position[r.calendar], r.service, r.team) for r in rules),
        )

    def pausing(self, doc: dict[str, Any]) -> frozenset[str]:
        if "pausing_statuses" not in doc:
            return frozenset(s.value for s in PAUSING_BY_DEFAULT)
        known = [s.value for s in Status]
        out = set()
        for i, item in enumerate(self.listing(("pausing_statuses",), doc["pausing_statuses"])):
            if item not in known:
                self.error(
                    ("pausing_statuses", i),
                    f"{item!r} is not a status (statuses: {', '.join(known)})",
                )
            else:
                out.add(str(item))
        return frozenset(out)

    def calendars(self, doc: dict[str, Any]) -> tuple[list[str], list[Calendar]]:
        names, calendars = [ALWAYS_NAME], [ALWAYS]
        raw = doc.get("calendars")
        if raw is None:
            return names, calendars
        if not isinstance(raw, dict):
            self.error(("calendars",), "expected a mapping of calendar names to calendars")
            return names, calendars
        for name, spec in raw.items():
            here: DocPath = ("calendars", name)
            if name == ALWAYS_NAME:
                self.error(here, f"{ALWAYS_NAME!r} is built in (always open); name yours otherwise")
                continue
            cal = self.calendar(here, str(name), spec)
            if cal is not None:
                names.append(str(name))
                calendars.append(cal)
        return names, calendars

    def calendar(self, here: DocPath, name: str, spec: Any) -> Calendar | None:
        spec = self.mapping(here, spec, _KEYS[("calendars", "*")])
        before = len(self.errors)
        zone = spec.get("time_zone")
        if not isinstance(zone, str):
            self.error((*here, "time_zone"), "missing: an IANA time zone such as Europe/Brussels")
        else:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                self.error((*here, "time_zone"), f"{zone!r} is not an IANA time zone")
        hours = self.hours((*here, "hours"), spec.get("hours"))
        holidays = self.holidays((*here, "holidays"), spec.get("holidays"))
        if len(self.errors) > before or not isinstance(zone, str):
            return None
        return Calendar(name, zone, hours, holidays)

    def hours(self, here: DocPath, raw: Any) -> tuple[tuple[tuple[int, int], ...], ...]:
        week: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        if not isinstance(raw, dict) or not raw:
            self.error(here, 'missing: open hours per day, e.g. {mon-fri: "08:00-18:00"}')
            return tuple(() for _ in DAYS)
        for key, value in raw.items():
            days = self.days((*here, key), str(key))
            spans = value if isinstance(value, list) else [value]
            for span in spans:
                if span == "closed":
                    continue
                parsed = self.span((*here, key), span)
                if parsed is not None:
                    for day in days:
                        week[day].append(parsed)
        for day, spans in enumerate(week):
            spans.sort()
            for (a, b), (c, d) in itertools.pairwise(spans):
                if c < b:
                    self.error(
                        here,
                        f"{DAYS[day]}: {_hhmm(a)}-{_hhmm(b)} and {_hhmm(c)}-{_hhmm(d)} overlap",
                    )
        if not any(week):
            self.error(here, "no open hours in the whole week: the SLA clock would never run")
        return tuple(tuple(spans) for spans in week)

    def days(self, here: DocPath, key: str) -> list[int]:
        first, _, last = key.lower().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            self.error(here, f"{key!r} is not a day or a range of days (mon, ..., sun, mon-fri)")
            return []
        a, b = DAYS.index(first), DAYS.index(last or first)
        if b < a:
            self.error(here, f"{key!r}: a range of days runs forward (e.g. mon-fri)")
            return []
        return list(range(a, b + 1))

    def span(self, here: DocPath, span: Any) -> tuple[int, int] | None:
        match = _SPAN.match(span) if isinstance(span, str) else None
        if match is None:
            self.error(here, f"{span!r} is not open hours: quote 'HH:MM-HH:MM' or say closed")
            return None
        h1, m1, h2, m2 = (int(x) for x in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 > 0):
            self.error(here, f"{span!r}: no such time of day (00:00 to 24:00)")
            return None
        start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
        if end <= start:
            self.error(here, f"{span!r}: ends before it starts (split hours over midnight)")
            return None
        return start, end

    def holidays(self, here: DocPath, raw: Any) -> frozenset[date]:
        if raw is None:
            return frozenset()
        if isinstance(raw, list):
            raw = {"dates": raw}
        spec = self.mapping(here, raw, _KEYS[("calendars", "*", "holidays")])
        out: set[date] = set()
        for i, item in enumerate(self.listing((*here, "dates"), spec.get("dates"))):
            try:
                out.add(item if isinstance(item, date) else date.fromisoformat(str(item)))
            except ValueError:
                self.error((*here, "dates", i), f"{item!r} is not a date (YYYY-MM-DD)")
        country = spec.get("country")
        if country is not None:
            import holidays as holiday_tables

            try:
                table = holiday_tables.country_holidays(
                    str(country), subdiv=spec.get("subdivision"), years=HOLIDAY_YEARS
                )
            except NotImplementedError as exc:
                self.error((*here, "country"), f"no public holidays known: {exc}")
            else:
                out.update(table.keys())
        elif "subdivision" in spec:
            self.error((*here, "subdivision"), "a subdivision needs a country")
        return frozenset(out)

    def calendar_ref(self, here: DocPath, name: Any, names: list[str]) -> int | None:
        if name is None:
            return None
        if name not in names:
            self.error(here, f"no calendar {name!r} (calendars: {', '.join(names)})")
            return None
        return names.index(name)

    def rules(self, doc: dict[str, Any], names: list[str]) -> list[CalendarRule]:
        out = []
        for i, item in enumerate(self.listing(("calendar_rules",), doc.get("calendar_rules"))):
            here: DocPath = ("calendar_rules", i)
            spec = self.mapping(here, item, _KEYS[("calendar_rules", 0)])
            if not spec:
                continue
            if spec.get("service") is None and spec.get("team") is None:
                self.error(here, "a rule names a service, a team or both")
            index = self.calendar_ref((*here, "calendar"), spec.get("calendar"), names)
            if "calendar" not in spec:
                self.error((*here, "calendar"), "missing (required)")
            if index is not None:
                service, team = spec.get("service"), spec.get("team")
                out.append(
                    CalendarRule(
                        index,
                        None if service is None else str(service),
                        None if team is None else str(team),
                    )
                )
        return out

    def limits(
        self, doc: dict[str, Any]
    ) -> tuple[
        dict[str, float],
        dict[tuple[str, str], float],
        dict[str, float],
        dict[tuple[str, str], float],
    ]:
        resolution: dict[str, float] = {}
        resolution_by: dict[tuple[str, str], float] = {}
        first: dict[str, float] = {}
        first_by: dict[tuple[str, str], float] = {}
        seen: dict[tuple[str, str | None], int] = {}
        if "limits" not in doc:  # the product's defaults
            return dict(DEFAULT_SLA_SECONDS), {}, {}, {}
        items = self.listing(("limits",), doc.get("limits"))
        priorities = [p.value for p in Priority]
        for i, item in enumerate(items):
            here: DocPath = ("limits", i)
            spec = self.mapping(here, item, _KEYS[("limits", 0)])
            if not spec:
                continue
            priority = spec.get("priority")
            if priority not in priorities:
                self.error((*here, "priority"), f"{priority!r} is not a priority (P1..P4)")
                continue
            service = spec.get("service")
            key = (str(priority), None if service is None else str(service))
            if key in seen:
                self.error(here, f"a second limit for {_scope(key)} (first in limits[{seen[key]}])")
                continue
            seen[key] = i
            if "resolution" not in spec and "first_response" not in spec:
                self.error(here, "give a resolution limit, a first_response limit or both")
            for name, plain, by in (
                ("resolution", resolution, resolution_by),
                ("first_response", first, first_by),
            ):
                if name not in spec:
                    continue
                try:
                    seconds = parse_duration(spec[name])
                except ValueError as exc:
                    self.error((*here, name), str(exc))
                    continue
                if seconds <= 0:
                    self.error((*here, name), "a limit is longer than 0")
                    continue
                if key[1] is None:
                    plain[key[0]] = seconds
                else:
                    by[(key[1], key[0])] = seconds
        return resolution, resolution_by, first, first_by


def _scope(key: tuple[str, str | None]) -> str:
    return key[0] if key[1] is None else f"{key[0]} of service {key[1]!r}"


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
