"""``kpi-pipeline targets check PATH``: validate a targets file and show what it asks for."""

from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.table import Table

from pipeline.alerts.model import ScopeMatch, TargetSet
from pipeline.config import load_settings
from pipeline.core.durations import format_duration
from pipeline.core.kpis import catalogue
from pipeline.core.scopes import BREAKDOWNS
from pipeline.targets.load import TargetsError, configured_windows, load_targets

__all__ = ["targets"]


@click.group(name="targets")
def targets() -> None:
    """Targets file (version: targets/v1): KPI objectives and drift checks to alert on."""


@targets.command("check")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--windows",
    default=None,
    help="Comma-separated window names the worker computes, e.g. 1h,24h "
    "(default: the windows of the settings).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Settings file whose windows (and their steps) and breakdowns to check against; "
    "KPI_ env vars apply as for the worker.",
)
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too (for CI).")
def check(path: Path, windows: str | None, config_path: Path | None, strict: bool) -> None:
    """Check a targets file: print its targets and drift checks, warn about likely mistakes
    (0.85 written as 85, a hold shorter than the window's step, ...), and exit 1 listing every
    error as FILE:LINE: FIELD: MESSAGE.

    \b
    Format (values in the KPI's unit: ratios 0..1, durations
    for times, NPS -100..100; "*" = each value separately):
    \b
      version: targets/v1
      defaults:                # optional, for every target
        min_sample: 30         # fewer observations: nothing fires
        hold: 1h               # a breach must last this long
        confidence: 0.95       # rate KPIs: Wilson interval
        severity: {warning: 0, critical: 10%}  # gap; % of objective
      targets:
        - id: fcr-per-service  # optional, unique
          kpi: fcr_rate
          window: 24h
          scope: {service: "*"}   # all | service [+ team|channel|priority]
          objective: ">= 0.70"    # or "<= 8h"; quote a leading '>'
          stat: value             # mean|p50|p90 for time KPIs
          clear_margin: 0.03      # hysteresis before resolving
      drift:                   # EWMA control charts
        - kpi: resolution_time
          stat: p50
          window: 24h
          smoothing: 0.2       # lambda
          width: 3             # L sigma
          warmup: 12           # windows before alerting
          hold_windows: 2
    \b
    deploy/targets.yaml is a commented example.
    """
    settings = load_settings(config_path)
    steps = configured_windows(settings)
    allowed: set[str] | dict[str, float] = steps
    if windows is not None:
        names = {name.strip() for name in windows.split(",") if name.strip()}
        allowed = {name: steps[name] for name in names if name in steps}
        if len(allowed) < len(names):
            allowed = names  # some are unknown to the settings: names only, default steps
    try:
        target_set, warnings = load_targets(path, windows=allowed, breakdowns=settings.breakdowns)
    except TargetsError as exc:
        for issue in exc.issues:
            click.echo(f"error: {issue}", err=True)
        count = len(exc.issues)
        click.echo(f"{path}: {count} error{'s' * (count != 1)}", err=True)
        raise SystemExit(1) from None
    _print_summary(target_set)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    summary = (
        f"{path}: ok, {len(target_set.targets)} targets, {len(target_set.drift)} drift checks"
        f", {len(target_set.forecasts)} forecasts, {len(target_set.budgets)} error budgets"
        f", {len(target_set.benchmarks)} benchmarks"
        f", {len(warnings)} warnings"
    )
    click.echo(summary)
    if strict and warnings:
        raise SystemExit(1)


def _print_summary(target_set: TargetSet) -> None:
    units = {d.name: d.unit for d in catalogue()}
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 160  # logs and CI: long lines beat rows folded over five lines
    table = Table(title="Targets", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("id", "kpi", "scope", "window", "objective", "min n", "hold", "clear"):
        table.add_column(column, overflow="fold")
    table.add_column("severity from gap", overflow="fold")
    for t in target_set.targets:
        unit = units.get(t.kpi, "")
        table.add_row(
            t.id,
            _kpi(t.kpi, t.stat),
            _scope(t.scope),
            t.window,
            f"{t.objective.op} {_value(t.objective.value, unit)}",
            str(t.min_sample),
            _duration(t.hold_seconds),
            _value(t.clear_margin, unit),
            ", ".join(f"{s.name} {_value(s.min_gap, unit)}" for s in t.severities),
        )
    console.print(table)
    drift = Table(title="Drift checks", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("id", "kpi", "scope", "window", "lambda", "L", "warmup", "min n", "hold"):
        drift.add_column(column, overflow="fold")
    for d in target_set.drift:
        drift.add_row(
            d.id,
            _kpi(d.kpi, d.stat),
            _scope(d.scope),
            d.window,
            f"{d.smoothing:g}",
            f"{d.width:g}",
            str(d.warmup),
            str(d.min_sample),
            f"{d.hold_windows} window{'s' * (d.hold_windows != 1)}",
        )
    console.print(drift)
    if target_set.budgets:
        budgets = Table(title="Error budgets", title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("id", "kpi", "scope", "objective", "period", "budget", "read from"):
            budgets.add_column(column, overflow="fold")
        for b in target_set.budgets:
            budgets.add_row(
                b.id,
                b.kpi,
                _scope(b.scope),
                f"{b.objective.op} {b.objective.value:g}",
                b.period,
                f"{b.allowed:.4g} bad",
                f"{b.window} windows",
            )
        console.print(budgets)
    if target_set.benchmarks:
        marks = Table(title="Benchmarks", title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("kpi", "value", "source", "year", "peer group"):
            marks.add_column(column, overflow="fold")
        for m in target_set.benchmarks:
            unit = units.get(m.kpi, "")
            marks.add_row(
                _kpi(m.kpi, m.stat), _value(m.value, unit), m.source, str(m.year), m.peer_group
            )
        console.print(marks)


def _kpi(kpi: str, stat: str) -> str:
    return kpi if stat == "value" else f"{kpi} {stat}"


def _scope(scope: ScopeMatch) -> str:
    dims = BREAKDOWNS[scope.breakdown]
    return ", ".join(f"{d}={getattr(scope, d)}" for d in dims) if dims else "all"


def _duration(seconds: float) -> str:
    return format_duration(seconds) if seconds > 0 else "0"


def _value(value: float, unit: str) -> str:
    return _duration(value) if unit == "seconds" else f"{value:g}"
