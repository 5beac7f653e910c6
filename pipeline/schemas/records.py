"""Output record contracts: what consumers of ``kpi-windows`` receive (documented and exported
as JSON Schema; the runtime's records are checked against it in the tests)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["KpiWindowRecord"]


class KpiWindowRecord(BaseModel):
    """Final value of one statistic of one KPI over one closed window in one scope.

    Record key: ``window|window_end|breakdown/dimension values|kpi|stat|v<kpi_version>``, stable
    across restarts and replays, so consumers can de-duplicate (at-least-once delivery).
    """

    model_config = ConfigDict(extra="forbid")

    schema_: Literal["kpi-window/v1"] = Field(alias="schema")
    catalogue_version: int = Field(description="Version of the KPI catalogue.")
    window: str = Field(description="Window name, e.g. 1h or 24h.")
    window_start: str = Field(description="Window start (event time, RFC 3339, UTC).")
    window_end: str = Field(description="Window end, exclusive.")
    breakdown: Literal["all", "service", "service_team", "service_channel", "service_priority"]
    service: str = Field(description="Empty when the breakdown does not split by service.")
    team: str
    channel: str
    priority: str
    kpi: str
    kpi_version: int
    kpi_class: Literal["service", "process"]
    unit: str
    stat: str = Field(description="value, or mean/p50/p90 for time KPIs.")
    value: float | None = Field(description="null when the sample is empty.")
    sample_size: int = Field(ge=0, description="The denominator, or the count for quantiles.")
