"""The ``kpi-pipeline`` command line: one entry point with a sub-command per job."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.cli_options import bootstrap_option, config_option
from pipeline.config import Settings, SettingsError, load_settings

__all__ = ["main"]


class _Main(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            # A mistyped setting: its message names the key and the nearest valid one.
            raise click.ClickException(f"invalid settings:\n{exc}") from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Streaming KPI pipeline for service operations.

    Ticket lifecycle and survey events in Kafka become event-time windowed KPIs (FCR, response
    and resolution times, SLA compliance, CSAT, NPS, ...) per service, team, channel and
    priority, exported on /metrics for Prometheus and as final window records on kpi-windows.
    """


@main.command()
@config_option
@bootstrap_option
@click.option("--web-port", type=int, default=None, help="Port of /metrics (default 6066).")
@click.option("--loglevel", default=None, help="debug, info, warning or error.")
@click.option(
    "--exit-when-caught-up",
    is_flag=True,
    help="Stop once every record read is in closed, delivered windows (a finite stream: an "
    "import, a simulation). Windows close on idle input after KPI_TIME__IDLE_TIMEOUT.",
)
def worker(
    config_path: Path | None,
    bootstrap: str | None,
    web_port: int | None,
    loglevel: str | None,
    exit_when_caught_up: bool,
) -> None:
    """Run a worker: consume tickets and surveys, compute KPIs, serve /metrics.

    /metrics binds to 127.0.0.1 unless KPI_WEB__BIND says otherwise. Stop with Ctrl-C (SIGINT)
    or SIGTERM; state survives in the table changelog topics. The log says "caught up" and
    /metrics has kpi_caught_up 1 when every record read is in closed, delivered windows.
    """
    from pipeline.sla import SlaPolicyError, load_sla_policy
    from pipeline.worker.run import run_worker

    settings = _settings(config_path, bootstrap=bootstrap, web_port=web_port, loglevel=loglevel)
    if settings.sla_file is not None:
        try:  # before anything starts: an invalid policy is one readable error
            load_sla_policy(settings.sla_file)
        except SlaPolicyError as exc:
            raise click.ClickException(str(exc)) from None
    sys.exit(run_worker(settings, exit_when_caught_up=exit_when_caught_up))


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=Path("var/demo"),
    show_default=True,
    help="Where the broker, worker state and logs go.",
)
@click.option(
    "--kafka-port",
    type=int,
    default=9092,
    show_default=True,
    help="Port of the local broker (reused when one already runs there).",
)
@click.option("--web-port", type=int, default=6066, show_default=True, help="Port of /metrics.")
@click.option(
    "--speed",
    type=float,
    default=600.0,
    show_default=True,
    help="Event-time seconds simulated per wall second.",
)
@click.option(
    "--run-for",
    type=float,
    default=None,
    help="Stop after this many wall seconds (default: run until Ctrl-C).",
)
@click.option("--plain", is_flag=True, help="Print a table every 10 s instead of a live view.")
@click.option(
    "--prometheus-port", type=int, default=None, help="Port of Prometheus (default: a free one)."
)
@click.option(
    "--alertmanager-port",
    type=int,
    default=None,
    help="Port of Alertmanager (default: a free one).",
)
@click.option(
    "--evaluation-interval",
    default="5s",
    show_default=True,
    help="Prometheus' scrape and rule evaluation interval.",
)
@click.option(
    "--warm-start",
    default="7d",
    show_default=True,
    help="How long the simulated desk has been running at the start (its open tickets come "
    "with their history, so the backlog stays level); 0: an empty desk.",
)
@click.option(
    "--statuses",
    is_flag=True,
    help="Tickets also move through statuses (queued, in progress, awaiting customer or "
    "vendor, ...), so the Bottlenecks board fills: about 60% more records, and the waits "
    "lengthen resolution times.",
)
def demo(
    data_dir: Path,
    kafka_port: int,
    web_port: int,
    speed: float,
    run_for: float | None,
    plain: bool,
    prometheus_port: int | None,
    alertmanager_port: int | None,
    evaluation_interval: str,
    warm_start: str,
    statuses: bool,
) -> None:
    """Live demo: local Kafka, a worker, Prometheus with the shipped rules, Alertmanager, the
    simulator with an injected regression, and the KPIs per service in the terminal.

    The regression: network's first contact resolution falls to 45% for tickets created after
    the second event hour; its alert (KpiTargetBreached, fcr-per-service) shows in Prometheus'
    /alerts and in Alertmanager. Red marks a 1h value more than 10% worse than the service's
    24h value. Prometheus and Alertmanager keep their data under --data-dir.
    """
    from datetime import timedelta

    from pipeline.core.durations import parse_duration
    from pipeline.demo import DemoOptions, run_demo

    try:
        warm = timedelta(seconds=parse_duration(warm_start))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--warm-start") from None
    options = DemoOptions(
        data_dir=data_dir,
        kafka_port=kafka_port,
        web_port=web_port,
        speed=speed,
        run_for=run_for,
        plain=plain,
        prometheus_port=prometheus_port,
        alertmanager_port=alertmanager_port,
        evaluation_interval=evaluation_interval,
        warm_start=warm,
        statuses=statuses,
    )
    sys.exit(run_demo(options))


@main.group()
def schemas() -> None:
    """JSON Schema files of the event and output contracts (in schemas/)."""


@schemas.command("generate")
def schemas_generate() -> None:
    """Write the JSON Schema files from the pydantic models."""
    from pipeline.schemas.export import generate

    for path in generate():
        click.echo(f"wrote {path.name}")


@schemas.command("check")
def schemas_check() -> None:
    """Fail when a JSON Schema file differs from what the models generate."""
    from pipeline.schemas.export import check

    stale = check()
    if stale:
        raise click.ClickException(
            f"out of date: {', '.join(stale)}; run `make generate` and commit the result"
        )
    click.echo("schemas are up to date")


@main.group()
def dashboards() -> None:
    """Grafana dashboards (deploy/grafana/dashboards/), generated from pipeline/dashboards/."""


@dashboards.command("generate")
def dashboards_generate() -> None:
    """Write the dashboard JSON files from the board definitions."""
    from pipeline.dashboards import generate

    for path in generate():
        click.echo(f"wrote {path.name}")


@dashboards.command("check")
def dashboards_check() -> None:
    """Fail when a dashboard file differs from what the board definitions generate."""
    from pipeline.dashboards import check

    stale = check()
    if stale:
        raise click.ClickException(
            f"out of date: {', '.join(stale)}; run `make generate` and commit the result"
        )
    click.echo("dashboards are up to date")


@main.group()
def rules() -> None:
    """Prometheus rules generated from the targets file: error budgets and their burn-rate
    alerts (deploy/prometheus/rules/kpi-budgets.yml, from deploy/targets.yaml)."""


@rules.command("generate")
def rules_generate() -> None:
    """Write deploy/prometheus/rules/kpi-budgets.yml from the budgets of deploy/targets.yaml."""
    from pipeline.targets.rules import generate

    click.echo(f"wrote {generate().name}")


@rules.command("check")
def rules_check() -> None:
    """Fail when the generated rule file differs from what deploy/targets.yaml generates."""
    from pipeline.targets.rules import RULES_FILE, check

    if not check():
        raise click.ClickException(
            f"out of date: {RULES_FILE.name}; run `make generate` and commit the result"
        )
    click.echo("rules are up to date")


def _settings(config_path: Path | None, **cli: object) -> Settings:
    overrides: dict[str, object] = {}
    settings = load_settings(config_path)
    if cli.get("bootstrap"):
        overrides["kafka"] = settings.kafka.model_copy(
            update={"bootstrap_servers": cli["bootstrap"]}
        )
    if cli.get("web_port") is not None:
        overrides["web"] = settings.web.model_copy(update={"port": cli["web_port"]})
    if cli.get("loglevel"):
        overrides["log_level"] = cli["loglevel"]
    return settings.model_copy(update=overrides)


def _attach_optional_commands() -> None:
    from pipeline.importers.cli import import_group
    from pipeline.improvements.cli import improvements
    from pipeline.kafka.cli import kafka
    from pipeline.replay.cli import replay
    from pipeline.sla.cli import sla
    from pipeline.targets.cli import targets

    main.add_command(kafka)
    main.add_command(replay)
    main.add_command(targets)
    main.add_command(improvements)
    main.add_command(sla)
    main.add_command(import_group)
    try:
        from pipeline.simulate.cli import simulate
    except ImportError:
        return
    main.add_command(simulate)


_attach_optional_commands()
