"""The target state machine: sample minimum, credibility, hold, hysteresis, severities, episodes,
replays, restarts and reloads, on hand-made 24h windows closing every hour."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

import pytest

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import (
    AlertEvent,
    AlertKind,
    AlertState,
    Objective,
    ScopeMatch,
    Severity,
    TargetSet,
)
from pipeline.alerts.stats import wilson_interval
from pipeline.core.results import WindowResult
from tests.unit.alerts import DAY, HOUR, T0, drift_check, result, scope, series, states, target

E = T0 + DAY  # end of the first 24h window
GOOD, BAD, WORSE, BAND = 0.80, 0.60, 0.45, 0.72  # objective >= 0.70, clear margin 0.04
N = 400  # a sample large enough for every breach above to be credible


def engine(*targets: object, **overrides: object) -> AlertEngine:
    chosen = targets or (target(**overrides),)
    return AlertEngine(TargetSet("targets/v1", targets=tuple(chosen)))  # type: ignore[arg-type]


def run(eng: AlertEngine, results: Sequence[WindowResult]) -> list[AlertEvent]:
    """Feed one window at a time, as the worker does when windows close one by one."""
    events: list[AlertEvent] = []
    for r in results:
        events.extend(eng.observe([r]))
    return events


def rates(*values: float, n: int = N, first_end: int = E, **kw: object) -> list[WindowResult]:
    return series([(v, n) for v in values], first_end, **kw)  # type: ignore[arg-type]


def test_no_alert_below_the_sample_minimum_even_with_a_huge_gap() -> None:
    eng = engine()
    events = run(eng, rates(*[0.05] * 30, n=29))  # min_sample 30: one short
    assert events == []
    [row] = eng.status()
    assert row.state is AlertState.OK and row.gap == pytest.approx(0.65)
    assert row.sample_size == 29 and row.window_end == E + 29 * HOUR
    # The same windows with one more sample do alert.
    assert states(run(engine(), rates(*[0.05] * 30, n=30)))[:2] == ["pending", "firing"]


def test_a_breach_shorter_than_the_hold_never_fires() -> None:
    # Breaching windows at E+1h, E+2h, E+3h: 2h of breach < hold 3h.
    events = run(engine(), rates(GOOD, BAD, BAD, BAD, GOOD, GOOD))
    assert states(events) == ["pending", "resolved"]
    pending, resolved = events
    assert pending.at == pending.started_at == E + HOUR
    assert resolved.at == E + 4 * HOUR and resolved.started_at == E + HOUR
    assert resolved.episode_id == pending.episode_id
    # One more breaching window reaches the hold exactly: it fires at that window.
    events = run(engine(), rates(GOOD, BAD, BAD, BAD, BAD, GOOD))
    assert states(events) == ["pending", "firing", "resolved"]
    assert events[1].at == E + 4 * HOUR


def test_a_noisy_small_sample_is_not_a_credible_breach() -> None:
    # fcr 0.55 on 12 tickets: far below 0.70, but the Wilson interval reaches above it.
    low, high = wilson_interval(0.55 * 12, 12, 0.95)
    assert low < 0.70 < high
    eng = engine(min_sample=10)
    assert run(eng, rates(*[0.55] * 10, n=12)) == []
    assert eng.status()[0].gap == pytest.approx(0.15)  # the gap is still exported
    # The same rate on 400 tickets is credible and fires after the hold.
    events = run(engine(min_sample=10), rates(*[0.55] * 10, n=400))
    assert states(events) == ["pending", "firing"]
    assert events[1].at - events[0].at == 3 * HOUR


def test_credibility_for_a_lower_is_better_rate() -> None:
    reopen = target(id="reopen", kpi="reopen_rate", objective=Objective("<=", 0.10))
    # 14% reopened of 100: the interval's lower bound (~0.085) is below 10%, not credible.
    assert run(engine(reopen), rates(*[0.14] * 6, n=100, kpi="reopen_rate")) == []
    # Of 1000, the lower bound (~0.12) is above 10%.
    events = run(engine(reopen), rates(*[0.14] * 6, n=1000, kpi="reopen_rate"))
    assert states(events) == ["pending", "firing"]
    assert events[0].gap == pytest.approx(0.04) and events[0].gap_relative == pytest.approx(0.4)


def test_non_ratio_kpis_need_no_credibility() -> None:
    nps = target(id="nps", kpi="nps", objective=Objective(">=", 30.0), min_sample=30)
    events = run(engine(nps), rates(*[25.0] * 4, n=30, kpi="nps"))
    assert states(events) == ["pending", "firing"]
    assert events[0].gap == pytest.approx(5.0)


def test_one_sustained_breach_that_recovers_is_exactly_one_episode() -> None:
    events = run(engine(), rates(GOOD, GOOD, *[BAD] * 6, GOOD, GOOD))
    assert states(events) == ["pending", "firing", "resolved"]
    assert len({e.episode_id for e in events}) == 1
    assert [e.at for e in events] == [E + 2 * HOUR, E + 5 * HOUR, E + 8 * HOUR]
    assert {e.started_at for e in events} == {E + 2 * HOUR}
    _, firing, resolved = events
    assert firing.kind is AlertKind.TARGET and firing.rule_id == "fcr-billing"
    assert (firing.kpi, firing.stat, firing.window) == ("fcr_rate", "value", "24h")
    assert firing.labels == scope().labels()
    assert firing.value == BAD and firing.gap == pytest.approx(0.10)
    assert firing.gap_relative == pytest.approx(0.10 / 0.70)
    assert firing.objective == Objective(">=", 0.70) and firing.sample_size == N
    assert resolved.value == GOOD and resolved.gap == 0.0


def test_resolves_only_past_the_clear_margin() -> None:
    eng = engine()
    fired = run(eng, rates(*[BAD] * 4))
    assert states(fired) == ["pending", "firing"]
    # Met but inside the band (0.70 .. 0.74), or clear but on too few tickets: still firing.
    later = E + 4 * HOUR
    assert run(eng, rates(0.70, BAND, BAND, first_end=later)) == []
    assert run(eng, rates(GOOD, n=29, first_end=later + 3 * HOUR)) == []
    assert eng.status()[0].state is AlertState.FIRING
    # A non-credible wrong-side window does not resolve a firing alert either.
    assert run(eng, rates(0.65, n=40, first_end=later + 4 * HOUR)) == []
    events = run(eng, rates(0.745, first_end=later + 5 * HOUR))
    assert states(events) == ["resolved"] and events[0].episode_id == fired[0].episode_id


def test_a_lower_is_better_target_clears_below_objective_minus_margin() -> None:
    p90 = target(
        id="p90",
        kpi="resolution_time",
        stat="p90",
        objective=Objective("<=", 4 * HOUR),
        clear_margin=1800.0,
        hold_seconds=0.0,
    )
    eng = engine(p90)
    times = rates(5 * HOUR, 3.75 * HOUR, 3.5 * HOUR, kpi="resolution_time", stat="p90", n=100)
    events = run(eng, times)
    # hold 0: pending and firing on the same window; 3h45 is in the band; 3h30 clears.
    assert states(events) == ["pending", "firing", "resolved"]
    assert [e.at for e in events] == [E, E, E + 2 * HOUR]
    assert events[0].gap == 3600.0 and events[0].gap_relative == pytest.approx(0.25)


def test_severity_follows_the_gap() -> None:
    eng = engine()
    events = run(eng, rates(*[BAD] * 4))
    assert [e.severity for e in events] == ["warning", "warning"]  # gap 0.10 < 0.15
    # Worse while firing: the status shows critical, without a new event.
    assert run(eng, rates(WORSE, first_end=E + 4 * HOUR)) == []
    [row] = eng.status()
    assert row.state is AlertState.FIRING and row.severity == "critical"
    assert row.gap == pytest.approx(0.25)
    # An episode that is critical from the start fires as critical.
    events = run(engine(), rates(*[WORSE] * 4))
    assert [e.severity for e in events] == ["critical", "critical"]


def test_wildcard_scopes_are_independent_episodes() -> None:
    eng = engine(scope=ScopeMatch("service", service="*"))
    billing, email = scope("billing"), scope("email")
    team = scope("billing", breakdown="service_team", team="l1")  # another breakdown: ignored
    batches = [
        [
            result(BAD, N, E + i * HOUR, where=billing),
            result(BAD if i >= 2 else GOOD, N, E + i * HOUR, where=email),
            result(0.1, N, E + i * HOUR, where=team),
        ]
        for i in range(5)
    ]
    events = [e for batch in batches for e in eng.observe(batch)]
    by_service: dict[str, list[AlertEvent]] = {}
    for e in events:
        by_service.setdefault(e.labels["service"], []).append(e)
    assert set(by_service) == {"billing", "email"}
    assert states(by_service["billing"]) == ["pending", "firing"]
    assert states(by_service["email"]) == ["pending"]
    assert (
        by_service["billing"][0].started_at == E
        and by_service["email"][0].started_at == E + 2 * HOUR
    )
    assert by_service["billing"][0].episode_id != by_service["email"][0].episode_id
    rows = {row.labels["service"]: row for row in eng.status()}
    assert rows["billing"].state is AlertState.FIRING and rows["email"].state is AlertState.PENDING


def test_a_batch_is_processed_in_window_end_order() -> None:
    windows = rates(*[BAD] * 5, GOOD)
    one_by_one = run(engine(), windows)
    # Several windows closed at once, given newest first and mixed with another window spec.
    mixed = [*reversed(windows), *rates(*[0.1] * 6, window="1h", step=300)]
    assert engine().observe(mixed) == one_by_one
    assert states(one_by_one) == ["pending", "firing", "resolved"]


def _scenario() -> list[WindowResult]:
    billing, email = scope("billing"), scope("email")
    values = [GOOD, BAD, BAD, BAD, BAD, WORSE, BAND, GOOD, BAD, BAD, GOOD, BAD, BAD, BAD, BAD]
    out = []
    for i, v in enumerate(values):
        out.append(result(v, N, E + i * HOUR, where=billing))
        out.append(result(values[(i + 3) % len(values)], N, E + i * HOUR, where=email))
    return out


def _wild_engine() -> AlertEngine:
    return engine(scope=ScopeMatch("service", service="*"))


def test_a_replay_gives_identical_events_and_ids() -> None:
    first = run(_wild_engine(), _scenario())
    second = run(_wild_engine(), _scenario())
    assert first == second
    assert len({e.episode_id for e in first}) >= 4  # several episodes, all reproduced
    # Batched differently (whole days at once), the same events again.
    windows = _scenario()
    eng = _wild_engine()
    batched = [e for i in range(0, len(windows), 8) for e in eng.observe(windows[i : i + 8])]
    assert batched == first


@pytest.mark.parametrize("cut", [5, 9, 13, 20])
def test_restoring_from_json_mid_episode_continues_the_same_episodes(cut: int) -> None:
    windows = _scenario()
    uninterrupted = _wild_engine()
    expected = run(uninterrupted, windows)

    before = _wild_engine()
    events = run(before, windows[:cut])
    saved = json.loads(json.dumps(before.to_json()))  # plain JSON types only
    restored = AlertEngine.from_json(saved)
    # A restart re-delivers the last windows before moving on: nothing is emitted twice.
    events += run(restored, windows[cut - 4 :])
    assert events == expected
    assert restored.status() == uninterrupted.status()


def test_re_observing_an_old_window_emits_nothing() -> None:
    eng = engine()
    windows = rates(*[BAD] * 5)
    assert states(run(eng, windows)) == ["pending", "firing"]
    assert eng.observe(windows) == []
    assert eng.observe([windows[2]]) == []
    # An old window with a different value does not rewrite history either.
    assert eng.observe([result(GOOD, N, E + 2 * HOUR)]) == []
    assert eng.status()[0].state is AlertState.FIRING


def test_a_pending_scope_without_data_in_the_next_window_resolves() -> None:
    eng = engine(scope=ScopeMatch("service", service="*"))
    billing, email = scope("billing"), scope("email")
    events = eng.observe([result(BAD, N, E, where=billing), result(GOOD, N, E, where=email)])
    assert states(events) == ["pending"]
    # At E+1h only email had data; seen once E+2h arrives (a window may come in several calls).
    assert eng.observe([result(GOOD, N, E + HOUR, where=email)]) == []
    events = eng.observe([result(BAD, N, E + 2 * HOUR, where=billing)])
    assert states(events) == ["resolved", "pending"]
    assert events[0].at == E + HOUR and events[0].sample_size == 0
    assert events[1].started_at == E + 2 * HOUR and events[1].episode_id != events[0].episode_id


def test_a_firing_scope_without_data_keeps_firing() -> None:
    eng = engine(scope=ScopeMatch("service", service="*"))
    billing, email = scope("billing"), scope("email")
    for i in range(4):
        eng.observe([result(BAD, N, E + i * HOUR, where=billing)])
    assert eng.observe([result(GOOD, N, E + (4 + i) * HOUR, where=email) for i in range(3)]) == []
    states_by_service = {row.labels["service"]: row.state for row in eng.status()}
    assert states_by_service == {"billing": AlertState.FIRING, "email": AlertState.OK}


def test_replace_targets_keeps_unchanged_and_resolves_removed() -> None:
    kept = target(id="kept", line=3)
    removed = target(id="removed", objective=Objective(">=", 0.75))
    changed = target(id="changed", objective=Objective(">=", 0.72))
    eng = engine(kept, removed, changed)
    opened = run(eng, rates(*[BAD] * 4))
    ids = {(e.rule_id, e.state.value): e.episode_id for e in opened}
    assert len(opened) == 6

    new = target(id="new")
    events = eng.replace_targets(
        TargetSet(
            "targets/v1",
            targets=(
                replace(kept, line=7),  # moved in the file: same definition
                replace(changed, objective=Objective(">=", 0.71)),
                new,
            ),
        )
    )
    assert sorted((e.rule_id, e.state.value) for e in events) == [
        ("changed", "resolved"),
        ("removed", "resolved"),
    ]
    for e in events:
        assert e.episode_id == ids[(e.rule_id, "pending")] and e.at == E + 3 * HOUR
    rows = {row.rule_id: row for row in eng.status()}
    assert rows["kept"].state is AlertState.FIRING and "removed" not in rows
    assert "changed" not in rows and "new" not in rows  # fresh: no window seen yet

    events = run(eng, rates(BAD, GOOD, first_end=E + 4 * HOUR))
    assert [(e.rule_id, e.state.value) for e in events] == [
        ("changed", "pending"),
        ("new", "pending"),
        ("kept", "resolved"),
        ("changed", "resolved"),
        ("new", "resolved"),
    ]
    assert events[2].episode_id == ids[("kept", "pending")]  # the same episode, continued


def test_replace_targets_also_reloads_drift_checks() -> None:
    check = drift_check()
    eng = AlertEngine(TargetSet("targets/v1", drift=(check,)))
    events = eng.replace_targets(TargetSet("targets/v1", drift=(replace(check, line=9),)))
    assert events == [] and eng.targets.drift[0].line == 9


def test_the_engine_forwards_drift_events() -> None:
    eng = AlertEngine(TargetSet("targets/v1", drift=(drift_check(warmup=4, hold_windows=1),)))
    values = [600.0, 640.0, 620.0, 610.0, 630.0, 625.0, 615.0, 1400.0]
    windows = series(
        [(v, 50) for v in values], T0 + HOUR, kpi="first_response_time", stat="mean", window="1h"
    )
    events = eng.observe(windows)
    assert [(e.kind, e.state.value) for e in events] == [
        (AlertKind.DRIFT, "pending"),
        (AlertKind.DRIFT, "firing"),
    ]
    assert [row.kind for row in eng.status()] == [AlertKind.DRIFT]


def test_invalid_target_sets_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate target ids"):
        engine(target(), target())
    with pytest.raises(ValueError, match="does not split by team"):
        engine(scope=ScopeMatch("service", service="billing", team="l1"))
    with pytest.raises(ValueError, match="format"):
        AlertEngine.from_json({"format": "something/v0"})


def test_severities_are_ordered_by_gap_whatever_the_file_order() -> None:
    levels = (Severity("critical", 0.15), Severity("warning", 0.0))
    events = run(engine(severities=levels), rates(*[WORSE] * 4))
    assert [e.severity for e in events] == ["critical", "critical"]
    events = run(engine(severities=levels), rates(*[BAD] * 4))
    assert [e.severity for e in events] == ["warning", "warning"]


def test_status_exports_every_scope_with_its_gap() -> None:
    eng = engine(scope=ScopeMatch("service", service="*"), objective=Objective(">=", 0.0))
    eng.observe([result(0.5, N, E, where=scope("billing")), result(None, 0, E, where=scope("x"))])
    rows = {row.labels["service"]: row for row in eng.status()}
    assert rows["billing"].gap == 0.0 and rows["billing"].gap_relative is None  # objective 0
    assert rows["x"].value is None and rows["x"].gap is None and rows["x"].sample_size == 0
    assert all(row.objective == Objective(">=", 0.0) for row in rows.values())


def test_a_reload_shows_new_and_changed_targets_against_the_newest_window_at_once() -> None:
    """Primed with the newest closed window, a changed or new target appears with its new
    objective and gap right away (OK: no decision on a window already decided), and its
    state machine starts with the next window."""
    changed = target(id="changed", objective=Objective(">=", 0.70))
    eng = engine(changed)
    latest = rates(BAD, first_end=E)
    run(eng, latest)
    other_kpi = result(0.5, N, E, kpi="reopen_rate")
    events = eng.replace_targets(
        TargetSet(
            "targets/v1",
            targets=(
                replace(changed, objective=Objective(">=", 0.65)),
                target(id="new", objective=Objective(">=", 0.50)),
            ),
        ),
        latest=[*latest, other_kpi],
    )
    assert states(events) == ["resolved"]  # the changed rule's open episode ends
    rows = {row.rule_id: row for row in eng.status()}
    assert rows["changed"].state is AlertState.OK and rows["new"].state is AlertState.OK
    assert rows["changed"].objective == Objective(">=", 0.65)
    assert rows["changed"].gap == pytest.approx(0.65 - BAD)
    assert rows["new"].gap == 0.0 and rows["new"].window_end == E
    assert eng.observe(latest) == []  # that window was decided before the reload
    follow = run(eng, rates(BAD, first_end=E + HOUR))
    assert [(e.rule_id, e.state.value) for e in follow] == [("changed", "pending")]
