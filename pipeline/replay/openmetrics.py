"""Replayed windows as an OpenMetrics file with timestamps, for
``promtool tsdb create-blocks-from openmetrics`` (backfilling Prometheus).

The series are the ones a worker exports on /metrics (``kpi_value`` and ``kpi_sample_size``,
same labels), stamped with the window end, so the dashboards that query the live series show
the replayed history. Two extra labels, ``job`` and ``instance`` by default ``kpi-worker`` and
``replay``, stand in for the labels Prometheus adds when it scrapes: dashboards that select by
job match, and the instance tells replayed from live samples.

OpenMetrics wants a family's samples together and each series' samples together, in time
order. Windows close in time order but series interleave, so samples are buffered, sorted by
series in runs written to disk, and the runs merged at the end (an external sort): memory stays
flat however long the history. Sorting is stable, so each series stays in time order.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

from pipeline.core.results import WindowResult
from pipeline.core.scopes import DIMENSIONS, Scope

__all__ = ["DEFAULT_LABELS", "OpenMetricsWriter"]

DEFAULT_LABELS = {"job": "kpi-worker", "instance": "replay"}
_SCOPE = ["breakdown", *DIMENSIONS]
_FAMILIES = (
    (
        "kpi_value",
        "KPI value of a closed window (unit per KPI: seconds, ratio 0..1, score, tickets, "
        "currency)",
    ),
    (
        "kpi_sample_size",
        "Sample size behind kpi_value: the denominator, or the count for quantiles",
    ),
)
_FAMILY_SPAN = 1 << 40  # series ids of family i are i * _FAMILY_SPAN + n
_RUN_LINES = 200_000


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in pairs)


class OpenMetricsWriter:
    def __init__(self, path: Path, extra_labels: Mapping[str, str] | None = None) -> None:
        self.path = path
        extra = list((DEFAULT_LABELS if extra_labels is None else extra_labels).items())
        self._extra = "," + _labels(extra) if extra else ""
        self.samples = 0
        # (kpi, stat, window, scope) -> (kpi_value series id and labels, sample-size ones)
        self._series: dict[tuple[str, str, str, Scope], tuple[int, str, int | None, str]] = {}
        self._count = 0
        self._buffer: list[tuple[int, str]] = []
        self._runs: list[Path] = []

    def add(self, results: Iterable[WindowResult]) -> None:
        buffer = self._buffer
        for r in results:
            # Label sets are few and repeat every window: format each once.
            key = (r.kpi, r.stat, r.window, r.scope)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = self._format(r)
            value_id, value_labels, size_id, size_labels = series
            if r.value is not None:
                buffer.append((value_id, f"kpi_value{{{value_labels}}} {r.value!r} {r.end}\n"))
            if size_id is not None:
                buffer.append(
                    (size_id, f"kpi_sample_size{{{size_labels}}} {r.sample_size} {r.end}\n")
                )
        if len(buffer) >= _RUN_LINES:
            self._spill()

    def _format(self, r: WindowResult) -> tuple[int, str, int | None, str]:
        scope = r.scope.labels()
        dims = [(name, scope[name]) for name in _SCOPE]
        self._count += 1
        value = _labels([("kpi", r.kpi), ("stat", r.stat), ("window", r.window), *dims])
        if r.stat not in ("value", "mean"):  # one sample size per KPI, as on /metrics
            return self._count, value + self._extra, None, ""
        size = _labels([("kpi", r.kpi), ("window", r.window), *dims]) + self._extra
        return self._count, value + self._extra, _FAMILY_SPAN + self._count, size

    def _spill(self) -> None:
        if not self._buffer:
            return
        self._buffer.sort(key=lambda item: item[0])  # stable: time order kept per series
        run = self.path.with_name(f".{self.path.name}.{len(self._runs)}.run")
        with run.open("w", encoding="utf-8") as f:
            f.writelines(f"{sid}\t{line}" for sid, line in self._buffer)
        self.samples += len(self._buffer)
        self._runs.append(run)
        self._buffer = []

    def close(self) -> Path:
        """Merge the runs into the final file, ending with ``# EOF``."""
        self._spill()
        with ExitStack() as stack, self.path.open("w", encoding="utf-8") as out:
            runs = [stack.enter_context(run.open(encoding="utf-8")) for run in self._runs]
            family = -1
            for sid, line in heapq.merge(*(_parsed(f) for f in runs), key=lambda t: t[0]):
                while sid // _FAMILY_SPAN > family:
                    family += 1
                    name, help_text = _FAMILIES[family]
                    out.write(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
                out.write(line)
            out.write("# EOF\n")
        for run in self._runs:
            run.unlink()
        self._runs = []
        return self.path


def _parsed(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for text in lines:
        sid, _, line = text.partition("\t")
        yield int(sid), line
