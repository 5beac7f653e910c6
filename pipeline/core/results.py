"""Final KPI values of closed windows, as records for ``kpi-windows`` and rows for reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.core.kpis import CATALOGUE_VERSION
from pipeline.core.scopes import Scope

__all__ = ["WINDOW_RECORD_SCHEMA", "WindowResult", "iso"]

WINDOW_RECORD_SCHEMA = "kpi-window/v1"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class WindowResult:
    """One statistic of one KPI over one closed window in one scope."""

    window: str
    start: int
    end: int
    scope: Scope
    kpi: str
    kpi_version: int
    kpi_class: str
    unit: str
    stat: str
    value: float | None  # None when the sample is empty (a rate with no denominator)
    sample_size: int

    @property
    def record_key(self) -> str:
        """Stable across restarts and replays, so consumers can de-duplicate."""
        return "|".join(
            [self.window, str(self.end), self.scope.encode().replace("\x1f", "/"), self.kpi,
             self.stat, f"v{self.kpi_version}"]
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "schema": WINDOW_RECORD_SCHEMA,
            "catalogue_version": CATALOGUE_VERSION,
            "window": self.window,
            "window_start": iso(self.start),
            "window_end": iso(self.end),
            **self.scope.labels(),
            "kpi": self.kpi,
            "kpi_version": self.kpi_version,
            "kpi_class": self.kpi_class,
            "unit": self.unit,
            "stat": self.stat,
            "value": self.value,
            "sample_size": self.sample_size,
        }
