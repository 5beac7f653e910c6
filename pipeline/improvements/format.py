"""Effects and intervals as text, in the KPI's unit (durations for time KPIs)."""

from __future__ import annotations

from pipeline.core.kpis import catalogue
from pipeline.improvements.evaluate import KpiVerdict

__all__ = ["effect_text", "value_text"]

_UNITS = {d.name: d.unit for d in catalogue()}


def value_text(kpi: str, value: float, signed: bool = False) -> str:
    unit = _UNITS.get(kpi, "")
    sign = "+" if signed and value > 0 else ""
    if unit == "seconds":
        minutes = value / 60
        return f"{sign}{minutes:.1f} min" if abs(minutes) < 120 else f"{sign}{value / 3600:.2f} h"
    if unit == "ratio":
        return f"{sign}{value:.3f}"
    return f"{sign}{value:.3g}" if abs(value) < 1000 else f"{sign}{value:,.0f}"


def effect_text(v: KpiVerdict) -> tuple[str, str, str]:
    """(before, after, effect [low, high]) or dashes when there is nothing to compare."""
    c = v.comparison
    if c is None:
        return "-", "-", "-"
    k = v.check.kpi
    effect = (
        f"{value_text(k, c.effect, True)} [{value_text(k, c.low, True)}, "
        f"{value_text(k, c.high, True)}]"
    )
    return value_text(k, c.before), value_text(k, c.after), effect
