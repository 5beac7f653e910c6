"""Settings -> the core's context (windows, lateness, breakdowns)."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.core.context import CoreContext
from pipeline.core.durations import parse_duration
from pipeline.core.kpis import KpiConfig
from pipeline.core.windows import WindowSpec
from pipeline.sla.load import load_sla_policy

__all__ = ["core_context"]


def core_context(settings: Settings) -> CoreContext:
    """Raises SlaPolicyError when the SLA policy file is invalid."""
    windows = tuple(
        WindowSpec(w.name, int(parse_duration(w.size)), int(parse_duration(w.step)))
        for w in settings.time.windows
    )
    return CoreContext(
        windows=windows,
        allowed_lateness=parse_duration(settings.time.allowed_lateness),
        release_tick=(
            parse_duration(settings.time.release_tick) if settings.time.release_tick else None
        ),
        breakdowns=tuple(settings.breakdowns),
        dedup_horizon=parse_duration(settings.time.dedup_horizon),
        kpi_config=KpiConfig(
            sla_seconds={p: parse_duration(d) for p, d in settings.kpi.sla.items()},
            channel_hourly_rates=dict(settings.kpi.channel_hourly_rates),
            sla_policy=load_sla_policy(settings.sla_file) if settings.sla_file else None,
        ),
    )
