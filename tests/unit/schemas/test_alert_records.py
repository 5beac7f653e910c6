from __future__ import annotations

from pipeline.alerts.model import AlertEvent, AlertKind, AlertState, Objective
from pipeline.alerts.records import alert_record
from pipeline.schemas.records import KpiAlertRecord


def test_alert_records_follow_the_exported_contract() -> None:
    event = AlertEvent(
        episode_id="0123456789abcdef",
        kind=AlertKind.TARGET,
        rule_id="fcr-per-service",
        state=AlertState.FIRING,
        at=1772445600.0,
        started_at=1772438400.0,
        kpi="fcr_rate",
        stat="value",
        window="24h",
        labels={"breakdown": "service", "service": "network"},
        value=0.5,
        objective=Objective(">=", 0.7),
        gap=0.2,
        gap_relative=0.2 / 0.7,
        sample_size=400,
        severity="critical",
    )
    key, record = alert_record(event)
    parsed = KpiAlertRecord.model_validate(record)
    assert key == b"0123456789abcdef"
    assert (parsed.service, parsed.team, parsed.state, parsed.at) == (
        "network",
        "",
        "firing",
        "2026-03-02T10:00:00Z",
    )
    assert parsed.objective is not None and parsed.objective.value == 0.7
