"""Replayed windows as an OpenMetrics file with timestamps, for
``promtool tsdb create-blocks-from openmetrics`` (backfilling Prometheus).

The series are the ones a worker exports on /metrics (``kpi_value`` and ``kpi_sample_size``,
same labels), stamped with the window end, so the dashboards that query the live series show
the replayed history. Two extra labels, ``job`` and ``instance`` by default ``kpi-worker`` and
``replay``, stand in for the labels Prometheus adds when it scrapes: dashboards that select by
job match, and the instance tells replayed from live samples.

OpenMetrics keeps a metric family's samples together, and promtool wants each series' samples
in time order. Windows close in end order, so each family is streamed to its own part file in
order and the parts are joined at the end: memory stays flat however long the history.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TextIO

from pipeline.core.results import WindowResult
from pipeline.core.scopes import DIMENSIONS, Scope

__all__ = ["DEFAULT_LABELS", "OpenMetricsWriter"]

DEFAULT_LABELS = {"job": "kpi-worker", "instance": "replay"}
_SCOPE = ["breakdown", *DIMENSIONS]
_FAMILIES = {
    "kpi_value": (
        "KPI value of a closed window (unit per KPI: seconds, ratio 0..1, score, tickets, currency)"
    ),
    "kpi_sample_size": "Sample size behind kpi_value: the denominator, or the count for quantiles",
}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)


class OpenMetricsWriter:
    def __init__(self, path: Path, extra_labels: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.extra = list((DEFAULT_LABELS if extra_labels is None else extra_labels).items())
        self._extra = "," + _labels(self.extra) if self.extra else ""
        self.samples = 0
        self._series: dict[tuple[str, str, str, Scope], tuple[str, str | None]] = {}
        self._parts: dict[str, Path] = {
            name: path.with_name(f".{path.name}.{name}.part") for name in _FAMILIES
        }
        self._files: dict[str, TextIO] = {
            name: part.open("w", encoding="utf-8") for name, part in self._parts.items()
        }

    def add(self, results: Iterable[WindowResult]) -> None:
        values, sizes = self._files["kpi_value"], self._files["kpi_sample_size"]
        for r in results:
            # Label sets are few and repeat every window: format each once.
            key = (r.kpi, r.stat, r.window, r.scope)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = self._format(r)
            value_labels, size_labels = series
            if r.value is not None:
                values.write(f"kpi_value{{{value_labels}}} {r.value!r} {r.end}\n")
                self.samples += 1
            if size_labels is not None:
                sizes.write(f"kpi_sample_size{{{size_labels}}} {r.sample_size} {r.end}\n")
                self.samples += 1

    def _format(self, r: WindowResult) -> tuple[str, str | None]:
        scope = r.scope.labels()
        dims = [(name, scope[name]) for name in _SCOPE]
        value = _labels([("kpi", r.kpi), ("stat", r.stat), ("window", r.window), *dims])
        size = None
        if r.stat in ("value", "mean"):  # one sample size per KPI, as on /metrics
            size = _labels([("kpi", r.kpi), ("window", r.window), *dims]) + self._extra
        return value + self._extra, size

    def close(self) -> Path:
        """Join the families into the final file, ending with ``# EOF``."""
        for f in self._files.values():
            f.close()
        with self.path.open("w", encoding="utf-8") as out:
            for name, help_text in _FAMILIES.items():
                out.write(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
                with self._parts[name].open(encoding="utf-8") as part:
                    shutil.copyfileobj(part, out)
                self._parts[name].unlink()
            out.write("# EOF\n")
        return self.path
