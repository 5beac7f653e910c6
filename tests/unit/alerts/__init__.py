"""Factories for the alert tests: hand-made closed windows and targets.

Windows are the two specs of the default configuration: "24h" windows closing every hour and
"1h" windows closing every 5 minutes, aligned to the epoch like the real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.alerts.model import DriftCheck, Objective, ScopeMatch, Severity, Target
from pipeline.core.results import WindowResult
from pipeline.core.scopes import Scope

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z: a day and hour boundary
MIN = 60
HOUR = 3600
DAY = 86400
SIZES = {"24h": DAY, "1h": HOUR}
UNITS = {"fcr_rate": "ratio", "reopen_rate": "ratio", "sla_compliance": "ratio", "nps": "score"}


def scope(service: str | None = "billing", breakdown: str = "service", **dims: str) -> Scope:
    if breakdown == "all":
        return Scope("all")
    return Scope(breakdown, service=service, **dims)


def result(
    value: float | None,
    n: int,
    end: int,
    *,
    kpi: str = "fcr_rate",
    stat: str = "value",
    window: str = "24h",
    where: Scope | None = None,
    unit: str | None = None,
) -> WindowResult:
    return WindowResult(
        window=window,
        start=end - SIZES[window],
        end=end,
        scope=where or scope(),
        kpi=kpi,
        kpi_version=1,
        kpi_class="process",
        unit=unit or UNITS.get(kpi, "seconds"),
        stat=stat,
        value=value,
        sample_size=n,
    )


def series(
    points: Iterable[tuple[float | None, int]], first_end: int, step: int = HOUR, **kw: Any
) -> list[WindowResult]:
    """One result per (value, sample size), windows ending ``step`` apart from ``first_end``."""
    return [result(v, n, first_end + i * step, **kw) for i, (v, n) in enumerate(points)]


def target(**overrides: Any) -> Target:
    values: dict[str, Any] = {
        "id": "fcr-billing",
        "kpi": "fcr_rate",
        "stat": "value",
        "window": "24h",
        "scope": ScopeMatch("service", service="billing"),
        "objective": Objective(">=", 0.70),
        "min_sample": 30,
        "hold_seconds": 3 * HOUR,
        "clear_margin": 0.04,
        "confidence": 0.95,
        "severities": (Severity("warning", 0.0), Severity("critical", 0.15)),
    }
    values.update(overrides)
    return Target(**values)


def drift_check(**overrides: Any) -> DriftCheck:
    values: dict[str, Any] = {
        "id": "frt-drift",
        "kpi": "first_response_time",
        "stat": "mean",
        "window": "1h",
        "scope": ScopeMatch("service", service="*"),
        "smoothing": 0.2,
        "width": 3.0,
        "warmup": 12,
        "min_sample": 30,
        "hold_windows": 2,
        "severity": "warning",
    }
    values.update(overrides)
    return DriftCheck(**values)


def states(events: Sequence[Any]) -> list[str]:
    return [e.state.value for e in events]
