"""Forecast alerts: Holt's linear trend over a target's recent windows warns before the target is
missed, with episodes of its own."""

from __future__ import annotations

import math

import pytest

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.forecast import ForecastDetector, holt_forecast
from pipeline.alerts.model import AlertKind, Forecast, Objective, TargetSet
from pipeline.targets import TargetsError, parse_targets
from tests.unit.alerts import HOUR, T0, scope, series, states, target

FCR = target(objective=Objective(">=", 0.70))


def forecast(**overrides: object) -> Forecast:
    values: dict[str, object] = {
        "id": "forecast:fcr-billing",
        "target": FCR,
        "horizon_seconds": 12 * HOUR,
        "history": 24,
        "min_points": 8,
        "hold_windows": 2,
    }
    values.update(overrides)
    return Forecast(**values)  # type: ignore[arg-type]


def test_holt_extrapolates_a_linear_trend() -> None:
    path = holt_forecast([0.9 - 0.01 * i for i in range(12)], 5)
    assert path == pytest.approx([0.78 - 0.01 * k for k in range(5)], abs=1e-3)
    assert holt_forecast([0.8] * 10, 3) == [0.8, 0.8, 0.8]


def test_a_falling_kpi_warns_before_it_crosses_the_objective() -> None:
    detector = ForecastDetector(forecast())
    # FCR falls 1.5 points an hour from 0.90 and is met all along (0.735 at the 12th window).
    falling = series([(0.90 - 0.015 * i, 100) for i in range(12)], T0)
    events = [e for r in falling for e in detector.observe(r)]
    # No forecast before the 8th window (min_points); there (0.795) the fitted trend crosses
    # 0.70 within the 12h horizon; a second window in a row fires.
    assert states(events) == ["pending", "firing"]
    pending, firing = events
    assert pending.at == T0 + 7 * HOUR and firing.at == T0 + 8 * HOUR
    assert pending.kind is AlertKind.FORECAST and pending.rule_id == "forecast:fcr-billing"
    assert pending.episode_id == firing.episode_id
    assert pending.objective == FCR.objective and pending.severity == "warning"
    (row,) = detector.status()
    # From 0.735: 0.72, 0.705 still meet >= 0.70, the third step (0.69) does not.
    assert row.breach_in == pytest.approx(3 * HOUR)
    # Back to a flat KPI: no breach ahead, the episode resolves.
    flat = series([(0.85, 100)] * 12, T0 + 12 * HOUR)
    later = [e for r in flat for e in detector.observe(r)]
    assert states(later) == ["resolved"] and later[0].episode_id == pending.episode_id


def test_no_forecast_on_a_steady_kpi_or_once_the_target_is_missed() -> None:
    detector = ForecastDetector(forecast())
    steady = series([(0.80 + 0.005 * ((-1) ** i), 100) for i in range(24)], T0)
    assert [e for r in steady for e in detector.observe(r)] == []
    (row,) = detector.status()
    assert row.breach_in is None
    missed = ForecastDetector(forecast(hold_windows=1))
    below = series([(0.55 - 0.01 * i, 100) for i in range(12)], T0)
    assert [e for r in below for e in missed.observe(r)] == []  # the target's alert counts


def test_the_warning_stays_up_until_the_targets_own_alert_can_speak() -> None:
    engine = AlertEngine(TargetSet("targets/v1", targets=(FCR,), forecasts=(forecast(),)))
    # Falling 1.5 points an hour: the forecast fires at the 9th window (0.78). From 0.69 the
    # value misses 0.70, but 100 tickets leave the Wilson interval across the objective: no
    # target episode yet, so the forecast keeps warning (a breach expected now) ...
    falling = series([(0.90 - 0.015 * i, 100) for i in range(21)], T0)
    events = engine.observe(falling)
    kinds = [(e.kind.value, e.state.value, (e.at - T0) // HOUR) for e in events]
    assert kinds[:2] == [("forecast", "pending", 7), ("forecast", "firing", 8)]
    (row,) = [r for r in engine.status() if r.kind is AlertKind.FORECAST]
    assert row.breach_in is None or row.breach_in >= 0
    # ... until the breach is credible (0.60 at the 21st window: interval below 0.70), where
    # the target's episode starts and the forecast's resolves, at the same window.
    assert kinds[2:] == [("target", "pending", 20), ("forecast", "resolved", 20)]
    in_band = ForecastDetector(forecast())
    [e for r in falling[:15] for e in in_band.observe(r)]
    (status,) = in_band.status()
    assert status.value == pytest.approx(0.69) and status.breach_in == 0


def test_small_samples_other_scopes_and_redeliveries_are_ignored() -> None:
    detector = ForecastDetector(forecast(hold_windows=1))
    thin = series([(0.90 - 0.02 * i, 10) for i in range(12)], T0)  # below min_sample 30
    other = series([(0.90 - 0.02 * i, 100) for i in range(12)], T0, where=scope("network"))
    assert [e for r in thin + other for e in detector.observe(r)] == []
    assert detector.status() == [] or all(r.breach_in is None for r in detector.status())
    falling = series([(0.90 - 0.02 * i, 100) for i in range(9)], T0 + 20 * HOUR)
    first = [e for r in falling for e in detector.observe(r)]
    again = [e for r in falling for e in detector.observe(r)]
    assert states(first) == ["pending", "firing"] and again == []


def test_state_survives_a_restart_and_a_changed_forecast_ends_its_episode() -> None:
    targets = TargetSet("targets/v1", targets=(FCR,), forecasts=(forecast(),))
    engine = AlertEngine(targets)
    falling = series([(0.90 - 0.01 * i, 100) for i in range(11)], T0)
    events = [e for e in engine.observe(falling) if e.kind is AlertKind.FORECAST]
    assert states(events) == ["pending", "firing"]
    restored = AlertEngine.from_json(engine.to_json())
    assert restored.targets.forecasts == targets.forecasts
    (row,) = [r for r in restored.status() if r.kind is AlertKind.FORECAST]
    assert row.episode_id == events[0].episode_id and row.breach_in is not None
    # Further windows continue the same episode (no new pending).
    more = series([(0.79, 100)], T0 + 11 * HOUR)
    assert [e for e in restored.observe(more) if e.kind is AlertKind.FORECAST] == []
    changed = TargetSet(
        "targets/v1", targets=(FCR,), forecasts=(forecast(horizon_seconds=2 * HOUR),)
    )
    closing = restored.replace_targets(changed)
    assert [(e.kind, e.state.value) for e in closing] == [(AlertKind.FORECAST, "resolved")]


def test_forecasts_in_the_targets_file() -> None:
    text = (
        "version: targets/v1\n"
        "targets:\n"
        "  - {id: fcr, kpi: fcr_rate, window: 24h, objective: '>= 0.7'}\n"
        "forecasts:\n"
        "  - {target: fcr, horizon: 6h, history: 12}\n"
    )
    targets, _ = parse_targets(text, "t.yaml", windows={"1h": 300.0, "24h": 3600.0})
    (f,) = targets.forecasts
    assert (f.id, f.target.id, f.horizon_seconds, f.history, f.min_points) == (
        "forecast:fcr", "fcr", 6 * HOUR, 12, 8,
    )  # fmt: skip
    assert f.line == 5
    with pytest.raises(TargetsError) as caught:
        parse_targets(text.replace("target: fcr,", "target: fc,"), "t.yaml")
    assert any(
        str(i).startswith("t.yaml:5: forecasts[0].target: no target 'fc'")
        for i in caught.value.issues
    )
    assert math.isclose(f.target.objective.value, 0.7)
