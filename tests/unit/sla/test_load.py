"""SLA policy files: what a valid file means, and every mistake named with its line and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import Settings
from pipeline.core.kpis import DEFAULT_SLA_SECONDS
from pipeline.sla import SlaPolicyError, load_sla_policy, parse_sla_policy
from pipeline.worker.context import core_context

EXAMPLE = Path(__file__).parents[3] / "deploy" / "sla.example.yaml"

CAL = "version: sla/v1\ncalendars:\n  c:\n    time_zone: UTC\n"
VALID = """\
version: sla/v1
calendars:
  office:
    time_zone: Europe/Brussels
    hours: {mon-fri: "08:00-12:00", wed: "13:00-17:00", sun: closed}
    holidays: [2026-12-24]
  night:
    time_zone: UTC
    hours: {mon-sun: ["00:00-06:00", "22:00-24:00"]}
default_calendar: office
calendar_rules:
  - {team: night-shift, calendar: night}
  - {service: network, calendar: 24/7}
limits:
  - {priority: P1, resolution: 4h, first_response: 30m}
  - {priority: P1, service: network, resolution: 2h}
"""


def errors(text: str) -> list[str]:
    with pytest.raises(SlaPolicyError) as caught:
        parse_sla_policy(text, "sla.yaml")
    return [str(issue) for issue in caught.value.issues]


def test_a_valid_policy() -> None:
    policy = parse_sla_policy(VALID)
    assert policy.resolution == {"P1": 4 * 3600}
    assert policy.resolution_by_service == {("network", "P1"): 2 * 3600}
    assert policy.first_response == {"P1": 1800}
    assert policy.pausing == {"awaiting_customer", "awaiting_vendor"}  # the default
    names = [c.name for c in policy.calendars]
    assert names[0] == "office"  # the default calendar comes first
    office = policy.calendars[0]
    assert office.hours is not None
    assert office.hours[2] == ((8 * 3600, 12 * 3600), (13 * 3600, 17 * 3600))  # wednesday
    assert office.hours[6] == () and office.holidays == {date(2026, 12, 24)}
    assert names[policy.calendar_of("any", "night-shift")] == "night"
    assert names[policy.calendar_of("network", "l1")] == "24/7"
    assert policy.calendar_of("email", "l1") == 0
    assert policy.resolution_limit("network", "P1") == 7200
    assert policy.resolution_limit("email", "P1") == 14400
    assert policy.resolution_limit("email", "P2") is None


def test_without_limits_the_default_limits_apply_and_pauses_can_be_turned_off() -> None:
    policy = parse_sla_policy("version: sla/v1\npausing_statuses: []\n")
    assert policy.resolution == DEFAULT_SLA_SECONDS and policy.pausing == frozenset()
    assert [c.name for c in policy.calendars] == ["24/7"]


def test_country_holidays_come_from_the_holidays_package() -> None:
    policy = parse_sla_policy(
        "version: sla/v1\ncalendars:\n  be:\n    time_zone: Europe/Brussels\n"
        '    hours: {mon-fri: "09:00-17:00"}\n    holidays: {country: BE}\n'
        "default_calendar: be\n"
    )
    holidays = policy.calendars[0].holidays
    assert date(2026, 7, 21) in holidays  # Belgian national day
    assert date(2026, 7, 22) not in holidays


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("limits: []\n", "sla.yaml:1: version: missing; an SLA policy file starts with"),
        ("version: sla/v2\n", "sla.yaml:1: version: 'sla/v2' is not a supported version"),
        (
            "version: sla/v1\npausing_statuses: [on_hold]\n",
            "sla.yaml:2: pausing_statuses[0]: 'on_hold' is not a status",
        ),
        (
            "version: sla/v1\ncalendars:\n  c:\n    time_zone: Mars/Olympus\n"
            '    hours: {mon: "08:00-09:00"}\n',
            "sla.yaml:4: calendars.c.time_zone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            "version: sla/v1\ncalendars:\n  c:\n    time_zone: UTC\n"
            '    hours: {mon-fri: "08:00-18:00", wed: "17:30-19:00"}\n',
            "sla.yaml:5: calendars.c.hours: wed: 08:00-18:00 and 17:30-19:00 overlap",
        ),
        (
            CAL + '    hours: {mon: "08:00-24:30"}\n',
            "sla.yaml:5: calendars.c.hours.mon: '08:00-24:30': no such time of day",
        ),
        (
            CAL + '    hours: {mon: "18:00-08:00"}\n',
            "sla.yaml:5: calendars.c.hours.mon: '18:00-08:00': ends before it starts",
        ),
        (
            "version: sla/v1\ncalendars:\n  c:\n    time_zone: UTC\n    hours: {mon: closed}\n",
            "sla.yaml:5: calendars.c.hours: no open hours in the whole week",
        ),
        (
            CAL + '    hours: {fri-mon: "08:00-09:00"}\n',
            "sla.yaml:5: calendars.c.hours.fri-mon: 'fri-mon': a range of days runs forward",
        ),
        (
            CAL + '    hours: {mon: "08:00-09:00"}\n    holidays: {country: XX}\n',
            "sla.yaml:6: calendars.c.holidays.country: no public holidays known",
        ),
        (
            "version: sla/v1\ndefault_calendar: office\n",
            "sla.yaml:2: default_calendar: no calendar 'office' (calendars: 24/7)",
        ),
        (
            "version: sla/v1\nlimits:\n  - {priority: P1, resolution: 4h}\n"
            "  - {priority: P1, resolution: 2h}\n",
            "sla.yaml:4: limits[1]: a second limit for P1 (first in limits[0])",
        ),
        (
            "version: sla/v1\nlimits:\n  - {priority: P1, resolution: soon}\n",
            "sla.yaml:3: limits[0].resolution: 'soon' is not a duration",
        ),
        (
            "version: sla/v1\nlimits:\n  - {priority: P5, resolution: 1h}\n",
            "sla.yaml:3: limits[0].priority: 'P5' is not a priority (P1..P4)",
        ),
        (
            "version: sla/v1\nlimits:\n  - priority: P1\n    resolve: 1h\n",
            "sla.yaml:4: limits[0].resolve: unknown key 'resolve'",
        ),
        (
            "version: sla/v1\ncalendar_rules:\n  - {calendar: 24/7}\n",
            "sla.yaml:3: calendar_rules[0]: a rule names a service, a team or both",
        ),
        ("version: sla/v1\nversion: sla/v1\n", "sla.yaml:2: version: duplicate key"),
        ("", "sla.yaml:1: (document): empty; start with 'version: sla/v1'"),
    ],
)
def test_mistakes_are_named_with_line_and_field(text: str, expected: str) -> None:
    found = errors(text)
    assert any(e.startswith(expected) for e in found), found


def test_every_error_is_reported_at_once() -> None:
    found = errors("version: sla/v1\npausing_statuses: [x]\nlimits:\n  - {priority: P9}\n")
    assert len(found) == 2


def test_the_shipped_example_is_valid_and_the_cli_checks_it(tmp_path: Path) -> None:
    policy = load_sla_policy(EXAMPLE)
    assert policy.first_response["P1"] == 900
    result = CliRunner().invoke(main, ["sla", "check", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "P1 of network: 2h / -" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: sla/v1\nlimits:\n  - {priority: P5}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["sla", "check", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3: limits[0].priority" in result.output


def test_the_setting_puts_the_policy_in_the_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_SLA_FILE", str(EXAMPLE))
    ctx = core_context(Settings())
    assert ctx.sla_policy.resolution_limit("network", "P1") == 7200
    assert ctx.sla_policy.calendars[0].name == "desk"
    monkeypatch.delenv("KPI_SLA_FILE")
    plain = core_context(Settings())
    assert plain.sla_policy.pausing == frozenset()
    assert plain.sla_policy.calendars[0].always


def test_worker_and_replay_refuse_an_invalid_policy_with_its_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "sla.yaml"
    bad.write_text("version: sla/v9\n", encoding="utf-8")
    monkeypatch.setenv("KPI_SLA_FILE", str(bad))
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 1 and f"{bad}:1: version" in result.output
    monkeypatch.delenv("KPI_SLA_FILE")
    args = ["replay", "--from", "2016-03-01", "--to", "2016-03-02", "--sla", str(bad)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1 and f"{bad}:1: version" in result.output
