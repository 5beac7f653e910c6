"""``kpi-pipeline sla check``: validate an SLA policy file and show what it means."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.core.durations import format_duration
from pipeline.core.sla import SlaPolicy
from pipeline.sla.load import DAYS, SlaPolicyError, load_sla_policy

__all__ = ["sla"]


@click.group()
def sla() -> None:
    """SLA policy file (version: sla/v1): resolution and first-response limits per priority
    (optionally per service), pausing statuses and business-hours calendars.

    The worker and replay read it from KPI_SLA_FILE; without one, the SLA clock is 24/7, nothing
    pauses and the limits are KPI_KPI__SLA (P1 4h, P2 8h, P3 24h, P4 72h).
    """


@sla.command("check")
@click.argument("path", type=click.Path(path_type=Path))
def check(path: Path) -> None:
    """Check an SLA policy file: every error as file:line: field: message (exit 1).

    \b
    Example:
      kpi-pipeline sla check deploy/sla.example.yaml
    """
    try:
        policy = load_sla_policy(path)
    except SlaPolicyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{path}: valid")
    for line in describe(policy):
        click.echo(line)


def describe(policy: SlaPolicy) -> list[str]:
    lines = ["limits (resolution / first response):"]
    keys = sorted(
        {(None, p) for p in (*policy.resolution, *policy.first_response)}
        | {(s, p) for s, p in (*policy.resolution_by_service, *policy.first_response_by_service)},
        key=lambda k: (k[0] or "", k[1]),
    )
    for service, priority in keys:
        if service is None:
            res, first = policy.resolution.get(priority), policy.first_response.get(priority)
        else:
            res = policy.resolution_by_service.get((service, priority))
            first = policy.first_response_by_service.get((service, priority))
        scope = priority if service is None else f"{priority} of {service}"
        lines.append(f"  {scope}: {_d(res)} / {_d(first)}")
    paused = ", ".join(sorted(policy.pausing)) or "none"
    lines.append(f"pausing statuses: {paused}")
    for i, cal in enumerate(policy.calendars):
        default = " (default)" if i == 0 else ""
        if cal.hours is None:
            lines.append(f"calendar {cal.name}{default}: always open")
            continue
        week = "; ".join(
            f"{DAYS[d]} " + ",".join(f"{_t(a)}-{_t(b)}" for a, b in spans)
            for d, spans in enumerate(cal.hours)
            if spans
        )
        lines.append(
            f"calendar {cal.name}{default}: {cal.zone}, {week}; {len(cal.holidays)} holidays"
        )
    for rule in policy.rules:
        who = " and ".join(
            f"{k} {v}" for k, v in (("service", rule.service), ("team", rule.team)) if v
        )
        lines.append(f"rule: {who} -> {policy.calendars[rule.calendar].name}")
    return lines


def _d(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def _t(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
