"""One replay from start to finish: plan the offsets, read and recompute, evaluate the targets,
write the report (and the OpenMetrics file)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import AlertEvent, TargetSet
from pipeline.config import Settings
from pipeline.core.context import CoreContext
from pipeline.core.results import WindowResult
from pipeline.engine.frames import WindowFrame, frame_results
from pipeline.improvements import Register
from pipeline.kafka.security import client_options
from pipeline.replay.drive import ReplayCore
from pipeline.replay.openmetrics import OpenMetricsWriter
from pipeline.replay.reader import open_consumer, plan_ranges, read_ranges
from pipeline.replay.report import ReportWriter
from pipeline.replay.summary import ReplayFacts

__all__ = ["ReplayOptions", "ReplayResult", "run_replay"]


@dataclass(frozen=True)
class ReplayOptions:
    start: float  # event time, seconds
    end: float
    out: Path
    # Read this much event time before ``start`` too, so tickets opened before the range have
    # their lifecycle (their resolution inside the range gets a resolution time); windows that
    # start before ``start`` are not reported.
    warm_up: float = 0.0
    targets: TargetSet | None = None
    improvements: Register | None = None
    openmetrics: Path | None = None
    plot_window: str | None = None  # default: see default_plot_window
    plot_services: int = 5
    progress: bool = True
    # Read <prefix><topic> (e.g. uci-tickets, as ``import --topic-prefix uci-`` wrote them).
    topic_prefix: str = ""

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("the end of the range must be after its start")
        if self.warm_up < 0:
            raise ValueError("the warm-up must be >= 0")


@dataclass
class ReplayResult:
    facts: ReplayFacts
    summary: Path
    alerts: int = 0
    openmetrics_samples: int = 0
    report_seconds: float = 0.0  # writing plots, summary and the OpenMetrics file at the end


async def run_replay(settings: Settings, ctx: CoreContext, options: ReplayOptions) -> ReplayResult:
    base = {"tickets": settings.topics.tickets, "surveys": settings.topics.surveys}
    topics = {source: options.topic_prefix + name for source, name in base.items()}
    started = time.perf_counter()
    consumer = await open_consumer(settings.kafka.bootstrap_servers, client_options(settings.kafka))
    try:
        first_ms = int((options.start - options.warm_up) * 1000)
        stop_ms = int((options.end + ctx.allowed_lateness) * 1000)
        ranges = await plan_ranges(consumer, topics, first_ms, stop_ms, base)
        # Output files only once the range is known to be readable.
        plot_window = options.plot_window or default_plot_window(ctx, options.targets)
        report = ReportWriter(
            options.out,
            ctx.kpis,
            options.targets,
            plot_window,
            options.plot_services,
            options.improvements,
            bottleneck_window(ctx),
        )
        export = OpenMetricsWriter(options.openmetrics) if options.openmetrics else None
        engine = AlertEngine(options.targets) if options.targets is not None else None
        core = ReplayCore(ctx, topics, options.start, options.end)
        alerts = 0

        def emit(frames: list[WindowFrame]) -> None:
            nonlocal alerts
            events: list[AlertEvent] = []
            targeted: list[WindowResult] = []
            if engine is not None and frames:
                # Built once: the alert engine and the report's episodes and tallies read them.
                targeted = [r for f in frames for r in f.results(engine.watched)]
                events = engine.observe(targeted)
            alerts += len(events)
            report.add_frames(frames, events, targeted)
            if export is not None:
                export.add(frame_results(frames))

        core.begin(ranges)
        with _progress(options.progress) as progress:
            task = progress.add_task("replaying", total=sum(r.records for r in ranges))
            async for batch in read_ranges(consumer, ranges):
                emit(core.feed(batch))
                progress.update(task, advance=len(batch))
            progress.update(task, completed=sum(r.records for r in ranges))
    finally:
        await consumer.stop()
    emit(core.finish())
    elapsed = time.perf_counter() - started

    facts = ReplayFacts(
        start=options.start,
        end=options.end,
        records=core.records,
        received=Counter(core.received),
        rejected=core.rejected,
        windows=len(report.windows),
        rows=report.rows,
        elapsed=elapsed,
        targets_source=options.targets.source if options.targets else None,
    )
    summary = report.close(facts)
    samples = 0
    if export is not None:
        export.close()
        samples = export.samples
    written = time.perf_counter() - started - elapsed
    return ReplayResult(facts, summary, alerts, samples, written)


def bottleneck_window(ctx: CoreContext) -> str | None:
    """The longest tumbling window (step = size): its windows tile the range, so summing them
    counts every status visit once. None when every window slides."""
    tumbling = [w for w in ctx.windows if w.step == w.size]
    return max(tumbling, key=lambda w: w.size).name if tumbling else None


def default_plot_window(ctx: CoreContext, targets: TargetSet | None) -> str:
    """The window most targets are set on (their lines then show on the plots), else the
    longest: overlapping short windows over months are noise at a plot's scale."""
    names = [w.name for w in ctx.windows]
    used = Counter(t.window for t in (targets.targets if targets else ()) if t.window in names)
    if used:
        return used.most_common(1)[0][0]
    return max(ctx.windows, key=lambda w: (w.size, w.step)).name


def _progress(enabled: bool) -> Progress:
    console = Console(stderr=True)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _RateColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} records/s" if speed else "- records/s", style="cyan")
