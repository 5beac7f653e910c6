"""Output record contracts: what consumers of ``kpi-windows`` receive (documented and exported
as JSON Schema; the runtime's records are checked against it in the tests)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["KpiEntry", "KpiWindowRecord"]


class KpiEntry(BaseModel):
    """One KPI in a closed window."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="Version of the KPI's definition.")
    class_: Literal["service", "process"] = Field(alias="class")
    unit: str = Field(description="seconds, ratio (0..1), score, tickets or currency.")
    sample_size: int = Field(ge=0, description="The denominator, or the count for quantiles.")
    stats: dict[str, float | None] = Field(
        description="value; or mean, p50 and p90 for time KPIs. null when the sample is empty."
    )


class KpiWindowRecord(BaseModel):
    """Final KPI values of one closed window in one scope (one record per window and scope).

    Record key: ``window|window_end_epoch|breakdown/dimension values|v<catalogue_version>``,
    stable across restarts and replays, so consumers can de-duplicate (delivery is
    at-least-once).
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
    kpis: dict[str, KpiEntry] = Field(description="Every KPI of the catalogue, by name.")
