"""``kpi-pipeline improvements check|evaluate``: validate a register; evaluate it on a replay
report's tidy rows."""

from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from pipeline.config import load_settings
from pipeline.core.durations import format_duration
from pipeline.core.results import iso
from pipeline.improvements.evaluate import OVERALL_TEXT, Evaluation, evaluate_register
from pipeline.improvements.format import effect_text
from pipeline.improvements.load import ImprovementsError, load_register
from pipeline.improvements.model import Register
from pipeline.improvements.rows import read_tidy_rows

__all__ = ["improvements"]


@click.group(name="improvements")
def improvements() -> None:
    """Improvements register (version: improvements/v1): changes and the KPIs they should
    move, evaluated before/after with a confidence interval and a verdict."""


_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Settings file whose windows and breakdowns to check against; KPI_ env vars apply "
    "as for the worker.",
)


def _load(path: Path, config_path: Path | None) -> Register:
    settings = load_settings(config_path)
    try:
        register, warnings = load_register(
            path,
            windows={w.name for w in settings.time.windows},
            breakdowns=settings.breakdowns,
        )
    except ImprovementsError as exc:
        for issue in exc.issues:
            click.echo(f"error: {issue}", err=True)
        count = len(exc.issues)
        click.echo(f"{path}: {count} error{'s' * (count != 1)}", err=True)
        raise SystemExit(1) from None
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    return register


@improvements.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_CONFIG
def check(path: Path, config_path: Path | None) -> None:
    """Check a register: print its improvements and exit 1 listing every error as
    FILE:LINE: FIELD: MESSAGE (unknown KPI, overlapping periods on the same scope and KPI, an
    implementation in the future, a guard that is also expected, ...).

    \b
    Format:
      version: improvements/v1
      defaults: {before: 28d, window: 24h, confidence: 0.95}
      improvements:
        - id: network-kb-articles
          title: Knowledge-base articles for network
          owner: network-service-owner
          scope: {service: network}     # or all; + team|channel|priority
          implemented: 2026-03-02T09:00:00Z
          settling: 7d                  # left out after the change
          expect:
            - {kpi: fcr_rate, direction: higher, min_effect: 0.03}
            - {kpi: resolution_time, stat: p50, direction: lower}
          guards: [{kpi: csat}]         # default: the other KPI class
    \b
    deploy/improvements.yaml is a commented example; docs/improvements.md explains the methods.
    """
    register = _load(path, config_path)
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160
    table = Table(title="Improvements", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("id", "scope", "implemented", "before", "after", "expected", "guards"):
        table.add_column(column, overflow="fold")
    for i in register.improvements:
        after = format_duration(i.after_seconds)
        if i.settling_seconds:
            after += f" (after {format_duration(i.settling_seconds)} settling)"
        table.add_row(
            i.id,
            i.scope_text(),
            iso(i.implemented),
            format_duration(i.before_seconds),
            after,
            ", ".join(f"{c.label} {c.direction.value}" for c in i.expected),
            ", ".join(c.label for c in i.guards) or "-",
        )
    console.print(table)
    click.echo(f"{path}: ok, {len(register.improvements)} improvements")


@improvements.command("evaluate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kpis",
    "kpis_csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="A replay report's kpis.csv (the tidy rows of closed windows).",
)
@_CONFIG
def evaluate_command(path: Path, kpis_csv: Path, config_path: Path | None) -> None:
    """Evaluate a register on the closed windows of a replay report: per improvement, the
    effect of each KPI with its confidence interval and verdict, and the overall verdict."""
    register = _load(path, config_path)
    rows = list(read_tidy_rows(kpis_csv, {i.window for i in register.improvements}))
    for evaluation in evaluate_register(register, rows):
        _print_evaluation(evaluation)


def _print_evaluation(evaluation: Evaluation) -> None:
    i = evaluation.improvement
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160
    table = Table(
        title=f"{i.id} ({i.scope_text()}, implemented {iso(i.implemented)}): "
        f"{OVERALL_TEXT[evaluation.overall]}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for column in ("kpi", "role", "before", "after", "effect [CI]", "n before/after", "verdict"):
        table.add_column(column, overflow="fold")
    for v in evaluation.kpis:
        before, after, effect = effect_text(v)
        table.add_row(
            v.check.label,
            v.check.role.value,
            before,
            after,
            effect,
            f"{v.before_n}/{v.after_n}",
            v.verdict.value.replace("_", " ") + (f" ({v.note})" if v.note else ""),
        )
    console.print(table)
