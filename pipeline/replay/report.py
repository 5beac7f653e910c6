"""The report folder of a replay: ``kpis.csv`` (tidy: one row per window x KPI x statistic x
scope), ``alerts.csv`` (the episodes that would have fired), ``plots/*.png`` and ``summary.md``
linking them. Rows are written as windows close, so a long history is never held in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from pipeline.alerts.model import AlertEvent, TargetSet
from pipeline.core.kpis import KpiDefinition
from pipeline.core.results import WindowResult, iso
from pipeline.core.scopes import DIMENSIONS, Scope
from pipeline.replay.bottlenecks import Bottlenecks
from pipeline.replay.episodes import EpisodeLog
from pipeline.replay.plots import SeriesStore, render_plots
from pipeline.replay.summary import ReplayFacts, TargetTally, write_summary

__all__ = ["KPI_COLUMNS", "ReportWriter"]

KPI_COLUMNS = [
    "window",
    "window_start",
    "window_end",
    "kpi",
    "kpi_class",
    "unit",
    "stat",
    *DIMENSIONS,
    "breakdown",
    "value",
    "sample_size",
]


class ReportWriter:
    def __init__(
        self,
        folder: Path,
        kpis: Sequence[KpiDefinition],
        targets: TargetSet | None,
        plot_window: str,
        plot_services: int = 5,
        bottleneck_window: str | None = None,
    ) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.kpis = kpis
        self.targets = targets
        self.rows = 0
        self.windows: set[tuple[str, int]] = set()
        self._file = (folder / "kpis.csv").open("w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file)
        self._csv.writerow(KPI_COLUMNS)
        self.episodes = EpisodeLog(targets)
        self.tally = TargetTally(targets.targets if targets else ())
        self.bottlenecks = Bottlenecks(bottleneck_window)
        self.series = SeriesStore(plot_window)
        self.plot_services = plot_services
        # Formatted once: a history has few scopes and window bounds but many rows of each.
        self._dims: dict[Scope, list[str]] = {}
        self._times: dict[int, str] = {}

    def add(self, results: Sequence[WindowResult], alerts: Sequence[AlertEvent] = ()) -> None:
        row = self._csv.writerow
        for r in results:
            dims = self._dims.get(r.scope)
            if dims is None:
                labels = r.scope.labels()
                dims = self._dims[r.scope] = [*(labels[d] for d in DIMENSIONS), r.scope.breakdown]
            row(
                [
                    r.window,
                    self._iso(r.start),
                    self._iso(r.end),
                    r.kpi,
                    r.kpi_class,
                    r.unit,
                    r.stat,
                    *dims,
                    "" if r.value is None else repr(r.value),
                    r.sample_size,
                ]
            )
            self.windows.add((r.window, r.end))
        self.rows += len(results)
        self.episodes.add(results, alerts)
        self.tally.add(results)
        self.bottlenecks.add(results)
        self.series.add(results)

    def _iso(self, ts: int) -> str:
        text = self._times.get(ts)
        if text is None:
            if len(self._times) > 10_000:
                self._times.clear()  # months of history: keep the cache small
            text = self._times[ts] = iso(ts)
        return text

    def close(self, facts: ReplayFacts) -> Path:
        """Finish every file; returns the summary's path."""
        self._file.close()
        self.episodes.write(self.folder / "alerts.csv")
        targets = self.targets.targets if self.targets else ()
        plots = render_plots(
            self.series,
            self.kpis,
            targets,
            self.episodes.episodes.values(),
            self.folder / "plots",
            self.plot_services,
        )
        summary = self.folder / "summary.md"
        write_summary(
            summary,
            facts,
            self.tally,
            self.episodes.episodes.values(),
            plots,
            self.series.window,
            {k.name: k.unit for k in self.kpis},
            self.bottlenecks.lines(),
        )
        return summary
