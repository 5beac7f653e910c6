"""The internal model of targets and alerts (SPEC section 6), shared by the targets-file parser,
the alert engine, the worker and the Prometheus collector.

A *target* says where a KPI should be (objective), in which scope and window, and how sure we
must be before telling anyone (minimum sample, credibility, hold time, clear margin). A *drift
check* watches a KPI against its own recent baseline. The alert engine turns closed windows into
``AlertEvent``s: one per lifecycle transition, with an episode id that is the same on every
restart and replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "AlertEvent",
    "AlertKind",
    "AlertState",
    "Benchmark",
    "DriftCheck",
    "ErrorBudget",
    "Forecast",
    "Objective",
    "ScopeMatch",
    "Severity",
    "Target",
    "TargetSet",
]


class AlertState(StrEnum):
    OK = "ok"  # no alert (never emitted as an event)
    PENDING = "pending"  # breach seen, not yet held long enough
    FIRING = "firing"
    RESOLVED = "resolved"  # episode over (from pending: the breach did not hold)


class AlertKind(StrEnum):
    TARGET = "target"
    DRIFT = "drift"
    FORECAST = "forecast"


@dataclass(frozen=True, slots=True)
class Objective:
    op: str  # ">=" or "<="
    value: float  # in the KPI's unit (ratios 0..1, seconds, score, ...)

    def met(self, value: float) -> bool:
        return value >= self.value if self.op == ">=" else value <= self.value

    def gap(self, value: float) -> float:
        """How far ``value`` is on the wrong side of the objective (0 when met), KPI unit."""
        return max(0.0, self.value - value) if self.op == ">=" else max(0.0, value - self.value)


@dataclass(frozen=True, slots=True)
class ScopeMatch:
    """Which scopes a target covers. ``breakdown`` is one of all, service, service_team,
    service_channel, service_priority; each dimension is a value, ``"*"`` (every value: one
    alert per scope), or None (not part of the breakdown)."""

    breakdown: str = "all"
    service: str | None = None
    team: str | None = None
    channel: str | None = None
    priority: str | None = None


@dataclass(frozen=True, slots=True)
class Severity:
    name: str  # e.g. warning, critical
    min_gap: float  # the gap (KPI unit) from which this severity applies


@dataclass(frozen=True)
class Target:
    id: str  # stable, unique in the file; part of episode ids
    kpi: str
    stat: str  # "value", or "mean"/"p50"/"p90" for time KPIs
    window: str  # a configured window name, e.g. "24h"
    scope: ScopeMatch
    objective: Objective
    min_sample: int = 30
    hold_seconds: float = 1800.0  # event time a breach must last before it fires
    clear_margin: float = 0.0  # KPI unit: resolve only once this far on the right side
    confidence: float = 0.95  # for rate KPIs: the breach must be credible at this level
    severities: tuple[Severity, ...] = (Severity("warning", 0.0),)
    line: int | None = None  # where it was defined, for messages


@dataclass(frozen=True)
class DriftCheck:
    """An EWMA control chart over a KPI's closed, non-overlapping windows."""

    id: str
    kpi: str
    stat: str
    window: str
    scope: ScopeMatch
    smoothing: float = 0.2  # lambda of the EWMA
    width: float = 3.0  # L: control limits at baseline +- L sigma_ewma
    warmup: int = 12  # windows before the chart can alert
    min_sample: int = 30
    hold_windows: int = 2  # consecutive out-of-control windows before firing
    severity: str = "warning"
    line: int | None = None


@dataclass(frozen=True, slots=True)
class ErrorBudget:
    """A rate KPI's objective over a period: the share of bad outcomes it allows is the budget
    (1 - objective for '>=', the objective for '<='). Prometheus evaluates it (generated rules,
    ``pipeline.targets.rules``); the worker does not."""

    id: str
    kpi: str
    objective: Objective
    period_seconds: float
    period: str  # as written, e.g. "28d" (a Prometheus range)
    window: str  # the window whose closed values the rules read
    scope: ScopeMatch = field(default_factory=ScopeMatch)
    line: int | None = None

    @property
    def allowed(self) -> float:
        """The budget: the share of outcomes that may be bad over the period."""
        value = self.objective.value
        return 1.0 - value if self.objective.op == ">=" else value


@dataclass(frozen=True, slots=True)
class Benchmark:
    """A published reference value for a KPI: drawn on the boards, never alerted on."""

    id: str
    kpi: str
    stat: str
    value: float  # in the KPI's unit
    source: str
    year: int
    peer_group: str
    url: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Forecast:
    """Warn before ``target`` is expected to be breached: Holt's linear trend fitted to the
    KPI's recent closed windows (``history`` of them, at least ``min_points``), extrapolated
    ``horizon_seconds`` ahead; an alert of its own (kind forecast, own episode ids)."""

    id: str  # "forecast:" + the target's id unless given
    target: Target
    horizon_seconds: float = 12 * 3600.0
    history: int = 24  # closed windows fitted
    min_points: int = 8
    hold_windows: int = 3  # consecutive windows predicting a breach before firing
    severity: str = "warning"
    line: int | None = None


@dataclass(frozen=True)
class TargetSet:
    version: str  # "targets/v1"
    targets: tuple[Target, ...] = ()
    drift: tuple[DriftCheck, ...] = ()
    source: str | None = None  # file it came from
    budgets: tuple[ErrorBudget, ...] = ()
    benchmarks: tuple[Benchmark, ...] = ()
    forecasts: tuple[Forecast, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One lifecycle transition, published on ``kpi-alerts`` (key: episode_id)."""

    episode_id: str  # stable across restarts and replays: hash of rule id, scope, start
    kind: AlertKind
    rule_id: str  # target id or drift check id
    state: AlertState
    at: float  # event time of the transition: the end of the window that caused it
    started_at: float  # event time the episode began (its first pending window end)
    kpi: str
    stat: str
    window: str
    labels: dict[str, str] = field(default_factory=dict)  # breakdown and dimensions
    value: float | None = None
    objective: Objective | None = None
    gap: float | None = None
    gap_relative: float | None = None
    sample_size: int = 0
    severity: str | None = None
