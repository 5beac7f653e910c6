"""Final KPI values of closed windows, as records for ``kpi-windows`` and rows for reports."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.core.kpis import CATALOGUE_VERSION
from pipeline.core.scopes import Scope

__all__ = ["WINDOW_RECORD_SCHEMA", "WindowResult", "iso", "window_records"]

WINDOW_RECORD_SCHEMA = "kpi-window/v1"
_SEP = "\x1f"


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


def window_records(results: Iterable[WindowResult]) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """``kpi-windows`` records: one per closed window and scope, holding every KPI of the
    catalogue with its statistics and sample size. The key (window, end, scope, catalogue
    version) is stable across restarts and replays, so consumers can de-duplicate."""
    grouped: dict[tuple[str, int, str], list[WindowResult]] = {}
    for r in results:
        grouped.setdefault((r.window, r.end, r.scope.encode()), []).append(r)
    for (window, end, scope_key), rows in grouped.items():
        first = rows[0]
        kpis: dict[str, dict[str, Any]] = {}
        for r in rows:
            entry = kpis.setdefault(
                r.kpi,
                {
                    "version": r.kpi_version,
                    "class": r.kpi_class,
                    "unit": r.unit,
                    "sample_size": r.sample_size,
                    "stats": {},
                },
            )
            entry["stats"][r.stat] = r.value
        key = "|".join([window, str(end), scope_key.replace(_SEP, "/"), f"v{CATALOGUE_VERSION}"])
        yield (
            key.encode(),
            {
                "schema": WINDOW_RECORD_SCHEMA,
                "catalogue_version": CATALOGUE_VERSION,
                "window": window,
                "window_start": iso(first.start),
                "window_end": iso(end),
                **first.scope.labels(),
                "kpis": kpis,
            },
        )
