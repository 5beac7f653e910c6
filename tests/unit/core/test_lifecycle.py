"""Ticket lifecycle edge cases, by hand: FCR rules, reopen, escalation, dimension updates."""

from __future__ import annotations

import pytest

from pipeline.core.kpis import KpiConfig, catalogue
from pipeline.core.lifecycle import Rejection, TicketState, apply_ticket_event
from pipeline.core.observations import Observation, ObsKind
from pipeline.engine.layout import Layout, values_of
from tests.unit.core.factories import HOUR, MIN, T0, ticket


def play(*events: object) -> tuple[TicketState | None, list[Observation]]:
    state: TicketState | None = None
    seen: list[Observation] = []
    for ev in events:
        state, obs = apply_ticket_event(state, ev)  # type: ignore[arg-type]
        seen += obs
    return state, seen


def kinds(obs: list[Observation]) -> list[str]:
    return [o.kind.value for o in obs]


def resolved(obs: list[Observation]) -> list[Observation]:
    return [o for o in obs if o.kind is ObsKind.RESOLVED]


def test_one_reply_then_resolved_is_first_contact_resolution() -> None:
    _, obs = play(
        ticket("created", "t", T0),
        ticket("agent_reply", "t", T0 + MIN),
        ticket("resolved", "t", T0 + 2 * MIN),
    )
    assert kinds(obs) == ["created", "first_reply", "interaction", "resolved"]
    (res,) = resolved(obs)
    assert (res.first_resolution, res.fcr, res.value) == (True, True, 120.0)


@pytest.mark.parametrize(
    "middle",
    [
        ["agent_reply", "agent_reply"],  # two replies
        ["reassigned"],
        ["escalated"],
    ],
)
def test_fcr_fails_with_two_replies_a_reassignment_or_an_escalation(middle: list[str]) -> None:
    events = [ticket("created", "t", T0)]
    events += [ticket(kind, "t", T0 + (i + 1) * MIN) for i, kind in enumerate(middle)]
    events.append(ticket("resolved", "t", T0 + HOUR))
    (res,) = resolved(play(*events)[1])
    assert res.first_resolution and not res.fcr


def test_resolution_without_reply_is_fcr() -> None:
    (res,) = resolved(play(ticket("created", "t", T0), ticket("resolved", "t", T0 + MIN))[1])
    assert res.fcr


def test_reopen_before_first_reply_and_second_resolution() -> None:
    _, obs = play(
        ticket("created", "t", T0),
        ticket("resolved", "t", T0 + 10 * MIN),
        ticket("reopened", "t", T0 + 20 * MIN),
        ticket("agent_reply", "t", T0 + 30 * MIN),  # first reply after the reopen
        ticket("resolved", "t", T0 + 40 * MIN),
    )
    first, second = resolved(obs)
    assert (first.first_resolution, first.fcr) == (True, True)
    # every resolution counts for resolution time; only the first one for FCR
    assert (second.first_resolution, second.fcr, second.value) == (False, False, 2400.0)
    frt = [o for o in obs if o.kind is ObsKind.FIRST_REPLY]
    assert [o.value for o in frt] == [1800.0]
    assert kinds(obs).count("reopened") == 1


def test_reassignment_after_resolution_moves_dimensions_but_not_fcr() -> None:
    state, obs = play(
        ticket("created", "t", T0, team="email-l1"),
        ticket("resolved", "t", T0 + MIN),
        ticket("reopened", "t", T0 + 2 * MIN),
        ticket("reassigned", "t", T0 + 3 * MIN, team="email-l2"),
        ticket("resolved", "t", T0 + 4 * MIN),
    )
    first, second = resolved(obs)
    assert first.fcr and first.dims.team == "email-l1"
    assert second.dims.team == "email-l2"
    assert state is not None and state.reassignments == 0


def test_escalation_counts_once_per_ticket() -> None:
    _, obs = play(
        ticket("created", "t", T0),
        ticket("escalated", "t", T0 + MIN),
        ticket("escalated", "t", T0 + 2 * MIN),
    )
    assert kinds(obs).count("first_escalated") == 1


def test_contradictions_are_rejected_with_a_reason() -> None:
    created = ticket("created", "t", T0)
    state, _ = play(created)
    with pytest.raises(Rejection) as dup:
        apply_ticket_event(state, ticket("created", "t", T0 + MIN))
    assert dup.value.reason == "duplicate_created"
    with pytest.raises(Rejection) as unknown:
        apply_ticket_event(None, ticket("resolved", "x", T0))
    assert unknown.value.reason == "unknown_ticket"
    with pytest.raises(Rejection) as reopen_open:
        apply_ticket_event(state, ticket("reopened", "t", T0 + MIN))
    assert reopen_open.value.reason == "invalid_transition"


def test_closed_ticket_leaves_state() -> None:
    state, _ = play(
        ticket("created", "t", T0),
        ticket("resolved", "t", T0 + MIN),
        ticket("closed", "t", T0 + 2 * MIN),
    )
    assert state is None


def kpi_values(
    observations: list[Observation], config: KpiConfig | None = None
) -> dict[str, dict[str, float]]:
    return values_of(Layout.of(catalogue(config)), observations)


def test_zero_denominators_give_no_value() -> None:
    values = kpi_values([])
    assert values["fcr_rate"] == {} and values["csat"] == {} and values["nps"] == {}
    assert values["resolution_time"] == {}
    assert values["tickets_created"] == {"value": 0.0}


def test_sla_boundary_and_configurable_policy() -> None:
    # P3 resolved in exactly 24h meets the default SLA; one second more does not
    _, ok = play(ticket("created", "a", T0, priority="P3"), ticket("resolved", "a", T0 + 86400))
    _, late = play(ticket("created", "b", T0, priority="P3"), ticket("resolved", "b", T0 + 86401))
    assert kpi_values(ok + late)["sla_compliance"] == {"value": 0.5}
    strict = KpiConfig(sla_seconds={"P3": 3600})
    assert kpi_values(ok + late, strict)["sla_compliance"] == {"value": 0.0}


def test_cost_uses_explicit_cost_else_handle_time_at_the_channel_rate() -> None:
    _, obs = play(
        ticket("created", "t", T0, channel="phone"),
        ticket("agent_reply", "t", T0 + MIN, cost=10.0),
        ticket("agent_reply", "t", T0 + 2 * MIN, handle_seconds=900.0),  # 0.25h x 40/h
        ticket("agent_reply", "t", T0 + 3 * MIN),  # no cost: not in the denominator
    )
    assert kpi_values(obs)["cost_per_interaction"] == {"value": 10.0}
