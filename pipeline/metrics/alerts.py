"""Prometheus series of targets, gaps, alert states and benchmarks, read from the alert engine
at scrape time (names and labels are what deploy/prometheus/rules/kpi-alerts.yml routes on)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import AlertKind, AlertState
from pipeline.core.scopes import DIMENSIONS

__all__ = ["alert_metrics"]

_SCOPE = ["breakdown", *DIMENSIONS]
_STATE_VALUE = {AlertState.PENDING: 1, AlertState.FIRING: 2}


def alert_metrics(engine: AlertEngine | None) -> Iterator[Metric]:
    objective = GaugeMetricFamily(
        "kpi_target_objective",
        "Objective of a target, in the KPI's unit",
        labels=["target", "kpi", "stat", "window", *_SCOPE, "op"],
    )
    gap = GaugeMetricFamily(
        "kpi_target_gap",
        "How far the KPI is on the wrong side of its objective, in the KPI's unit (0 when met)",
        labels=["target", "kpi", "stat", "window", *_SCOPE],
    )
    gap_ratio = GaugeMetricFamily(
        "kpi_target_gap_ratio",
        "The gap relative to the objective",
        labels=["target", "kpi", "stat", "window", *_SCOPE],
    )
    state = GaugeMetricFamily(
        "kpi_alert_state",
        "Alert state: 1 pending, 2 firing (absent when ok)",
        labels=["kind", "rule", "kpi", "stat", "window", *_SCOPE, "severity"],
    )
    breach = GaugeMetricFamily(
        "kpi_forecast_breach_seconds",
        "Event time until a target is expected to be breached (Holt's linear trend over its "
        "recent closed windows); absent when no breach is expected within the horizon",
        labels=["forecast", "kpi", "stat", "window", *_SCOPE],
    )
    for row in engine.status() if engine is not None else ():
        scope = [row.scope.labels()[name] for name in _SCOPE]
        common = [row.rule_id, row.kpi, row.stat, row.window, *scope]
        if row.kind is AlertKind.TARGET and row.objective is not None:
            objective.add_metric([*common, row.objective.op], row.objective.value)
            if row.gap is not None:
                gap.add_metric(common, row.gap)
            if row.gap_relative is not None:
                gap_ratio.add_metric(common, row.gap_relative)
        if row.kind is AlertKind.FORECAST and row.breach_in is not None:
            breach.add_metric(common, row.breach_in)
        level = _STATE_VALUE.get(row.state)
        if level is not None:
            state.add_metric([row.kind.value, *common, row.severity or ""], level)
    benchmark = GaugeMetricFamily(
        "kpi_benchmark",
        "A published reference value of a KPI (targets file: benchmarks), in the KPI's unit; "
        "for comparison on the boards, never alerted on",
        labels=["benchmark", "kpi", "stat", "source", "year", "peer_group"],
    )
    for mark in engine.targets.benchmarks if engine is not None else ():
        labels = [mark.id, mark.kpi, mark.stat, mark.source, str(mark.year), mark.peer_group]
        benchmark.add_metric(labels, mark.value)
    yield from (objective, gap, gap_ratio, state, breach, benchmark)
