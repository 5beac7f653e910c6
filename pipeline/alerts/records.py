"""Alert events as ``kpi-alerts`` records (schema: ``schemas/kpi-alert.v1.schema.json``)."""

from __future__ import annotations

from typing import Any

from pipeline.alerts.model import AlertEvent
from pipeline.core.results import iso
from pipeline.core.scopes import DIMENSIONS

__all__ = ["ALERT_RECORD_SCHEMA", "alert_record"]

ALERT_RECORD_SCHEMA = "kpi-alert/v1"


def alert_record(event: AlertEvent) -> tuple[bytes, dict[str, Any]]:
    """(record key, record): keyed by episode id."""
    labels = {"breakdown": event.labels.get("breakdown", "all")}
    labels.update({d: event.labels.get(d, "") for d in DIMENSIONS})
    objective = (
        {"op": event.objective.op, "value": event.objective.value} if event.objective else None
    )
    return event.episode_id.encode(), {
        "schema": ALERT_RECORD_SCHEMA,
        "episode_id": event.episode_id,
        "kind": event.kind.value,
        "rule": event.rule_id,
        "state": event.state.value,
        "at": iso(event.at),
        "started_at": iso(event.started_at),
        "kpi": event.kpi,
        "stat": event.stat,
        "window": event.window,
        **labels,
        "value": event.value,
        "objective": objective,
        "gap": event.gap,
        "gap_relative": event.gap_relative,
        "sample_size": event.sample_size,
        "severity": event.severity,
    }
