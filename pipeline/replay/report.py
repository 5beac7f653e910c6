"""The report folder of a replay: ``kpis.csv`` (tidy: one row per window x KPI x statistic x
scope), ``alerts.csv`` (the episodes that would have fired), with forecasts ``forecasts.csv`` (each
warning and the breach that followed it, or none), ``plots/*.svg`` and ``summary.md``
linking them; with an improvements register, ``improvements.csv`` and a section per
improvement. Rows are written as windows close, so a long history is never held in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from pipeline.alerts.model import AlertEvent, TargetSet
from pipeline.core.kpis import KpiDefinition
from pipeline.core.results import WindowResult
from pipeline.core.scopes import DIMENSIONS, Scope
from pipeline.engine.frames import WindowFrame
from pipeline.improvements import Register
from pipeline.replay.bottlenecks import Bottlenecks
from pipeline.replay.episodes import EpisodeLog
from pipeline.replay.forecasts import forecast_lines, pair_forecasts, write_forecasts
from pipeline.replay.frame_csv import FrameCsv, csv_line
from pipeline.replay.gap_attribution import GapAttribution
from pipeline.replay.improvements import ImprovementsSection
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
        improvements: Register | None = None,
        bottleneck_window: str | None = None,
    ) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.kpis = kpis
        self.targets = targets
        self.rows = 0
        self.windows: set[tuple[str, int]] = set()
        self._file = (folder / "kpis.csv").open("wb")
        self._file.write((csv_line(KPI_COLUMNS) + "\r\n").encode())
        self.episodes = EpisodeLog(targets)
        self.tally = TargetTally(targets.targets if targets else ())
        self.bottlenecks = Bottlenecks(bottleneck_window)
        self.attribution = GapAttribution(targets.targets if targets else (), bottleneck_window)
        # Built once per batch for both: the board's triples and the attribution's overlap.
        self._status_results = self.bottlenecks.watched(
            k.name for k in kpis
        ) | self.attribution.watched(k.name for k in kpis)
        self.series = SeriesStore(plot_window)
        self.plot_services = plot_services
        self.improvements = ImprovementsSection(improvements) if improvements else None
        # Formatted once: a history has few scopes and window bounds but many rows of each.
        self._dims: dict[Scope, list[str]] = {}
        self._frame_csv = FrameCsv()

    def add(self, results: Sequence[WindowResult], alerts: Sequence[AlertEvent] = ()) -> None:
        text = io.StringIO()
        row = csv.writer(text).writerow
        for r in results:
            dims = self._dims.get(r.scope)
            if dims is None:
                labels = r.scope.labels()
                dims = self._dims[r.scope] = [*(labels[d] for d in DIMENSIONS), r.scope.breakdown]
            row(
                [
                    r.window,
                    self._frame_csv.iso(r.start),
                    self._frame_csv.iso(r.end),
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
        self._file.write(text.getvalue().encode())
        self.rows += len(results)
        self.episodes.add(results, alerts)
        self.tally.add(results)
        self.bottlenecks.add(results)
        self.attribution.judge(results)
        self.attribution.add(results)
        self.series.add(results)
        if self.improvements is not None:
            self.improvements.add(results)

    def add_frames(
        self,
        frames: Sequence[WindowFrame],
        alerts: Sequence[AlertEvent] = (),
        targeted: Sequence[WindowResult] = (),
    ) -> None:
        """``add`` for closed windows as the engine makes them, kept columnar: the CSV rows are
        written per frame from its arrays. ``targeted``: the frames' results that some target
        watches, as the alert engine was given them (built once, by the caller); results are
        built here only for the bottleneck board, the gap attribution and the improvements."""
        for frame in frames:
            self._file.write(self._frame_csv.lines(frame))
            self.rows += len(frame.scopes) * len(frame.layout.stats)
            self.windows.add((frame.window, frame.end))
            self.series.add_frame(frame)
        self.episodes.add(targeted, alerts)
        self.tally.add(targeted)
        self.attribution.judge(targeted)
        if self._status_results:
            needed = self._status_results
            status_results = [r for f in frames for r in f.results(needed)]
            self.bottlenecks.add(status_results)
            self.attribution.add(status_results)
        if self.improvements is not None:
            needed = self.improvements.watched
            self.improvements.add([r for f in frames for r in f.results(needed)])

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
            self.targets.benchmarks if self.targets else (),
        )
        forecasts = self.targets.forecasts if self.targets else ()
        extra: list[str] = []
        if forecasts:
            paired = pair_forecasts(forecasts, self.episodes.episodes.values(), facts.end)
            write_forecasts(self.folder / "forecasts.csv", paired)
            extra += forecast_lines(forecasts, paired)
        if self.improvements is not None:
            extra += self.improvements.write(self.folder)[1]
        summary = self.folder / "summary.md"
        write_summary(
            summary,
            facts,
            self.tally,
            self.episodes.episodes.values(),
            plots,
            self.series.window,
            {k.name: k.unit for k in self.kpis},
            extra,
            self.bottlenecks.lines() + self.attribution.lines({k.name: k.unit for k in self.kpis}),
        )
        return summary
