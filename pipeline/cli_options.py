"""Options every sub-command that talks to Kafka shares, so they read and behave the same."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["bootstrap_option", "config_option"]

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Settings file (YAML or JSON). Env vars prefixed KPI_ (nested with __, e.g. "
    "KPI_KAFKA__BOOTSTRAP_SERVERS) override it.",
)

bootstrap_option = click.option(
    "--bootstrap",
    default=None,
    help="Kafka bootstrap servers, host:port[,host:port]. Default: KPI_KAFKA__BOOTSTRAP_SERVERS "
    "or the settings file, else 127.0.0.1:9092.",
)
