"""Statuses, the SLA clock (calendar, pauses), time in status and handoffs, by hand."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.core.kpis import KpiConfig, catalogue
from pipeline.core.lifecycle import TicketState, apply_ticket_event
from pipeline.core.observations import Observation, ObsKind
from pipeline.core.sla import Calendar, CalendarRule, SlaPolicy
from pipeline.engine.layout import Layout, values_of
from tests.unit.core.factories import HOUR, MIN, T0, ticket

# Weekdays 09:00-17:00 in Brussels (UTC+1 in January); T0 is Thursday 2026-01-01 00:00Z.
OFFICE = Calendar(
    "office",
    "Europe/Brussels",
    tuple(((9 * 3600, 17 * 3600),) if d < 5 else () for d in range(7)),
    frozenset({date(2026, 1, 1)}),
)
PAUSING = frozenset({"awaiting_customer", "awaiting_vendor"})


def play(*events: object, policy: SlaPolicy | None = None) -> list[Observation]:
    state: TicketState | None = None
    seen: list[Observation] = []
    for ev in events:
        if policy is None:
            state, obs = apply_ticket_event(state, ev)  # type: ignore[arg-type]
        else:
            state, obs = apply_ticket_event(state, ev, policy)  # type: ignore[arg-type]
        seen += obs
    return seen


def status(name: str, ts: float, **fields: object) -> object:
    return ticket("status_changed", "t", ts, status=name, **fields)


def of(obs: list[Observation], kind: ObsKind) -> list[Observation]:
    return [o for o in obs if o.kind is kind]


def values(obs: list[Observation], policy: SlaPolicy | None = None) -> dict[str, dict[str, float]]:
    return values_of(Layout.of(catalogue(KpiConfig(sla_policy=policy))), obs)


def test_a_visit_is_observed_when_the_ticket_leaves_the_status_or_is_resolved() -> None:
    obs = play(
        ticket("created", "t", T0),
        status("new", T0),
        status("in_progress", T0 + 10 * MIN),
        status("in_progress", T0 + 20 * MIN),  # no move: the visit goes on
        status("awaiting_customer", T0 + HOUR),
        ticket("resolved", "t", T0 + 3 * HOUR),
    )
    visits = [(o.kind.value, o.value) for o in obs if o.kind.startswith("time_in:")]
    assert visits == [
        ("time_in:new", 600.0),
        ("time_in:in_progress", 3000.0),
        ("time_in:awaiting_customer", 7200.0),
    ]
    got = values(obs)
    assert got["time_in_status_in_progress"]["mean"] == pytest.approx(3000.0)
    assert got["time_in_status_queued"] == {}


def test_without_a_policy_nothing_pauses_and_the_clock_is_the_elapsed_time() -> None:
    obs = play(
        ticket("created", "t", T0, priority="P3"),
        status("awaiting_customer", T0 + HOUR),
        ticket("resolved", "t", T0 + 30 * HOUR),
    )
    (res,) = of(obs, ObsKind.RESOLVED)
    assert (res.sla_value, res.paused, res.value) == (30 * HOUR, 0.0, 30 * HOUR)
    assert values(obs)["sla_compliance"] == {"value": 0.0}  # P3: 24h


def test_pausing_statuses_stop_the_clock_and_a_reopen_resumes_the_status() -> None:
    policy = SlaPolicy(resolution={"P3": 24 * HOUR}, pausing=PAUSING)
    events = (
        ticket("created", "t", T0, priority="P3"),
        status("in_progress", T0),
        status("awaiting_customer", T0 + HOUR),
        status("in_progress", T0 + 11 * HOUR),  # 10h paused
        ticket("resolved", "t", T0 + 30 * HOUR),  # 20h on the clock
        status("awaiting_vendor", T0 + 31 * HOUR),  # while resolved: no visit, no pause
        ticket("reopened", "t", T0 + 40 * HOUR),  # paused from here
        ticket("resolved", "t", T0 + 42 * HOUR),
    )
    obs = play(*events, policy=policy)
    first, second = of(obs, ObsKind.RESOLVED)
    assert (first.sla_value, first.paused, first.business) == (20 * HOUR, 10 * HOUR, 30 * HOUR)
    assert (second.sla_value, second.paused) == (30 * HOUR, 12 * HOUR)
    assert [o.value for o in of(obs, ObsKind.IN_AWAITING_VENDOR)] == [2 * HOUR]
    got = values(obs, policy)
    assert got["sla_compliance"] == {"value": 0.5}
    assert got["sla_paused_share"]["value"] == pytest.approx(22 / 72)
    # The same stream without a policy: nothing paused, neither resolution within 24h.
    assert values(play(*events))["sla_compliance"] == {"value": 0.0}


def test_business_hours_skip_nights_weekends_and_holidays() -> None:
    # 2026-01-01 is a holiday, Friday 2nd 09:00-17:00 local = 08:00-16:00Z, then the weekend.
    assert OFFICE.business_seconds(T0, T0 + 4 * 86400) == 8 * HOUR
    friday_noon = T0 + 86400 + 11 * HOUR  # 12:00 local: 5h left on Friday
    monday_11 = T0 + 4 * 86400 + 10 * HOUR  # 11:00 local: 2h on Monday
    assert OFFICE.business_seconds(friday_noon, monday_11) == 5 * HOUR + 2 * HOUR
    assert OFFICE.business_seconds(monday_11, friday_noon) == 0.0


def test_daylight_saving_day_keeps_local_hours() -> None:
    cal = Calendar("c", "Europe/Brussels", tuple(((8 * 3600, 18 * 3600),) for _ in range(7)))
    # Sunday 2026-03-29 (clocks go forward): 08:00-18:00 local = 06:00-16:00Z.
    day = 1_774_742_400.0  # 2026-03-29T00:00Z
    assert cal.business_seconds(day, day + 86400) == 10 * HOUR
    assert cal.business_seconds(day + 6 * HOUR, day + 7 * HOUR) == HOUR
    assert cal.business_seconds(day + 5 * HOUR, day + 6 * HOUR) == 0.0


def test_first_response_limit_on_the_policy_clock_and_calendar_rules() -> None:
    policy = SlaPolicy(
        resolution={"P2": 8 * HOUR},
        first_response={"P2": HOUR},
        calendars=(Calendar("24/7"), OFFICE),
        rules=(CalendarRule(1, team="office-team"),),
    )
    # Created on the holiday, first reply Friday 08:30Z: 30 business minutes.
    obs = play(
        ticket("created", "t", T0, priority="P2", team="office-team"),
        ticket("agent_reply", "t", T0 + 86400 + 8.5 * HOUR),
        ticket("resolved", "t", T0 + 86400 + 15 * HOUR),  # 7 business hours
        policy=policy,
    )
    (reply,) = of(obs, ObsKind.FIRST_REPLY)
    assert (reply.sla_value, reply.value) == (30 * MIN, 86400 + 8.5 * HOUR)
    got = values(obs, policy)
    assert got["first_response_sla_compliance"] == {"value": 1.0}
    assert got["sla_compliance"] == {"value": 1.0}
    assert got["sla_resolution_time"]["mean"] == pytest.approx(7 * HOUR)
    # Without a first-response limit the KPI has no sample.
    assert values(obs)["first_response_sla_compliance"] == {}


def test_a_service_limit_overrides_the_priority_limit() -> None:
    policy = SlaPolicy(resolution={"P3": 24 * HOUR}, resolution_by_service={("email", "P3"): HOUR})
    obs = play(ticket("created", "t", T0, priority="P3"), ticket("resolved", "t", T0 + 2 * HOUR))
    assert values(obs, policy)["sla_compliance"] == {"value": 0.0}
    assert values(obs)["sla_compliance"] == {"value": 1.0}


def test_handoffs_count_team_changes_per_resolution() -> None:
    obs = play(
        ticket("created", "t", T0, team="a"),
        ticket("reassigned", "t", T0 + MIN, team="b"),
        ticket("agent_reply", "t", T0 + 2 * MIN, team="b"),  # same team: no handoff
        status("in_progress", T0 + 3 * MIN, team="c"),
        ticket("resolved", "t", T0 + HOUR),
        ticket("reopened", "t", T0 + 2 * HOUR),
        ticket("resolved", "t", T0 + 3 * HOUR),
    )
    assert [o.handoffs for o in of(obs, ObsKind.RESOLVED)] == [2, 0]
    assert values(obs)["handoffs_per_resolved"] == {"value": 1.0}


def test_status_fields_survive_the_stored_form() -> None:
    state, _ = apply_ticket_event(None, ticket("created", "t", T0))
    assert state is not None
    state, _ = apply_ticket_event(state, status("awaiting_customer", T0 + MIN))
    assert state is not None
    back = TicketState.from_json(state.to_json())
    assert (back.status, back.status_since) == ("awaiting_customer", T0 + MIN)
    old = state.to_json()
    for name in ("status", "status_since", "paused", "handoffs", "calendar"):
        del old[name]  # stored before statuses existed
    assert TicketState.from_json(old).status is None


def test_the_documented_sla_clock_example() -> None:
    # docs/kpis.md, "The SLA clock": Monday-Friday 09:00-17:00 UTC, awaiting_customer pauses.
    office = Calendar(
        "c", "UTC", tuple(((9 * 3600, 17 * 3600),) if d < 5 else () for d in range(7))
    )
    policy = SlaPolicy(pausing=frozenset({"awaiting_customer"}), calendars=(office,))
    monday = T0 + 4 * 86400  # 2026-01-05
    obs = play(
        ticket("created", "t", monday + 15 * HOUR),
        status("awaiting_customer", monday + 16 * HOUR),
        status("in_progress", monday + 34 * HOUR),  # Tuesday 10:00
        ticket("resolved", "t", monday + 38 * HOUR),
        policy=policy,
    )
    (res,) = of(obs, ObsKind.RESOLVED)
    assert (res.business, res.paused, res.sla_value, res.value) == (
        7 * HOUR,
        2 * HOUR,
        5 * HOUR,
        23 * HOUR,
    )
    assert values(obs, policy)["sla_paused_share"]["value"] == pytest.approx(2 / 7)


def test_a_ticket_stored_under_a_policy_with_more_calendars_falls_back_to_the_default() -> None:
    policy = SlaPolicy(calendars=(Calendar("24/7"), OFFICE), rules=(CalendarRule(1, team="x"),))
    state, _ = apply_ticket_event(None, ticket("created", "t", T0, team="x"), policy)
    assert state is not None and state.calendar == 1
    restored = TicketState.from_json(state.to_json())
    # A new policy with one calendar: the ticket's clock runs on it, nothing fails.
    _, obs = apply_ticket_event(restored, ticket("resolved", "t", T0 + HOUR), SlaPolicy())
    assert of(obs, ObsKind.RESOLVED)[0].sla_value == HOUR
