"""``kpi-pipeline replay``: recompute a time range of the input topics into a report."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.alerts.model import TargetSet
from pipeline.cli_options import bootstrap_option, config_option
from pipeline.config import Settings, WindowSetting, load_settings
from pipeline.core.durations import parse_duration
from pipeline.engine.gc_policy import tune_collector
from pipeline.improvements import ImprovementsError, Register, load_register
from pipeline.targets import TargetsError, configured_windows, load_targets

if TYPE_CHECKING:
    from pipeline.replay.reader import MissingTopicError

__all__ = ["missing_topic_message", "parse_time", "replay", "select_windows"]


def parse_time(text: str) -> float:
    """RFC 3339 / ISO 8601 date or date-time; without an offset it is UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date or time (examples: 2016-03-01, 2026-03-02T06:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def select_windows(configured: list[WindowSetting], items: tuple[str, ...]) -> list[WindowSetting]:
    """``NAME`` picks a configured window; ``NAME=SIZE`` (tumbling) or ``NAME=SIZE/STEP``
    defines one for this replay. Items may also be comma-separated."""
    by_name = {w.name: w for w in configured}
    chosen: list[WindowSetting] = []
    for item in (part.strip() for text in items for part in text.split(",") if part.strip()):
        name, sep, spec = item.partition("=")
        if not sep:
            if name not in by_name:
                raise click.BadParameter(
                    f"no configured window {name!r} (configured: {sorted(by_name)}); "
                    "define one with NAME=SIZE or NAME=SIZE/STEP"
                )
            chosen.append(by_name[name])
            continue
        size, _, step = spec.partition("/")
        try:
            chosen.append(WindowSetting(name=name, size=size, step=step or size))
        except ValueError as exc:
            raise click.BadParameter(f"window {item!r}: {exc}") from None
    return chosen or configured


@click.command()
@click.option(
    "--from", "start", required=True, help="Start of the range (event time), e.g. 2016-03-01."
)
@click.option("--to", "end", required=True, help="End of the range (event time, exclusive).")
@click.option(
    "--targets",
    "targets_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Targets file to evaluate (what-if); default: the configured KPI_TARGETS_FILE.",
)
@click.option(
    "--improvements",
    "improvements_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Improvements register to evaluate before/after (default: the configured "
    "KPI_IMPROVEMENTS_FILE); adds a section per improvement and improvements.csv. The range "
    "must hold each improvement's before and after periods.",
)
@click.option(
    "--sla",
    "sla_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="SLA policy file to count with (what-if); default: the configured KPI_SLA_FILE.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("replay-report"),
    show_default=True,
    help="Report folder (created).",
)
@click.option(
    "--windows",
    multiple=True,
    help="Windows to compute: configured names, or NAME=SIZE[/STEP] (e.g. 7d=7d/1d). "
    "Default: the configured windows.",
)
@click.option(
    "--breakdowns",
    default=None,
    help="Comma-separated breakdowns (all, service, service_team, service_channel, "
    "service_priority). Default: the configured ones.",
)
@click.option(
    "--openmetrics",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the KPIs as OpenMetrics with timestamps, for "
    "`promtool tsdb create-blocks-from openmetrics`.",
)
@click.option(
    "--warm-up",
    default="0",
    show_default=True,
    help="Also read this much before --from (e.g. 30d) to rebuild the lifecycle of tickets "
    "opened before the range; those windows are not reported.",
)
@click.option(
    "--plot-window",
    default=None,
    help="Window plotted (default: the one most targets use, else the longest).",
)
@click.option("--plot-services", type=int, default=5, show_default=True, help="Services plotted.")
@click.option(
    "--topic-prefix",
    default="",
    help="Prefix of the input topic names, as given to `import --topic-prefix` (e.g. 'uci-' "
    "reads uci-tickets and uci-surveys).",
)
@bootstrap_option
@config_option
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def replay(
    start: str,
    end: str,
    targets_path: Path | None,
    improvements_path: Path | None,
    sla_path: Path | None,
    out: Path,
    windows: tuple[str, ...],
    breakdowns: str | None,
    openmetrics: Path | None,
    warm_up: str,
    plot_window: str | None,
    plot_services: int,
    topic_prefix: str,
    bootstrap: str | None,
    config_path: Path | None,
    no_progress: bool,
) -> None:
    """Recompute the KPIs of a time range of the input topics, with the live worker's code, into
    a report folder: kpis.csv, alerts.csv, plots/*.svg, summary.md (and improvements.csv with
    --improvements).

    Reads the range by record timestamp with its own consumer (no consumer group, no commits),
    writes nothing to Kafka, and finishes by itself at the end of the range. Windows that lie
    inside the range equal what the live worker closed for the same events.
    """
    from pipeline.replay.reader import MissingTopicError, ReplayError
    from pipeline.replay.run import ReplayOptions, run_replay
    from pipeline.sla import SlaPolicyError
    from pipeline.worker.context import core_context

    settings = _replay_settings(config_path, bootstrap, windows, breakdowns)
    if sla_path is not None:
        settings = settings.model_copy(update={"sla_file": sla_path})
    targets = _targets(settings, targets_path)
    register = _improvements(settings, improvements_path)
    try:
        ctx = core_context(settings)
    except SlaPolicyError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    window_names = [w.name for w in ctx.windows]
    if plot_window is not None and plot_window not in window_names:
        raise click.BadParameter(f"{plot_window!r} is not one of {window_names}")
    try:
        options = ReplayOptions(
            start=parse_time(start),
            end=parse_time(end),
            out=out,
            warm_up=parse_duration(warm_up),
            targets=targets,
            improvements=register,
            openmetrics=openmetrics,
            plot_window=plot_window,
            plot_services=plot_services,
            progress=not no_progress,
            topic_prefix=topic_prefix,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        tune_collector()
        result = asyncio.run(run_replay(settings, ctx, options))
    except MissingTopicError as exc:
        raise click.ClickException(missing_topic_message(exc, topic_prefix)) from None
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from None
    facts = result.facts
    if facts.records == 0:
        click.echo(
            f"warning: no records in the range on {topic_prefix}{settings.topics.tickets} and "
            f"{topic_prefix}{settings.topics.surveys} (record timestamps are event times)",
            err=True,
        )
    click.echo(
        f"replayed {facts.records} records in {facts.elapsed:.1f} s "
        f"({facts.records / max(facts.elapsed, 1e-9):.0f} records/s): {facts.windows} windows, "
        f"{facts.rows} rows, {result.alerts} alert transitions"
    )
    click.echo(f"report: {result.summary} (written in {result.report_seconds:.1f} s)")
    if openmetrics is not None:
        click.echo(f"openmetrics: {openmetrics} ({result.openmetrics_samples} samples)")


def missing_topic_message(exc: MissingTopicError, topic_prefix: str) -> str:
    """What to do about a missing input topic: the option that picks another prefix, with the
    topics that look like the same input under one."""
    text = f"input topic {exc.topic!r} does not exist on the broker"
    if not exc.similar:
        return (
            f"{text}, nor any topic ending in {exc.base!r}: import or simulate events first, "
            "or name the topics with --topic-prefix (or KPI_TOPICS__TICKETS/SURVEYS)"
        )
    prefixes = [t[: -len(exc.base)] for t in exc.similar]
    options = ", ".join(f"--topic-prefix {p!r}" if p else "no --topic-prefix" for p in prefixes)
    return (
        f"{text}; topics ending in {exc.base!r}: {', '.join(exc.similar)}. "
        f"Read them with {options}"
        + (f" (now: --topic-prefix {topic_prefix!r})" if topic_prefix else "")
    )


def _replay_settings(
    config_path: Path | None,
    bootstrap: str | None,
    windows: tuple[str, ...],
    breakdowns: str | None,
) -> Settings:
    settings = load_settings(config_path)
    update: dict[str, object] = {
        "time": settings.time.model_copy(
            update={"windows": select_windows(settings.time.windows, windows)}
        )
    }
    if bootstrap:
        update["kafka"] = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    if breakdowns:
        update["breakdowns"] = [b.strip() for b in breakdowns.split(",") if b.strip()]
    try:
        # Validated again as a whole: windows on one pane grid, known breakdowns.
        return Settings.model_validate(settings.model_copy(update=update).model_dump())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _targets(settings: Settings, path: Path | None) -> TargetSet | None:
    path = path or settings.targets_file
    if path is None:
        return None
    try:
        targets, warnings = load_targets(
            path, windows=configured_windows(settings), breakdowns=settings.breakdowns
        )
    except TargetsError as exc:
        raise click.ClickException(
            f"targets file {path} is invalid for this replay:\n{exc}"
        ) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    return targets


def _improvements(settings: Settings, path: Path | None) -> Register | None:
    path = path or settings.improvements_file
    if path is None:
        return None
    try:
        register, warnings = load_register(
            path,
            windows={w.name for w in settings.time.windows},
            breakdowns=settings.breakdowns,
        )
    except ImprovementsError as exc:
        raise click.ClickException(
            f"improvements register {path} is invalid for this replay:\n{exc}"
        ) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    return register
