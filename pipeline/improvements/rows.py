"""Window values from a replay report's ``kpis.csv`` (the tidy rows), for evaluating a register
after the fact: ``kpi-pipeline improvements evaluate`` reads them."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pipeline.core.results import WindowResult
from pipeline.core.scopes import BREAKDOWNS, Scope

__all__ = ["read_tidy_rows"]


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def read_tidy_rows(path: Path, windows: set[str] | None = None) -> Iterator[WindowResult]:
    """The rows of a ``kpis.csv`` as window results (of the named windows only, if given)."""
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if windows is not None and row["window"] not in windows:
                continue
            breakdown = row["breakdown"]
            scope = Scope(breakdown, **{d: row[d] for d in BREAKDOWNS[breakdown]})
            yield WindowResult(
                row["window"],
                _epoch(row["window_start"]),
                _epoch(row["window_end"]),
                scope,
                row["kpi"],
                0,
                row["kpi_class"],
                row["unit"],
                row["stat"],
                float(row["value"]) if row["value"] else None,
                int(row["sample_size"]),
            )
