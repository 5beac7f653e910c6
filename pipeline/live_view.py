"""A terminal view of a worker's /metrics: KPIs per service (newest closed 1h window) and the
pipeline's health, refreshed in place with rich."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.table import Table
from rich.text import Text

__all__ = ["COLUMNS", "Snapshot", "render", "scrape"]

Column = tuple[str, str, str, str, str | None]
# (kpi, stat, heading, format, better), per class of measure: the two are shown apart, since
# improving a process measure is not the same as improving the service.
PROCESS_COLUMNS: list[Column] = [
    ("tickets_created", "value", "new", "{:.0f}", None),
    ("tickets_resolved", "value", "done", "{:.0f}", None),
    ("first_response_time", "p50", "FRT50", "dur", "lower"),
    ("resolution_time", "p50", "RT50", "dur", "lower"),
    ("resolution_time", "p90", "RT90", "dur", "lower"),
    ("fcr_rate", "value", "FCR", "{:.0%}", "higher"),
    ("reopen_rate", "value", "reop", "{:.0%}", "lower"),
    ("escalation_rate", "value", "esc", "{:.0%}", "lower"),
]
SERVICE_COLUMNS: list[Column] = [
    ("sla_compliance", "value", "SLA", "{:.0%}", "higher"),
    ("csat", "value", "CSAT", "{:.0%}", "higher"),
    ("nps", "value", "NPS", "{:+.0f}", "higher"),
    ("cost_per_interaction", "value", "cost", "{:.2f}", "lower"),
    ("self_service_rate", "value", "self", "{:.0%}", "higher"),
]
COLUMNS = PROCESS_COLUMNS + SERVICE_COLUMNS


@dataclass
class Snapshot:
    # window -> service -> (kpi, stat) -> value
    kpis: dict[str, dict[str, dict[tuple[str, str], float]]] = field(default_factory=dict)
    backlog: dict[str, float] = field(default_factory=dict)
    window_end: float | None = None
    received: float = 0.0
    # (kind, rule, scope text, state, severity) of every pending or firing alert
    alerts: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    rejected: dict[str, float] = field(default_factory=dict)
    lag: float = 0.0


def scrape(url: str, window: str = "1h") -> Snapshot:
    """Read /metrics; KPIs of every window are kept, ``window`` sets the headline window."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    snap = Snapshot()
    kpis: dict[str, dict[str, dict[tuple[str, str], float]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = s.labels
            if s.name == "kpi_value" and labels["breakdown"] in ("service", "all"):
                service = labels["service"] or "(all)"
                kpis[labels["window"]][service][(labels["kpi"], labels["stat"])] = s.value
            elif s.name == "kpi_backlog_tickets" and labels["breakdown"] in ("service", "all"):
                snap.backlog[labels["service"] or "(all)"] = s.value
            elif s.name == "kpi_window_end_timestamp_seconds" and labels["window"] == window:
                snap.window_end = s.value
            elif s.name == "kpi_events_received_total":
                snap.received += s.value
            elif s.name == "kpi_events_rejected_total":
                snap.rejected[labels["reason"]] = s.value
            elif s.name == "kpi_alert_state":
                scope = (
                    ",".join(
                        f"{d}={labels[d]}"
                        for d in ("service", "team", "channel", "priority")
                        if labels.get(d)
                    )
                    or "all"
                )
                state = "FIRING" if s.value == 2 else "pending"
                snap.alerts.append(
                    (
                        labels["kind"],
                        labels["rule"],
                        f"{labels['kpi']} {labels['window']} {scope}",
                        state,
                        labels.get("severity", ""),
                    )
                )
            elif s.name == "kpi_consumer_lag_records":
                snap.lag += s.value
    snap.kpis = {w: dict(by_service) for w, by_service in kpis.items()}
    return snap


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 60:.0f}m"


def _cell(value: float | None, fmt: str) -> str:
    if value is None:
        return "-"
    return _duration(value) if fmt == "dur" else fmt.format(value)


def _table(
    snap: Snapshot, title: str, columns: list[Column], window: str, baseline: str, backlog: bool
) -> Table:
    """One row per service. A value more than 10% worse than the same service's value over the
    baseline window is red; more than 10% better, green."""
    table = Table(title=title, title_justify="left")
    table.add_column("service", no_wrap=True)
    for _, _, heading, _, _ in columns:
        table.add_column(heading, justify="right")
    if backlog:
        table.add_column("open", justify="right")
    current = snap.kpis.get(window, {})
    reference = snap.kpis.get(baseline, {})
    for service in sorted(current, key=lambda s: (s == "(all)", s)):
        values = current[service]
        before = reference.get(service, {})
        row = [Text(service, style="bold" if service == "(all)" else "")]
        for kpi, stat, _, fmt, better in columns:
            now, then = values.get((kpi, stat)), before.get((kpi, stat))
            text = Text(_cell(now, fmt))
            if better and now is not None and then is not None and then != 0:
                change = (now - then) / abs(then)
                worse = change < -0.1 if better == "higher" else change > 0.1
                improved = change > 0.1 if better == "higher" else change < -0.1
                if worse:
                    text.stylize("bold red")
                elif improved:
                    text.stylize("green")
            row.append(text)
        if backlog:
            row.append(Text(f"{snap.backlog.get(service, 0):.0f}"))
        table.add_row(*row)
    return table


def render(snap: Snapshot, title: str, window: str = "1h", baseline: str = "24h") -> Group:
    """The process and the service-value KPIs per service, the alerts and a health line."""
    when = (
        datetime.fromtimestamp(snap.window_end, UTC).strftime("%Y-%m-%d %H:%M UTC")
        if snap.window_end
        else "no window closed yet"
    )
    heading = f"{title} - {window} window ending {when} (colour: vs. {baseline})"
    process = _table(
        snap,
        f"{heading}\nProcess: how well the desk works",
        PROCESS_COLUMNS,
        window,
        baseline,
        True,
    )
    service = _table(
        snap, "Service value: what the customer gets", SERVICE_COLUMNS, window, baseline, False
    )
    rejected = sum(snap.rejected.values())
    reasons = ", ".join(f"{k} {v:.0f}" for k, v in sorted(snap.rejected.items())) or "none"
    legend = Text(
        "new/done: created/resolved; FRT/RT50,90: first response/resolution time p50, p90; "
        "reop/esc: reopen/escalation rate; open: backlog; self: self-service rate",
        style="dim",
    )
    health = Text(
        f"events in {snap.received:,.0f}   rejected {rejected:,.0f} ({reasons})   "
        f"consumer lag {snap.lag:,.0f}",
        style="dim",
    )
    alerts = Text("alerts: ", style="bold")
    if not snap.alerts:
        alerts.append("none", style="green")
    for kind, rule, what, state, severity in sorted(snap.alerts, key=lambda a: a[3]):
        style = "bold red" if state == "FIRING" else "yellow"
        alerts.append(f"\n  {state} {severity} {kind} {rule}: {what}", style=style)
    return Group(process, service, legend, alerts, health)
