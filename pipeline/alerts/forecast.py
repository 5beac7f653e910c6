"""Forecast alerts: warn before a target is expected to be breached (SPEC section 6).

Per concrete scope of the target, the newest ``history`` closed windows of the target's KPI with
at least the target's minimum sample are kept (every closed window of the spec, so points are
one step apart: a 24h window closing every hour gives hourly points of a smoothed series, which
is what a trend should be read from). With ``min_points`` of them, Holt's linear trend (additive
level and trend, parameters estimated by statsmodels) is fitted and extrapolated over the
horizon, one step at a time; the first step whose forecast is on the wrong side of the objective
is the expected breach, ``breach_in`` seconds of event time after the newest window.

A forecast speaks until the target's own alert takes over: once the KPI is on the wrong side
and the breach is credible (what starts the target's episode), an open forecast episode
resolves. On the wrong side without a credible breach yet (a rate KPI just past its objective,
its interval still reaching across), the breach is taken as expected now (``breach_in`` 0), so
the warning stays up through the hours the target's alert cannot yet speak. A breach predicted for
``hold_windows`` windows in a row fires (the first one is pending); the first window without a
predicted breach resolves the episode. Episode ids are the forecast's own (kind ``forecast``),
stable across restarts and replays like the others.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import deque
from typing import Any

from pipeline.alerts.model import AlertEvent, AlertKind, AlertState, Forecast, Target
from pipeline.alerts.stats import AlertStatus, ScopeFilter, episode_id, wilson_interval
from pipeline.core.results import WindowResult
from pipeline.core.scopes import Scope

__all__ = ["ForecastDetector", "holt_forecast"]


def holt_forecast(values: list[float], steps: int) -> list[float]:
    """Holt's linear trend fitted to ``values`` (evenly spaced), forecast ``steps`` ahead."""
    import numpy as np
    from statsmodels.tsa.holtwinters import Holt

    series = np.asarray(values, dtype=float)
    if float(series.max() - series.min()) == 0.0:
        return [float(series[-1])] * steps  # flat: no trend to estimate (and nothing to fit)
    with warnings.catch_warnings():
        # Short series often end the optimiser early (ConvergenceWarning); the fit is used
        # as it is, as the estimate of the recent level and trend.
        warnings.simplefilter("ignore")
        fit = Holt(series, initialization_method="estimated").fit()
        return [float(v) for v in fit.forecast(steps)]


def _credible_breach(target: Target, result: WindowResult) -> bool:
    """Whether a value on the wrong side starts the target's own episode (as the alert engine
    decides it): always for KPIs that are not ratios; for ratios, when the Wilson interval lies
    wholly on the wrong side."""
    if result.unit != "ratio":
        return True
    assert result.value is not None
    value, sample_size = result.value, result.sample_size
    low, high = wilson_interval(value * sample_size, sample_size, target.confidence)
    objective = target.objective
    return high < objective.value if objective.op == ">=" else low > objective.value


class _Series:
    __slots__ = (
        "breach_in",
        "episode",
        "last_end",
        "points",
        "run",
        "sample_size",
        "scope",
        "started_at",
        "state",
        "step",
        "value",
        "window_end",
    )

    def __init__(self, scope: Scope, history: int) -> None:
        self.scope = scope
        self.points: deque[tuple[float, float]] = deque(maxlen=history)  # (end, value)
        self.last_end: float | None = None
        self.step: float | None = None
        self.breach_in: float | None = None
        self.state = AlertState.OK
        self.run = 0
        self.started_at: float | None = None
        self.episode: str | None = None
        self.value: float | None = None
        self.sample_size = 0
        self.window_end: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _Series.__slots__ if name != "scope"}
        data["points"] = [list(p) for p in self.points]
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, scope: Scope, history: int, data: dict[str, Any]) -> _Series:
        series = cls(scope, history)
        for name, value in data.items():
            if name != "points":
                setattr(series, name, value)
        series.points.extend((float(end), float(v)) for end, v in data["points"])
        series.state = AlertState(data["state"])
        return series


class ForecastDetector:
    """Forecasts of one target, one series per concrete scope it matches."""

    def __init__(self, forecast: Forecast) -> None:
        self.forecast = forecast
        self._matches = ScopeFilter(forecast.target.scope, f"forecast {forecast.id}")
        self._series: dict[str, _Series] = {}

    def observe(self, result: WindowResult) -> list[AlertEvent]:
        target = self.forecast.target
        if (result.kpi, result.stat, result.window) != (target.kpi, target.stat, target.window):
            return []
        if not self._matches(result.scope):
            return []
        key = result.scope.encode()
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(result.scope, self.forecast.history)
        if series.last_end is not None and result.end <= series.last_end:
            return []  # re-delivered or replayed: already counted
        if series.last_end is not None:
            series.step = result.end - series.last_end
        series.last_end = result.end
        x = result.value
        if x is None or result.sample_size < target.min_sample:
            return []
        series.value, series.sample_size, series.window_end = x, result.sample_size, result.end
        series.points.append((result.end, x))
        series.breach_in = self._breach_in(series, x, result)
        return self._transition(series, key, result.end)

    def _breach_in(self, series: _Series, x: float, result: WindowResult) -> float | None:
        objective = self.forecast.target.objective
        if not objective.met(x):
            return None if _credible_breach(self.forecast.target, result) else 0.0
        if len(series.points) < self.forecast.min_points:
            return None
        ends = [end for end, _ in series.points]
        step = min(b - a for a, b in itertools.pairwise(ends))
        if step <= 0:
            return None
        steps = max(1, math.ceil(self.forecast.horizon_seconds / step))
        path = holt_forecast([v for _, v in series.points], steps)
        for k, value in enumerate(path, start=1):
            if not objective.met(value):
                return k * step
        return None

    def _transition(self, series: _Series, key: str, at: float) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        if series.breach_in is not None:
            series.run += 1
            if series.state is AlertState.OK:
                series.state = AlertState.PENDING
                series.started_at = at
                series.episode = episode_id(AlertKind.FORECAST, self.forecast.id, key, at)
                events.append(self._event(series, AlertState.PENDING, at))
            if series.state is AlertState.PENDING and series.run >= self.forecast.hold_windows:
                series.state = AlertState.FIRING
                events.append(self._event(series, AlertState.FIRING, at))
        else:
            series.run = 0
            if series.state is not AlertState.OK:
                events.append(self._event(series, AlertState.RESOLVED, at))
                series.state = AlertState.OK
                series.started_at = series.episode = None
        return events

    def _event(self, series: _Series, state: AlertState, at: float) -> AlertEvent:
        forecast, target = self.forecast, self.forecast.target
        assert series.episode is not None and series.started_at is not None
        return AlertEvent(
            episode_id=series.episode,
            kind=AlertKind.FORECAST,
            rule_id=forecast.id,
            state=state,
            at=at,
            started_at=series.started_at,
            kpi=target.kpi,
            stat=target.stat,
            window=target.window,
            labels=series.scope.labels(),
            value=series.value,
            objective=target.objective,
            gap=None,
            gap_relative=None,
            sample_size=series.sample_size,
            severity=forecast.severity,
        )

    def close_all(self) -> list[AlertEvent]:
        """RESOLVED events for every open episode (the forecast was removed or changed)."""
        events = [
            self._event(s, AlertState.RESOLVED, s.last_end or s.started_at or 0)
            for s in self._series.values()
            if s.state is not AlertState.OK
        ]
        self._series.clear()
        return events

    def status(self) -> list[AlertStatus]:
        forecast, target = self.forecast, self.forecast.target
        rows = []
        for key in sorted(self._series):
            s = self._series[key]
            rows.append(
                AlertStatus(
                    kind=AlertKind.FORECAST,
                    rule_id=forecast.id,
                    kpi=target.kpi,
                    stat=target.stat,
                    window=target.window,
                    scope=s.scope,
                    state=s.state,
                    severity=forecast.severity if s.state is not AlertState.OK else None,
                    value=s.value,
                    objective=target.objective,
                    gap=None,
                    gap_relative=None,
                    sample_size=s.sample_size,
                    window_end=s.window_end,
                    started_at=s.started_at,
                    episode_id=s.episode,
                    labels=s.scope.labels(),
                    breach_in=s.breach_in,
                )
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        return {"series": {key: s.to_json() for key, s in sorted(self._series.items())}}

    @classmethod
    def from_json(cls, forecast: Forecast, data: dict[str, Any]) -> ForecastDetector:
        detector = cls(forecast)
        for key, series in data["series"].items():
            detector._series[key] = _Series.from_json(Scope.decode(key), forecast.history, series)
        return detector
