"""Output record contracts: what consumers of ``kpi-windows`` receive (documented and exported
as JSON Schema; the runtime's records are checked against it in the tests)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AlertObjective", "KpiAlertRecord", "KpiEntry", "KpiWindowRecord"]


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


class AlertObjective(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal[">=", "<="]
    value: float = Field(description="In the KPI's unit.")


class KpiAlertRecord(BaseModel):
    """One alert lifecycle transition (pending, firing, resolved) on ``kpi-alerts``.

    Record key: ``episode_id``, the same for every transition of one episode and on every
    restart or replay, so consumers can de-duplicate and group transitions.
    """

    model_config = ConfigDict(extra="forbid")

    schema_: Literal["kpi-alert/v1"] = Field(alias="schema")
    episode_id: str
    kind: Literal["target", "drift", "forecast"]
    rule: str = Field(description="Id of the target, drift check or forecast in the targets file.")
    state: Literal["pending", "firing", "resolved"]
    at: str = Field(description="Event time of the transition: end of the deciding window.")
    started_at: str = Field(description="Event time the episode began.")
    kpi: str
    stat: str
    window: str
    breakdown: str
    service: str
    team: str
    channel: str
    priority: str
    value: float | None
    objective: AlertObjective | None = Field(
        description="null for drift alerts; a forecast's is its target's."
    )
    gap: float | None = Field(description="Distance to the objective in the KPI's unit.")
    gap_relative: float | None
    sample_size: int = Field(ge=0)
    severity: str | None
