"""The "Bottlenecks" board: per service, where resolution time goes (desk queue, in progress,
awaiting the customer, a vendor, another party), ranked, and which status contributes most to
each missed resolution-time or SLA target (pipeline/core/bottlenecks.py defines both).

Everything is built from the worker's time-in-status KPIs: a status's time in a window is its
mean visit times the visits (``kpi_value`` x ``kpi_sample_size``), per resolved ticket of the
same window and scope."""

from __future__ import annotations

from typing import Any

from pipeline.core.bottlenecks import ATTRIBUTED_KPIS, PARTS
from pipeline.dashboards.grafana import Panel, Query, Variable, dashboard, row

__all__ = ["bottlenecks", "per_resolved_ticket"]

Json = dict[str, Any]

_SCOPE = "window, breakdown, service, team, channel, priority"
_STATUS_KPIS = 'kpi=~"time_in_status_.*"'
_HORIZONTAL = {"displayMode": "basic", "orientation": "horizontal", "showUnfilled": True}


def per_resolved_ticket(selector: str) -> str:
    """Seconds per resolved ticket of each status, in each scope that ``selector`` (label
    matchers without ``kpi`` and ``stat``) picks, newest closed window; labelled by ``kpi``."""
    return (
        f'(kpi_value{{{_STATUS_KPIS}, stat="mean", {selector}}} '
        f"* on (kpi, {_SCOPE}) kpi_sample_size{{{_STATUS_KPIS}, {selector}}}) "
        f"/ on ({_SCOPE}) group_left "
        f'kpi_value{{kpi="tickets_resolved", stat="value", {selector}}}'
    )


def _by_part(expr: str) -> str:
    """``expr`` with a ``part`` label from its time-in-status ``kpi`` label (PARTS)."""
    for status, part in PARTS.items():
        expr = f'label_replace({expr}, "part", "{part}", "kpi", "time_in_status_{status}")'
    return expr


def bottlenecks() -> Json:
    window = Variable("window", "Window", f"label_values(kpi_value{{{_STATUS_KPIS}}}, window)")
    service = Variable(
        "service",
        "Service",
        f'label_values(kpi_value{{{_STATUS_KPIS}, breakdown="service"}}, service)',
        multi=True,
        all_value=".+",
    )
    chosen = 'window="$window", breakdown="service", service=~"$service"'
    parts = f"sum by (service, part) ({_by_part(per_resolved_ticket(chosen))})"
    missed = "|".join(ATTRIBUTED_KPIS)
    # A scope missing a target of these KPIs (any window, any breakdown), and the statuses'
    # time per resolved ticket there beyond the whole desk's; organisation-wide scopes have
    # nothing to compare with and show their own time.
    scoped, own = per_resolved_ticket('breakdown!="all"'), per_resolved_ticket('breakdown="all"')
    excess = f"({scoped}) - on (kpi, window) group_left () ({own})"
    gaps = f'kpi_target_gap{{kpi=~"{missed}"}} > 0'
    contributions = f"(({excess}) or ({own})) and on ({_SCOPE}) ({gaps})"
    items: list[Any] = [
        row("Where resolution time goes, per service (newest closed $window window)"),
        Panel(
            "bargauge",
            "Time per resolved ticket, by part, ranked",
            (Query(f"sort_desc({parts})", "{{service}} {{part}}", instant=True),),
            description="Status time per resolved ticket: the visits that ended in the window "
            "(when the ticket left the status or was resolved), over the tickets resolved in "
            "it. Desk queue is new and queued; other is waiting on a problem, change, "
            "implementation or evidence.",
            unit="s",
            height=12,
            options=_HORIZONTAL,
        ),
        Panel(
            "bargauge",
            "Share of each service's status time",
            (
                Query(
                    f"sort_desc({parts} / on (service) group_left () sum by (service) ({parts}))",
                    "{{service}} {{part}}",
                    instant=True,
                ),
            ),
            description="Which part of a service's resolution time is largest, whatever its "
            "volume.",
            unit="percentunit",
            height=12,
            options=_HORIZONTAL,
            defaults={"min": 0, "max": 1},
        ),
        Panel(
            "timeseries",
            "Time per resolved ticket, by part, over time",
            (Query(parts, "{{service}} {{part}}"),),
            description="Each closed $window window; a part that grows is a bottleneck forming.",
            unit="s",
            width=24,
            options={"legend": {"displayMode": "table", "placement": "right"}},
        ),
        row("Missed resolution-time and SLA targets: which status contributes most"),
        Panel(
            "table",
            "Largest contributor to each missed target",
            (
                Query(
                    f"topk by ({_SCOPE}) (1, ({contributions}) > 0)",
                    "{{kpi}} {{breakdown}} {{service}}{{team}}{{channel}}{{priority}}",
                    instant=True,
                ),
            ),
            description="Per scope missing a target on "
            + ", ".join(ATTRIBUTED_KPIS)
            + ": the status whose time per resolved ticket exceeds the whole desk's by the "
            "most (the value: that excess, in seconds per resolved ticket; none where no "
            "status exceeds the desk's); for an "
            "organisation-wide target, the status with the most time per resolved ticket. "
            "See docs/kpis.md.",
            unit="s",
            width=24,
        ),
        Panel(
            "bargauge",
            "Every status of the scopes missing a target, against the desk",
            (
                Query(
                    f"sort_desc({contributions})",
                    "{{service}}{{team}}{{channel}}{{priority}} {{kpi}}",
                    instant=True,
                ),
            ),
            description="Seconds per resolved ticket beyond the whole desk's (negative: less "
            "than the desk).",
            unit="s",
            width=24,
            height=10,
            options=_HORIZONTAL,
        ),
    ]
    return dashboard(
        "kpi-bottlenecks",
        "Bottlenecks",
        "Where resolution time goes per service, ranked, and which status contributes most to "
        "each missed resolution-time or SLA target. Needs tickets with status moves.",
        items,
        [window, service],
        time_from="now-24h",
    )
