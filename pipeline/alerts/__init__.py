"""Targets and alerts (SPEC section 6): the shared model, the alert engine that turns closed
windows into lifecycle events, and the drift detector."""

from pipeline.alerts.drift import DriftDetector
from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import (
    AlertEvent,
    AlertKind,
    AlertState,
    DriftCheck,
    Objective,
    ScopeMatch,
    Severity,
    Target,
    TargetSet,
)
from pipeline.alerts.stats import AlertStatus, wilson_interval

__all__ = [
    "AlertEngine",
    "AlertEvent",
    "AlertKind",
    "AlertState",
    "AlertStatus",
    "DriftCheck",
    "DriftDetector",
    "Objective",
    "ScopeMatch",
    "Severity",
    "Target",
    "TargetSet",
    "wilson_interval",
]
