"""EWMA drift detection on hand-made series of 1h windows (closing every 5 minutes, of which only
the hourly ones are charted)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import pytest

from pipeline.alerts.drift import DriftDetector
from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import AlertEvent, AlertKind, AlertState, ScopeMatch, TargetSet
from pipeline.core.results import WindowResult
from tests.unit.alerts import HOUR, MIN, T0, drift_check, result, scope, series, states

MEAN, SIGMA = 600.0, 40.0  # first response time around 10 minutes
SHIFT_AT, SHIFT_LEN = 30, 20  # in hourly windows; the warmup is 12


def noisy(
    seed: int, count: int, shift: float = 0.0, at: int = SHIFT_AT, length: int = SHIFT_LEN
) -> list[float]:
    rng = random.Random(seed)
    return [
        MEAN + rng.gauss(0.0, SIGMA) + (shift if at <= i < at + length else 0.0)
        for i in range(count)
    ]


def hourly(values: Sequence[float | None], n: int = 50, **kw: object) -> list[WindowResult]:
    """Non-overlapping 1h windows: ends on the hour, from T0 + 1h."""
    kw = {"kpi": "first_response_time", "stat": "mean", "window": "1h", **kw}
    return series([(v, n) for v in values], T0 + HOUR, **kw)  # type: ignore[arg-type]


def run(detector: DriftDetector, results: Sequence[WindowResult]) -> list[AlertEvent]:
    return [e for r in results for e in detector.observe(r)]


def hour_of(event: AlertEvent) -> int:
    """Index of the hourly window that caused the event."""
    return int((event.at - T0) // HOUR) - 1


@pytest.mark.parametrize("seed", range(6))
def test_a_stable_noisy_series_never_fires(seed: int) -> None:
    detector = DriftDetector(drift_check())
    events = run(detector, hourly(noisy(seed, 300)))
    assert AlertState.FIRING not in {e.state for e in events}
    [row] = detector.status()
    # The baseline learnt the level and the noise: limits about mean +- 3 sigma sqrt(0.2/1.8).
    assert row.baseline == pytest.approx(MEAN, abs=15.0)
    assert row.lower is not None and row.upper is not None
    assert (row.upper - row.lower) / 2 == pytest.approx(3 * SIGMA * (0.2 / 1.8) ** 0.5, rel=0.3)


@pytest.mark.parametrize("shift", [4 * SIGMA, -4 * SIGMA])
def test_a_four_sigma_step_fires_once_and_resolves_when_it_returns(shift: float) -> None:
    detector = DriftDetector(drift_check())
    events = run(detector, hourly(noisy(1, 70, shift)))
    assert states(events) == ["pending", "firing", "resolved"]
    pending, firing, resolved = events
    assert len({e.episode_id for e in events}) == 1 and pending.started_at == pending.at
    assert {e.kind for e in events} == {AlertKind.DRIFT}
    assert hour_of(pending) >= SHIFT_AT and hour_of(firing) == hour_of(pending) + 1  # hold 2
    assert hour_of(firing) < SHIFT_AT + 4  # within a few windows of the shift
    back = SHIFT_AT + SHIFT_LEN
    assert back <= hour_of(resolved) < back + 10  # once the EWMA has come back inside
    assert firing.severity == "warning" and firing.objective is None
    assert firing.gap is not None and firing.gap > 0 and resolved.gap == 0.0
    assert firing.labels == scope("billing").labels()


def test_a_sustained_shift_keeps_firing_instead_of_being_absorbed() -> None:
    detector = DriftDetector(drift_check())
    events = run(detector, hourly(noisy(1, 150, 4 * SIGMA, length=120)))
    assert states(events) == ["pending", "firing"]
    [row] = detector.status()
    assert row.state is AlertState.FIRING
    # The baseline stayed where the KPI was before the shift.
    assert row.baseline == pytest.approx(MEAN, abs=15.0)


def test_hold_windows_counts_consecutive_out_of_control_windows() -> None:
    # One 6-sigma window pushes the EWMA out of its limits for two windows (it decays by 0.8
    # a window): that is one short of a hold of 3, and just enough for a hold of 2.
    values = noisy(1, 40)
    values[SHIFT_AT] += 6 * SIGMA
    events = run(DriftDetector(drift_check(hold_windows=3)), hourly(values))
    assert states(events) == ["pending", "resolved"]
    assert [hour_of(e) for e in events] == [SHIFT_AT, SHIFT_AT + 2]
    events = run(DriftDetector(drift_check(hold_windows=2)), hourly(values))
    assert states(events) == ["pending", "firing", "resolved"]
    assert [hour_of(e) for e in events] == [SHIFT_AT, SHIFT_AT + 1, SHIFT_AT + 2]


def test_a_single_outlier_is_not_learnt_into_the_baseline() -> None:
    # 4.5 sigma in one window moves the EWMA by 0.9 sigma only (inside the limits), but the
    # window is no evidence about the usual level: it must not shift the baseline or widen the
    # limits. Compare with the same series without that window.
    values = noisy(1, SHIFT_AT + 2)
    values[SHIFT_AT] = MEAN + 4.5 * SIGMA
    windows = hourly(values)
    with_outlier, without = DriftDetector(drift_check()), DriftDetector(drift_check())
    assert run(with_outlier, windows) == []
    run(without, windows[:SHIFT_AT] + windows[SHIFT_AT + 1 :])
    [seen], [unseen] = with_outlier.status(), without.status()
    assert seen.ewma != unseen.ewma  # the chart statistic did see it
    assert seen.baseline is not None and seen.baseline == unseen.baseline
    assert (seen.lower, seen.upper) == (unseen.lower, unseen.upper)


def test_nothing_fires_during_the_warmup() -> None:
    wild = [MEAN + (10 * SIGMA if i % 2 else 0.0) for i in range(11)]
    detector = DriftDetector(drift_check())
    assert run(detector, hourly(wild)) == []
    [row] = detector.status()
    assert row.lower is None and row.upper is None and row.state is AlertState.OK


def test_overlapping_windows_are_skipped() -> None:
    values = noisy(1, 70, 4 * SIGMA)
    aligned = hourly(values)
    expected = run(DriftDetector(drift_check()), aligned)
    assert states(expected) == ["pending", "firing", "resolved"]
    # The same hourly windows among 1h windows closing every 5 minutes, the others wild: they
    # are neither charted nor counted in the warmup, and the events are the same.
    mixed: list[WindowResult] = []
    for r in aligned:
        for k in range(11, 0, -1):
            mixed.append(
                result(MEAN * 5, 50, r.end - k * 5 * MIN, kpi=r.kpi, stat=r.stat, window="1h")
            )
        mixed.append(r)
    detector = DriftDetector(drift_check())
    assert run(detector, mixed) == expected
    # Overlapping only, however wild: nothing.
    only_overlapping = [r for r in mixed if r.end % HOUR]
    assert run(DriftDetector(drift_check(warmup=2)), only_overlapping) == []


def test_windows_below_the_sample_minimum_are_ignored() -> None:
    values = noisy(1, 70, 4 * SIGMA)
    expected = run(DriftDetector(drift_check()), hourly(values))
    # Every other window thin and wild: the charted windows are the same as above, one every 2h.
    thin = [v for value in values for v in (value, MEAN * 3)]
    results = [
        result(
            v,
            50 if i % 2 == 0 else 29,
            T0 + (i + 1) * HOUR,
            kpi="first_response_time",
            stat="mean",
            window="1h",
        )
        for i, v in enumerate(thin)
    ]
    events = run(DriftDetector(drift_check()), results)
    assert states(events) == states(expected)
    assert [hour_of(e) // 2 for e in events] == [hour_of(e) for e in expected]


def test_a_ratio_at_exactly_100_percent_does_not_alert_on_one_ticket() -> None:
    check = drift_check(id="sla-drift", kpi="sla_compliance", stat="value", window="24h")

    def days(values: Sequence[float]) -> list[WindowResult]:
        return series([(v, 200) for v in values], T0 + 86400, step=86400, kpi="sla_compliance")

    # Always 100%: sigma would be 0, and a single late ticket (99.5%) a "drift".
    assert run(DriftDetector(check), days([1.0] * 20 + [0.995] * 3)) == []
    events = run(DriftDetector(check), days([1.0] * 20 + [0.90] * 3))
    assert states(events) == ["pending", "firing"]


def test_replays_and_restarts_give_the_same_events() -> None:
    results = hourly(noisy(1, 70, 4 * SIGMA))
    uninterrupted = DriftDetector(drift_check())
    expected = run(uninterrupted, results)
    assert run(DriftDetector(drift_check()), results) == expected  # ids included
    for cut in (10, SHIFT_AT + 1, SHIFT_AT + 5):
        first = DriftDetector(drift_check())
        events = run(first, results[:cut])
        saved = json.loads(json.dumps(first.to_json()))
        restored = DriftDetector.from_json(drift_check(), saved)
        events += run(restored, results[cut - 3 :])  # re-delivered windows are ignored
        assert events == expected
        assert restored.status() == uninterrupted.status()


def test_re_observing_an_old_window_changes_nothing() -> None:
    results = hourly(noisy(1, SHIFT_AT + 3, 4 * SIGMA))
    detector = DriftDetector(drift_check())
    assert states(run(detector, results)) == ["pending", "firing"]
    before = detector.status()
    assert run(detector, results) == []
    assert (
        run(
            detector,
            [result(MEAN, 50, r.end, kpi=r.kpi, stat=r.stat, window="1h") for r in results],
        )
        == []
    )
    assert detector.status() == before


def test_each_scope_has_its_own_chart() -> None:
    detector = DriftDetector(drift_check())
    calm, shifted = noisy(2, 70), noisy(1, 70, 4 * SIGMA)
    results = [
        r
        for i in range(70)
        for r in (
            hourly([calm[i]], where=scope("email"))[0],
            hourly([shifted[i]], where=scope("billing"))[0],
        )
    ]
    # hourly() numbers windows from T0 + 1h: give each pair its own hour.
    results = [
        result(
            r.value,
            50,
            T0 + (i // 2 + 1) * HOUR,
            kpi=r.kpi,
            stat=r.stat,
            window="1h",
            where=r.scope,
        )
        for i, r in enumerate(results)
    ]
    events = run(detector, results)
    assert {e.labels["service"] for e in events} == {"billing"}
    assert states(events) == ["pending", "firing", "resolved"]
    assert {row.labels["service"] for row in detector.status()} == {"billing", "email"}


def test_the_engine_persists_its_drift_detectors() -> None:
    targets = TargetSet(
        "targets/v1", drift=(drift_check(scope=ScopeMatch("service", service="*")),)
    )
    results = hourly(noisy(1, 70, 4 * SIGMA))
    expected = AlertEngine(targets).observe(results)
    first = AlertEngine(targets)
    events = first.observe(results[: SHIFT_AT + 1])
    restored = AlertEngine.from_json(json.loads(json.dumps(first.to_json())))
    events += restored.observe(results[SHIFT_AT + 1 :])
    assert events == expected and states(events) == ["pending", "firing", "resolved"]
