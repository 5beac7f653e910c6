"""``kpi-pipeline import``: exports of ITSM tools into the input topics.

Settings (bootstrap servers, topic names, partitions, Kafka security) come from the same place
as the worker's (``--config`` file, then ``KPI_`` env vars); the options here override them.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipeline.cli_options import bootstrap_option, config_option
from pipeline.config import Settings, load_settings
from pipeline.importers.servicenow import ImportFileError, MappingResult, map_file
from pipeline.importers.summary import summary_lines

__all__ = ["import_group"]


@click.group(name="import")
def import_group() -> None:
    """Turn exports of ITSM tools into contract events on the input topics.

    Event time becomes the Kafka record timestamp and event ids are deterministic, so
    importing the same file twice counts once.
    """


class _Bars:
    """Progress on stderr: rows read (by bytes of the file, with rows/s and ETA), then
    incidents mapped."""

    def __init__(self, path: Path) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description:<4}[/]"),
            BarColumn(bar_width=16),
            TaskProgressColumn(),
            TextColumn("{task.fields[line]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.started = time.monotonic()
        size = max(path.stat().st_size, 1)
        self.reading = self.progress.add_task("read", total=size, line="")
        self.mapping: TaskID | None = None

    def read(self, bytes_read: int, rows: int) -> None:
        rate = rows / max(time.monotonic() - self.started, 1e-9)
        line = f"{rows:,} rows {rate:,.0f} rows/s"
        self.progress.update(self.reading, completed=bytes_read, line=line)

    def mapped(self, incidents: int, total: int) -> None:
        if self.mapping is None:
            self.mapping = self.progress.add_task("map", total=max(total, 1), line="")
        line = f"{incidents:,} of {total:,} incidents"
        self.progress.update(self.mapping, completed=incidents, line=line)


@contextmanager
def _bars(path: Path, enabled: bool) -> Iterator[_Bars | None]:
    if not enabled:
        yield None
        return
    bars = _Bars(path)
    with bars.progress:
        yield bars


@import_group.command(name="servicenow")
@click.argument("file", type=click.Path(path_type=Path))
@config_option
@bootstrap_option
@click.option(
    "--tickets-topic",
    default=None,
    help="Topic for the ticket events. Default: --topic-prefix + KPI_TOPICS__TICKETS ('tickets').",
)
@click.option(
    "--topic-prefix",
    default="",
    help="Prefix of the input topic names, e.g. 'uci-' imports into uci-tickets (and creates "
    "uci-surveys), apart from the live topics.",
)
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    default=None,
    help="Partitions for topics that do not exist yet. Default: KPI_TOPICS__PARTITIONS or 4.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bars on stderr (rows/s, events/s, ETA). Default: on in a terminal.",
)
@click.option(
    "--statuses/--no-statuses",
    default=True,
    show_default=True,
    help="Import the status moves (incident_state -> status_changed), which SLA pauses and "
    "time in status need; --no-statuses: lifecycle events only.",
)
@click.option("--dry-run", is_flag=True, help="Map and print the summary; no Kafka needed.")
def servicenow(
    file: Path,
    config_path: Path | None,
    bootstrap: str | None,
    tickets_topic: str | None,
    topic_prefix: str,
    partitions: int | None,
    progress: bool | None,
    statuses: bool,
    dry_run: bool,
) -> None:
    """Import a ServiceNow incident audit log (CSV, plain or gzipped), one row per update.

    Per incident, in sys_mod_count order: created at opened_at; reassigned when
    reassignment_count rises; resolved on each transition into Resolved; reopened when
    reopen_count rises; closed on the final transition into Closed; later events at the row's
    sys_updated_at. service = category, team = assignment_group, priority '3 - Moderate' -> P3,
    channel from contact_type (Phone, IVR -> phone; Email -> email; Self service ->
    self_service; others -> web); '?' -> unknown. Times are day-first and taken as UTC.
    Rows that cannot be mapped are skipped and listed with their line and reason.
    Unless --no-statuses, each move of incident_state into another status is a status_changed
    (New -> new, Active -> in_progress, Awaiting User Info -> awaiting_customer, Awaiting
    Vendor -> awaiting_vendor, Awaiting Problem/Evidence -> awaiting_other).

    \b
    Examples:
      kpi-pipeline import servicenow incident_event_log.csv.gz --dry-run
      kpi-pipeline import servicenow incident_event_log.csv.gz --topic-prefix uci-
    """
    show = sys.stderr.isatty() if progress is None else progress
    started = time.monotonic()
    try:
        with _bars(file, show and file.is_file()) as bars:
            result = map_file(file, progress=bars, statuses=statuses)
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    _finish(
        file, result, started, dry_run, config_path, bootstrap, tickets_topic, topic_prefix,
        partitions, show,
    )  # fmt: skip


@import_group.command(name="bpic2013")
@click.argument("file", type=click.Path(path_type=Path))
@config_option
@bootstrap_option
@click.option(
    "--tickets-topic",
    default=None,
    help="Topic for the ticket events. Default: --topic-prefix + KPI_TOPICS__TICKETS ('tickets').",
)
@click.option("--topic-prefix", default="", help="Prefix of the input topic names, e.g. 'bpic-'.")
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    default=None,
    help="Partitions for topics that do not exist yet. Default: KPI_TOPICS__PARTITIONS or 4.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar while producing. Default: on in a terminal.",
)
@click.option("--dry-run", is_flag=True, help="Map and print the summary; no Kafka needed.")
def bpic2013(
    file: Path,
    config_path: Path | None,
    bootstrap: str | None,
    tickets_topic: str | None,
    topic_prefix: str,
    partitions: int | None,
    progress: bool | None,
    dry_run: bool,
) -> None:
    """Import the BPI Challenge 2013 incident log (Volvo IT, VINST; CSV, plain or gzipped).

    One ticket per SR Number, rows in time order: created at the first row; status_changed
    from Status/Sub Status; reassigned when Involved ST changes; escalated when ST Level moves
    up a line (L1 -> L2 -> L3); resolved on Completed/Resolved and Completed/In Call; reopened
    when a request goes on after a resolution; closed on the final Completed/Closed.
    service = Product, team = Involved ST, priority from SR Latest Impact (Major P1, High P2,
    Medium P3, Low P4), channel web. Rows that cannot be mapped are listed with line and reason.

    \b
    Examples:
      kpi-pipeline import bpic2013 bpic2013_incidents_VINST-new.csv.gz --dry-run
      kpi-pipeline import bpic2013 bpic2013_incidents_VINST-new.csv.gz --topic-prefix bpic-
    """
    from pipeline.importers.bpic2013 import map_file as map_bpic

    show = sys.stderr.isatty() if progress is None else progress
    started = time.monotonic()
    try:
        result = map_bpic(file)
    except ImportFileError as exc:
        raise click.ClickException(str(exc)) from None
    _finish(
        file, result, started, dry_run, config_path, bootstrap, tickets_topic, topic_prefix,
        partitions, show,
    )  # fmt: skip


def _finish(
    file: Path,
    result: MappingResult,
    started: float,
    dry_run: bool,
    config_path: Path | None,
    bootstrap: str | None,
    tickets_topic: str | None,
    topic_prefix: str,
    partitions: int | None,
    show: bool,
) -> None:
    """Print the summary, then produce the events unless it is a dry run."""
    for line in summary_lines(file, result, time.monotonic() - started):
        click.echo(line)
    if dry_run:
        click.echo("dry run: nothing produced")
        return
    settings = load_settings(config_path)
    topic = tickets_topic or topic_prefix + settings.topics.tickets
    _produce(
        result, settings, topic, topic_prefix + settings.topics.surveys, bootstrap, partitions, show
    )


def _produce(
    result: MappingResult,
    settings: Settings,
    tickets: str,
    surveys: str,
    bootstrap: str | None,
    partitions: int | None,
    progress: bool,
) -> None:
    from pipeline.importers.produce import produce_events
    from pipeline.kafka.security import client_options
    from pipeline.simulate.producer import ProducerOptions

    options = ProducerOptions(
        bootstrap_servers=bootstrap or settings.kafka.bootstrap_servers,
        topics={"tickets": tickets, "surveys": surveys},
        partitions=partitions or settings.topics.partitions,
        replication_factor=settings.topics.replication_factor,
        topic_configs=settings.topics.input_topic_configs(),
        progress=progress,
        progress_label="produce",
        client=client_options(settings.kafka),
    )
    try:
        stats = asyncio.run(produce_events(result.events, options))
    except KeyboardInterrupt:
        raise click.Abort() from None
    except Exception as exc:  # Kafka errors: one readable line, not a traceback
        raise click.ClickException(f"producing failed: {type(exc).__name__}: {exc}") from exc
    rate = stats.total / stats.elapsed if stats.elapsed > 0 else 0.0
    click.echo(
        f"produced {stats.total:,} records to {tickets} on {options.bootstrap_servers} "
        f"in {stats.elapsed:.1f}s ({rate:,.0f}/s)"
    )
