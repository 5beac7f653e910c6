"""Drift alerts: an EWMA control chart per concrete scope, watching a KPI against its own recent
baseline (SPEC section 6), so a KPI that moves a lot alerts even while it still meets its target.

Only non-overlapping windows are charted: of a window spec that slides (1h windows every 5 min),
only the windows whose end is a multiple of the window size (the ones ending on the hour). Two
overlapping windows share most of their events, so consecutive values are strongly
autocorrelated: the variance estimated from them would be far too small and one real change would
show up in twelve successive points, which breaks the assumption of independent points that the
control limits rest on. Windows below the check's minimum sample are skipped (their noise is not
the noise the limits were estimated from); they neither count nor break a run.

The chart, with lambda = ``smoothing``, L = ``width`` and x_t the KPI value of window t:

- chart statistic: ``e_t = lambda * x_t + (1 - lambda) * e_{t-1}``, started at the baseline mean
  when the warmup ends;
- baseline: mean ``mu`` and variance ``s2`` of in-control windows, as an exponentially weighted
  Welford update with weight ``w = max(1/n, 1/M)`` (n = windows learnt so far, M = the baseline
  memory, 4 x warmup by default): a plain running mean while the baseline is young, then one that
  forgets slowly, so it follows the KPI's *recent* level but much more slowly than ``e_t``
  (a baseline as fast as the chart statistic would absorb a shift before it could be seen);
- sigma = sqrt(s2 * m/(m-1)) with m = min(n, M) (small-sample correction), floored for ratio
  KPIs at the binomial standard error sqrt(p(1-p)/n_t) of the window (p with the plus-four
  adjustment), so a KPI that sat at exactly 100% does not alert on one ticket;
- control limits: ``mu +- L * sigma * sqrt(lambda / (2 - lambda) + v)``. The first term is the
  asymptotic variance of the EWMA of independent points with standard deviation sigma (the
  textbook chart); ``v`` is the variance of the baseline mean itself, in units of sigma^2
  (``v <- (1 - w)^2 v + w^2``: 1/n for a plain mean, w/(2-w) once it forgets), because the
  chart compares ``e_t`` with an *estimated* centre line: right after a warmup of 12 windows
  that uncertainty is as large as the EWMA's, and ignoring it triples early false alarms;
- a window is out of control when ``e_t`` lies outside the limits.

The baseline learns window t only when the chart is in control after it and x_t itself lies
within ``mu +- L * sigma``: while out of control nothing is learnt, so a sustained shift keeps
alerting until it returns instead of being absorbed, and a single wild window does not inflate
sigma. The first ``warmup`` usable windows only build the baseline. An out-of-control window
opens an episode (PENDING), ``hold_windows`` consecutive ones fire it (FIRING), and the first
window back inside the limits ends it (RESOLVED).
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.alerts.model import AlertEvent, AlertKind, AlertState, DriftCheck
from pipeline.alerts.stats import AlertStatus, ScopeFilter, episode_id, relative_gap
from pipeline.core.results import WindowResult
from pipeline.core.scopes import Scope

__all__ = ["BASELINE_MEMORY_PER_WARMUP", "DriftDetector"]

BASELINE_MEMORY_PER_WARMUP = 4  # baseline memory M = this x warmup windows
_MIN_WARMUP = 2  # a standard deviation needs two points


class _Chart:
    """The chart and alert state of one concrete scope."""

    __slots__ = (
        "episode",
        "ewma",
        "last_end",
        "lower",
        "mean",
        "mean_var",
        "n",
        "run",
        "sample_size",
        "scope",
        "started_at",
        "state",
        "upper",
        "value",
        "var",
        "window_end",
    )

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.n = 0  # windows learnt into the baseline
        self.mean = 0.0
        self.mean_var = 1.0  # variance of the baseline mean, in units of sigma^2
        self.var = 0.0
        self.ewma: float | None = None
        self.lower: float | None = None
        self.upper: float | None = None
        self.last_end: int | None = None  # newest aligned window end processed
        self.state = AlertState.OK
        self.run = 0  # consecutive out-of-control usable windows
        self.started_at: int | None = None
        self.episode: str | None = None
        self.value: float | None = None
        self.sample_size = 0
        self.window_end: int | None = None

    def gap(self) -> float | None:
        if self.ewma is None or self.lower is None or self.upper is None:
            return None
        return max(0.0, self.ewma - self.upper, self.lower - self.ewma)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in _Chart.__slots__ if name != "scope"}
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, scope: Scope, data: dict[str, Any]) -> _Chart:
        chart = cls(scope)
        for name, value in data.items():
            setattr(chart, name, value)
        chart.state = AlertState(data["state"])
        return chart


class DriftDetector:
    """EWMA control charts of one ``DriftCheck``, one per concrete scope it matches."""

    def __init__(self, check: DriftCheck, *, baseline_windows: int | None = None) -> None:
        if not 0.0 < check.smoothing <= 1.0:
            raise ValueError(f"drift check {check.id}: smoothing must be in (0, 1]")
        if check.width <= 0 or check.hold_windows < 1:
            raise ValueError(f"drift check {check.id}: width and hold_windows must be positive")
        self.check = check
        self._matches = ScopeFilter(check.scope, f"drift check {check.id}")
        self._warmup = max(check.warmup, _MIN_WARMUP)
        self._memory = max(baseline_windows or BASELINE_MEMORY_PER_WARMUP * self._warmup, 2)
        lam = check.smoothing
        self._ewma_var_factor = lam / (2.0 - lam)
        self._charts: dict[str, _Chart] = {}

    def observe(self, result: WindowResult) -> list[AlertEvent]:  # noqa: PLR0911 (each way a window is ignored returns at once)
        """Feed one closed window (any window: non-matching, overlapping and already processed
        ones are ignored). Windows must arrive in order of end per scope."""
        check = self.check
        if (result.kpi, result.stat, result.window) != (check.kpi, check.stat, check.window):
            return []
        size = result.end - result.start
        if size <= 0 or result.end % size:
            return []  # overlapping window: see the module docstring
        if not self._matches(result.scope):
            return []
        key = result.scope.encode()
        chart = self._charts.get(key)
        if chart is None:
            chart = self._charts[key] = _Chart(result.scope)
        if chart.last_end is not None and result.end <= chart.last_end:
            return []  # re-delivered or replayed: already counted
        chart.last_end = result.end
        x = result.value
        if x is None or result.sample_size < check.min_sample:
            return []
        chart.value, chart.sample_size, chart.window_end = x, result.sample_size, result.end

        if chart.n < self._warmup:
            self._learn(chart, x)
            chart.ewma = chart.mean
            return []

        sigma = self._sigma(chart, result)
        half = check.width * sigma * math.sqrt(self._ewma_var_factor + chart.mean_var)
        chart.lower, chart.upper = chart.mean - half, chart.mean + half
        assert chart.ewma is not None  # set when the warmup ended
        lam = check.smoothing
        chart.ewma = lam * x + (1.0 - lam) * chart.ewma
        out = not chart.lower <= chart.ewma <= chart.upper
        if not out and abs(x - chart.mean) <= check.width * sigma:
            self._learn(chart, x)
        return self._transition(chart, key, out, result)

    def _learn(self, chart: _Chart, x: float) -> None:
        chart.n += 1
        w = max(1.0 / chart.n, 1.0 / self._memory)
        d = x - chart.mean
        chart.mean += w * d
        chart.var = (1.0 - w) * (chart.var + w * d * d)
        chart.mean_var = (1.0 - w) ** 2 * chart.mean_var + w * w

    def _sigma(self, chart: _Chart, result: WindowResult) -> float:
        m = min(chart.n, self._memory)
        sigma = math.sqrt(chart.var * m / (m - 1)) if m > 1 else 0.0
        floor = 1e-9 * max(1.0, abs(chart.mean))  # never a zero width
        if result.unit == "ratio" and result.sample_size > 0:
            n = result.sample_size
            p = min(max((chart.mean * n + 2.0) / (n + 4.0), 0.0), 1.0)
            floor = max(floor, math.sqrt(p * (1.0 - p) / n))
        return max(sigma, floor)

    def _transition(
        self, chart: _Chart, key: str, out: bool, result: WindowResult
    ) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        if out:
            chart.run += 1
            if chart.state is AlertState.OK:
                chart.state = AlertState.PENDING
                chart.started_at = result.end
                chart.episode = episode_id(AlertKind.DRIFT, self.check.id, key, result.end)
                events.append(self._event(chart, AlertState.PENDING, result.end))
            if chart.state is AlertState.PENDING and chart.run >= self.check.hold_windows:
                chart.state = AlertState.FIRING
                events.append(self._event(chart, AlertState.FIRING, result.end))
        else:
            chart.run = 0
            if chart.state is not AlertState.OK:
                events.append(self._event(chart, AlertState.RESOLVED, result.end))
                self._reset(chart)
        return events

    @staticmethod
    def _reset(chart: _Chart) -> None:
        chart.state = AlertState.OK
        chart.run = 0
        chart.started_at = None
        chart.episode = None

    def _event(self, chart: _Chart, state: AlertState, at: float) -> AlertEvent:
        check = self.check
        assert chart.episode is not None and chart.started_at is not None
        gap = chart.gap()
        return AlertEvent(
            episode_id=chart.episode,
            kind=AlertKind.DRIFT,
            rule_id=check.id,
            state=state,
            at=at,
            started_at=chart.started_at,
            kpi=check.kpi,
            stat=check.stat,
            window=check.window,
            labels=chart.scope.labels(),
            value=chart.value,
            objective=None,
            gap=gap,
            gap_relative=relative_gap(gap, chart.mean),
            sample_size=chart.sample_size,
            severity=check.severity,
        )

    def close_all(self) -> list[AlertEvent]:
        """RESOLVED events for every open episode (the check was removed or changed), each at
        the newest window its chart processed; the charts are forgotten."""
        events = [
            self._event(chart, AlertState.RESOLVED, chart.last_end or chart.started_at or 0)
            for chart in self._charts.values()
            if chart.state is not AlertState.OK
        ]
        self._charts.clear()
        return events

    def status(self) -> list[AlertStatus]:
        check = self.check
        rows = []
        for key in sorted(self._charts):
            chart = self._charts[key]
            gap = chart.gap()
            baseline = chart.mean if chart.n else None
            rows.append(
                AlertStatus(
                    kind=AlertKind.DRIFT,
                    rule_id=check.id,
                    kpi=check.kpi,
                    stat=check.stat,
                    window=check.window,
                    scope=chart.scope,
                    state=chart.state,
                    severity=check.severity if chart.state is not AlertState.OK else None,
                    value=chart.value,
                    objective=None,
                    gap=gap,
                    gap_relative=relative_gap(gap, baseline),
                    sample_size=chart.sample_size,
                    window_end=chart.window_end,
                    started_at=chart.started_at,
                    episode_id=chart.episode,
                    baseline=baseline,
                    lower=chart.lower,
                    upper=chart.upper,
                    ewma=chart.ewma,
                    labels=chart.scope.labels(),
                )
            )
        return rows

    def to_json(self) -> dict[str, Any]:
        return {"charts": {key: chart.to_json() for key, chart in sorted(self._charts.items())}}

    @classmethod
    def from_json(
        cls, check: DriftCheck, data: dict[str, Any], *, baseline_windows: int | None = None
    ) -> DriftDetector:
        detector = cls(check, baseline_windows=baseline_windows)
        for key, chart in data["charts"].items():
            detector._charts[key] = _Chart.from_json(Scope.decode(key), chart)
        return detector
