"""``kpi-pipeline kafka start|stop|status``: the local single-node Kafka broker from the shell."""

from __future__ import annotations

import time
from pathlib import Path

import click

from pipeline.kafka.local_broker import DEFAULT_PORT, BrokerError, LocalBroker

__all__ = ["kafka"]

DEFAULT_DATA_DIR = Path("var") / "kafka"

_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Directory holding the broker's config, topic data, logs and pid file "
    "(relative paths are relative to the current directory).",
)


@click.group(name="kafka")
def kafka() -> None:
    """Run a local single-node Kafka broker (KRaft mode, no ZooKeeper, no Docker).

    The broker is the Apache Kafka 3.9 jars that `make setup` downloads, run with the local
    Java 17+. It keeps running in the background after the command returns; its data survives
    `stop` and `start`. Delete the data dir to start from an empty cluster.
    """


@kafka.command()
@_data_dir_option
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port of the PLAINTEXT listener clients bootstrap from (on 127.0.0.1).",
)
@click.option(
    "--controller-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port of the KRaft controller listener. Default: the one this data dir used before, "
    "else any free port.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds to wait for the broker to answer before giving up.",
)
def start(data_dir: Path, port: int, controller_port: int | None, timeout: float) -> None:
    """Start the broker and wait until it answers clients.

    Does nothing when the broker of DATA_DIR already runs. The first start formats the storage;
    later ones keep the topics and their data. On failure the end of the broker log is shown.
    """
    broker = LocalBroker(data_dir=data_dir, port=port, controller_port=controller_port)
    was_running = broker.is_running()
    began = time.monotonic()
    try:
        broker.start(timeout=timeout)
    except BrokerError as error:
        raise click.ClickException(str(error)) from error
    if was_running:
        click.echo(f"Kafka broker already running on {broker.bootstrap_servers}")
    else:
        click.echo(
            f"Kafka broker started on {broker.bootstrap_servers} in {time.monotonic() - began:.1f}s"
        )
    _describe(broker)


@kafka.command()
@_data_dir_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for a clean shutdown before the broker is killed.",
)
def stop(data_dir: Path, timeout: float) -> None:
    """Stop the broker, keeping its data.

    Sends SIGTERM to the broker of DATA_DIR, then SIGKILL if it has not exited after --timeout.
    Does nothing when it is not running. Topics and their data stay in DATA_DIR.
    """
    broker = LocalBroker.for_data_dir(data_dir)
    try:
        stopped = broker.stop(timeout=timeout)
    except BrokerError as error:
        raise click.ClickException(str(error)) from error
    if stopped:
        click.echo(f"Kafka broker stopped (log: {broker.log_file})")
    else:
        click.echo(f"No Kafka broker running from {broker.data_dir}")


@kafka.command()
@_data_dir_option
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port to check. Default: the one DATA_DIR's broker was started with, "
    f"else {DEFAULT_PORT}.",
)
@click.pass_context
def status(ctx: click.Context, data_dir: Path, port: int | None) -> None:
    """Tell whether the broker runs and answers.

    Exit status 0 when the broker of DATA_DIR runs and accepts clients on its port, 1 when not.
    """
    broker = LocalBroker.for_data_dir(data_dir, port=port)
    if not broker.is_running():
        click.echo(f"Kafka broker not running ({broker.bootstrap_servers}, data dir {data_dir})")
        ctx.exit(1)
    click.echo(f"Kafka broker running on {broker.bootstrap_servers}")
    _describe(broker)


def _describe(broker: LocalBroker) -> None:
    click.echo(f"  pid:      {broker.read_pid()}")
    click.echo(f"  data dir: {broker.data_dir}")
    click.echo(f"  log:      {broker.log_file}")
