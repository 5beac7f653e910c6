"""Closed windows read back from ``kpi-windows`` records, for an evaluation that needs windows
closed before the worker started (its before period, typically)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

import orjson

from pipeline.core.results import WindowResult
from pipeline.core.scopes import BREAKDOWNS, Scope

__all__ = ["window_results"]


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def window_results(
    key: bytes | None, value: bytes | None, sizes: Mapping[str, float]
) -> Iterator[WindowResult]:
    """The KPI values of one ``kpi-windows`` record, when its window is one of ``sizes`` (name
    -> size in seconds) and tiles the time line; nothing otherwise. The key
    (``window|end|scope|version``) decides before the value is parsed: most records are of
    other windows or steps."""
    if key is None or value is None:
        return
    window, _, rest = key.decode("utf-8", "replace").partition("|")
    size = sizes.get(window)
    end_text = rest.partition("|")[0]
    if size is None or not end_text.isdigit() or int(end_text) % int(size):
        return
    record = orjson.loads(value)
    breakdown = record["breakdown"]
    scope = Scope(breakdown, **{d: record[d] for d in BREAKDOWNS[breakdown]})
    start, end = _epoch(record["window_start"]), _epoch(record["window_end"])
    for kpi, entry in record["kpis"].items():
        for stat, number in entry["stats"].items():
            yield WindowResult(
                window,
                start,
                end,
                scope,
                kpi,
                entry["version"],
                entry["class"],
                entry["unit"],
                stat,
                None if number is None else float(number),
                entry["sample_size"],
            )
