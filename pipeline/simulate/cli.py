"""``kpi-pipeline simulate``: realistic service-desk traffic into the input topics.

Settings (bootstrap servers, topic names, partitions, Kafka security) come from the same place
as the worker's (``--config`` file, then ``KPI_`` env vars); the options here override them.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import click
import orjson

from pipeline.cli_options import bootstrap_option, config_option
from pipeline.config import Settings, load_settings
from pipeline.core.durations import parse_duration
from pipeline.simulate.model import (
    DEFAULT_SERVICES,
    Regression,
    SimConfig,
    SimImprovement,
    SimRecord,
    generate,
    parse_time,
)

__all__ = ["default_start", "simulate"]

_FOREVER = ("forever", "none", "inf", "endless")


def default_start(duration: timedelta | None, now: datetime | None = None) -> datetime:
    """The top of the current hour minus ``duration``: the run ends where live traffic would
    begin. An endless run starts at the top of the current hour."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    return hour if duration is None else hour - duration


def _duration(text: str) -> timedelta | None:
    if text.strip().lower() in _FOREVER:
        return None
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError("must be positive (or 'forever')")
    return timedelta(seconds=seconds)


def _fraction(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0.0 <= value < 0.5:
        raise click.BadParameter("must be within 0 and 0.5")
    return value


def _write_jsonl(records: Iterable[SimRecord], topics: dict[str, str], out: BinaryIO) -> int:
    """Records as JSON lines; a value that is not UTF-8 (on purpose) goes out base64-encoded."""
    count = 0
    for record in records:
        line: dict[str, Any] = {
            "topic": topics[record.topic],
            "key": record.key.decode(),
            "timestamp_ms": record.ts_ms,
            "expect": record.expect,
        }
        try:
            line["value"] = record.value.decode()
        except UnicodeDecodeError:
            line["value_base64"] = base64.b64encode(record.value).decode()
        out.write(orjson.dumps(line) + b"\n")
        count += 1
    out.flush()
    return count


def _summary(counts: dict[str, int], invalid: int, late: int, seconds: float) -> str:
    total = sum(counts.values())
    rate = total / seconds if seconds > 0 else 0.0
    parts = ", ".join(f"{topic} {n:,}" for topic, n in counts.items())
    return (
        f"sent {total:,} records ({parts}; {invalid:,} invalid, {late:,} late) "
        f"in {seconds:.1f}s ({rate:,.0f}/s)"
    )


@click.command(name="simulate")
@config_option
@bootstrap_option
@click.option(
    "--seed", type=int, default=1, show_default=True, help="Same seed, same records, byte for byte."
)
@click.option(
    "--start",
    metavar="TIME",
    default=None,
    help="Event time of the first ticket, ISO 8601 (naive = UTC), e.g. 2026-03-02T00:00:00Z. "
    "Default: the top of the current hour minus --duration.",
)
@click.option(
    "--duration",
    metavar="DURATION",
    default="6h",
    show_default=True,
    help="Event time to cover, e.g. 90m, 6h, 2d; 'forever' for an endless stream (use --speed).",
)
@click.option(
    "--n-events",
    type=click.IntRange(min=0),
    default=None,
    help="Stop after this many records (whichever comes first with --duration).",
)
@click.option(
    "--tickets-per-hour",
    type=click.FloatRange(min=0, min_open=True),
    default=120.0,
    show_default=True,
    help="Mean new tickets per hour of event time over a day; office hours (UTC) get about "
    "twice as many, nights a fifth.",
)
@click.option(
    "--services",
    default=",".join(DEFAULT_SERVICES),
    show_default=True,
    help="Comma-separated service names; each gets 2-4 teams (<service>-l1, <service>-l2, ...).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Event-time seconds per wall-clock second (600 = ten event minutes per second, "
    "1 = real time). Default: as fast as possible.",
)
@click.option(
    "--max-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="At most this many records per wall-clock second.",
)
@click.option(
    "--disorder",
    metavar="DURATION",
    default="0s",
    show_default=True,
    help="Deliver records up to this much event time after later ones (e.g. 2m), to exercise "
    "the pipeline's reordering. Keep it below the allowed lateness (default 10m).",
)
@click.option(
    "--invalid-fraction",
    type=float,
    default=0.0,
    show_default=True,
    callback=_fraction,
    help="Share of records that are deliberately invalid (malformed JSON, bad UTF-8, unknown "
    "type, missing or out-of-range fields, ...); the pipeline must send them to the DLQ.",
)
@click.option(
    "--late-fraction",
    type=float,
    default=0.0,
    show_default=True,
    callback=_fraction,
    help="Share of survey events held back 2-3 event hours, far beyond the allowed lateness; "
    "the pipeline must count them as late and send them to the DLQ.",
)
@click.option(
    "--regression",
    "regressions",
    multiple=True,
    metavar="SPEC",
    help="Change one service's behaviour for the tickets created from start to end: "
    "comma-separated name=value fields service, start, end (optional), fcr (first-contact "
    "resolution rate) and/or resolution_factor (2 = twice as slow), and ramp (optional: the "
    "change comes in linearly over this long, e.g. 3d, a gradual drift). start and end are an "
    "offset from --start (+3h) or an ISO time. Example: service=network,start=+3h,fcr=0.5. "
    "Repeatable.",
)
@click.option(
    "--improvement",
    "improvement_specs",
    multiple=True,
    metavar="SPEC",
    help="A known improvement of one service for the tickets created from start to end, "
    "relative to its behaviour otherwise: comma-separated fields service, start, end "
    "(optional), fcr and reopen (added to the first-contact resolution and reopen "
    "probabilities), csat (added to the share of CSAT scores of 4-5), resolution_factor "
    "(0.8 = 20% faster). Example: service=network,start=+28d,fcr=+0.10. Repeatable.",
)
@click.option(
    "--drain/--no-drain",
    default=False,
    show_default=True,
    help="After --duration, let open tickets run to their close (no new tickets arrive).",
)
@click.option(
    "--statuses/--no-statuses",
    default=True,
    show_default=True,
    help="Status moves (status_changed: new, queued, in progress, awaiting the customer, a "
    "vendor or another party) in every ticket, for time in status and SLA pauses; network "
    "waits on vendors most.",
)
@click.option(
    "--warm-start",
    default="0",
    show_default=True,
    help="A desk that has been running this long at --start (e.g. 7d): tickets still open "
    "then come with their earlier events, so the backlog is level from the start instead of "
    "growing from empty. Their earlier events go out unpaced.",
)
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    default=None,
    help="Partitions for topics that do not exist yet (existing topics are left alone). "
    "Default: KPI_TOPICS__PARTITIONS or 4. Must match what the worker expects.",
)
@click.option("--tickets-topic", default=None, help="Default: KPI_TOPICS__TICKETS or 'tickets'.")
@click.option("--surveys-topic", default=None, help="Default: KPI_TOPICS__SURVEYS or 'surveys'.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Live progress on stderr (records sent, rate, event time). Default: on in a terminal.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Write the records to stdout as JSON lines (topic, key, timestamp_ms, expect, value) "
    "instead of producing them; no Kafka needed, no pacing.",
)
def simulate(  # noqa: C901 (one branch per option that shapes the simulation)
    config_path: Path | None,
    bootstrap: str | None,
    seed: int,
    start: str | None,
    duration: str,
    n_events: int | None,
    tickets_per_hour: float,
    services: str,
    speed: float | None,
    max_rate: float | None,
    disorder: str,
    invalid_fraction: float,
    late_fraction: float,
    regressions: tuple[str, ...],
    improvement_specs: tuple[str, ...],
    drain: bool,
    statuses: bool,
    warm_start: str,
    partitions: int | None,
    tickets_topic: str | None,
    surveys_topic: str | None,
    progress: bool | None,
    dry_run: bool,
) -> None:
    """Produce simulated service-desk traffic: ticket lifecycles and surveys.

    Tickets arrive as a Poisson process with a daily profile, over several services, teams,
    channels and priorities, and run through assigned, replies, reassignments, escalations,
    resolution (mostly within SLA), sometimes a reopen, and closure, with the status moves
    of each ticket (unless --no-statuses); CSAT and NPS surveys follow some resolutions.
    Record keys are ticket ids, record timestamps are event times.

    \b
    Examples:
      # two days of history, as fast as the broker takes it
      kpi-pipeline simulate --duration 2d --tickets-per-hour 300
      # ten event minutes per second; network's FCR falls to 50% from the 3rd event hour
      kpi-pipeline simulate --speed 600 --regression service=network,start=+3h,fcr=0.5
      # eight weeks; network's FCR rises by 10 points after four (see `improvements`)
      kpi-pipeline simulate --duration 56d --improvement service=network,start=+28d,fcr=+0.10
      # look at the records without Kafka
      kpi-pipeline simulate --dry-run --duration 1h --invalid-fraction 0.05 | head
    """
    try:
        span = _duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from None
    try:
        disorder_seconds = parse_duration(disorder)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--disorder") from None
    try:
        first = parse_time(start) if start else default_start(span)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--start") from None
    try:
        parsed = tuple(Regression.parse(text, first) for text in regressions)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--regression") from None
    try:
        changes = tuple(SimImprovement.parse(text, first) for text in improvement_specs)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--improvement") from None
    names = tuple(name.strip() for name in services.split(",") if name.strip())
    try:
        warm = timedelta(seconds=parse_duration(warm_start))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--warm-start") from None
    try:
        config = SimConfig(
            seed=seed,
            start=first,
            duration=span,
            n_events=n_events,
            tickets_per_hour=tickets_per_hour,
            services=names,
            regressions=parsed,
            improvements=changes,
            disorder_seconds=disorder_seconds,
            late_fraction=late_fraction,
            invalid_fraction=invalid_fraction,
            drain=drain,
            statuses=statuses,
            warm_start=warm,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    unknown = sorted({r.service for r in parsed} - set(names))
    if unknown:
        raise click.BadParameter(f"unknown service(s) {unknown}", param_hint="--regression")
    unknown = sorted({c.service for c in changes} - set(names))
    if unknown:
        raise click.BadParameter(f"unknown service(s) {unknown}", param_hint="--improvement")

    settings = load_settings(config_path)
    topics = {
        "tickets": tickets_topic or settings.topics.tickets,
        "surveys": surveys_topic or settings.topics.surveys,
    }
    lateness = parse_duration(settings.time.allowed_lateness)
    if disorder_seconds > lateness:
        click.echo(
            f"warning: --disorder {disorder} exceeds the allowed lateness "
            f"{settings.time.allowed_lateness}: some unmarked records will arrive late",
            err=True,
        )
    if dry_run:
        try:
            _write_jsonl(generate(config), topics, sys.stdout.buffer)
        except BrokenPipeError:
            # The reader stopped (e.g. `| head`): not an error. Point stdout at /dev/null so
            # the interpreter's final flush does not complain either.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    _produce(config, settings, topics, bootstrap, partitions, speed, max_rate, progress)


def _produce(
    config: SimConfig,
    settings: Settings,
    topics: dict[str, str],
    bootstrap: str | None,
    partitions: int | None,
    speed: float | None,
    max_rate: float | None,
    progress: bool | None,
) -> None:
    from pipeline.simulate.producer import ProducerOptions, client_options, produce_simulation

    options = ProducerOptions(
        bootstrap_servers=bootstrap or settings.kafka.bootstrap_servers,
        topics=topics,
        partitions=partitions or settings.topics.partitions,
        replication_factor=settings.topics.replication_factor,
        topic_configs=settings.topics.input_topic_configs(),
        speed=speed,
        max_rate=max_rate,
        progress=sys.stderr.isatty() if progress is None else progress,
        client=client_options(settings.kafka),
    )
    end = "forever" if config.end is None else f"{config.end:%Y-%m-%dT%H:%M:%SZ}"
    click.echo(
        f"simulating {config.start:%Y-%m-%dT%H:%M:%SZ} .. {end} (seed {config.seed}) into "
        f"{topics['tickets']}, {topics['surveys']} on {options.bootstrap_servers}",
        err=True,
    )
    try:
        stats = asyncio.run(produce_simulation(config, options))
    except KeyboardInterrupt:
        raise click.Abort() from None
    except Exception as exc:  # Kafka errors: one readable line, not a traceback
        raise click.ClickException(f"producing failed: {type(exc).__name__}: {exc}") from exc
    click.echo(_summary(stats.sent, stats.invalid, stats.late, stats.elapsed), err=True)
