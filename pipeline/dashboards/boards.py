"""The Grafana boards, as code: KPI overview, gap versus target, alerts, drill-down by team,
channel and priority, pipeline health, improvements (``improvements_board``) and bottlenecks
(``bottleneck_board``).

Every query uses the worker's label conventions (``kpi``, ``stat``, ``window``, ``breakdown``,
``service``, ``team``, ``channel``, ``priority``) and the recording rules of
deploy/prometheus/rules/, so one panel with variables serves every KPI. Which KPIs are service
value and which are process measures comes from the KPI catalogue, the one place they are defined.
"""

from __future__ import annotations

from typing import Any

from pipeline.core.kpis import KpiClass, KpiDefinition, catalogue
from pipeline.dashboards.bottleneck_board import bottlenecks
from pipeline.dashboards.grafana import Panel, Query, Variable, dashboard, row
from pipeline.dashboards.improvements_board import improvements
from pipeline.dashboards.references import BENCHMARK_STYLE, benchmark_queries, error_budgets

__all__ = ["all_boards"]

Json = dict[str, Any]

# Grafana units for the catalogue's units.
_UNITS = {"seconds": "s", "ratio": "percentunit", "score": "none", "tickets": "short"}
_SCOPE = "kpi, stat, window, breakdown, service, team, channel, priority"
_DIMS = "{{service}}{{team}}{{channel}}{{priority}}"

WINDOW = Variable("window", "Window", "label_values(kpi_value, window)")
SERVICES = Variable(
    "service",
    "Service",
    'label_values(kpi_value{breakdown="service"}, service)',
    multi=True,
    all_value=".+",
)


def _unit(kpi: KpiDefinition) -> str:
    return _UNITS.get(kpi.unit, "short")


def _kpi_panel(kpi: KpiDefinition) -> Panel:
    # Times are skewed: the median and the 90th percentile say more than the mean.
    stat = 'stat=~"p50|p90"' if "p50" in kpi.stats else 'stat="value"'
    legend = "{{service}} {{stat}}" if "p50" in kpi.stats else "{{service}}"
    references = benchmark_queries(kpi.name)
    return Panel(
        "timeseries",
        kpi.name,
        (
            Query(
                f'kpi_value{{kpi="{kpi.name}", {stat}, window="$window", breakdown="service", '
                f'service=~"$service"}}',
                legend,
            ),
            *references,
        ),
        description=f"{kpi.name} per service, newest closed $window window ({kpi.better} is "
        f"better; anchored on {kpi.anchor})."
        + (" Dashed: a published benchmark (a reference, not a target)." if references else ""),
        unit=_unit(kpi),
        width=8,
        overrides=(BENCHMARK_STYLE,) if references else (),
    )


def _org_wide(kpis: list[KpiDefinition], title: str) -> Panel:
    names = "|".join(k.name for k in kpis)
    return Panel(
        "stat",
        title,
        (
            Query(
                f'kpi_value{{kpi=~"{names}", stat=~"value|p90", window="$window", '
                'breakdown="all"}',
                "{{kpi}} {{stat}}",
            ),
        ),
        description="Organisation-wide value of each KPI in the newest closed $window window.",
        width=24,
        height=4,
        # One panel, several units: each KPI's value is shown in its own.
        overrides=tuple(
            {
                "matcher": {"id": "byRegexp", "options": f"^{k.name} "},
                "properties": [{"id": "unit", "value": _unit(k)}],
            }
            for k in kpis
        ),
        options={"reduceOptions": {"calcs": ["lastNotNull"]}, "textMode": "value_and_name"},
    )


def _optional(kpi: KpiDefinition) -> bool:
    """KPIs with values only when tickets carry statuses (time in status) or an SLA policy sets
    first-response limits: on the organisation-wide panels and the drill-down board, without a
    panel of their own that would stay empty on most desks."""
    return kpi.name.startswith("time_in_status_") or kpi.name == "first_response_sla_compliance"


def overview() -> Json:
    kpis = catalogue()
    items: list[Any] = []
    for cls, heading in (
        (KpiClass.SERVICE, "Service value: what the customer gets"),
        (KpiClass.PROCESS, "Process: how well the desk works"),
    ):
        members = [k for k in kpis if k.kpi_class is cls]
        items += [row(heading), _org_wide(members, f"{heading.split(':')[0]}, organisation-wide")]
        items += [_kpi_panel(k) for k in members if not _optional(k)]
        if cls is KpiClass.PROCESS:
            items.append(
                Panel(
                    "timeseries",
                    "backlog",
                    (
                        Query(
                            'kpi_backlog_tickets{breakdown="service", service=~"$service"}',
                            "{{service}}",
                        ),
                    ),
                    description="Open tickets per service at the watermark (not windowed).",
                    width=8,
                )
            )
    return dashboard(
        "kpi-overview",
        "KPI overview",
        "Service value and process KPIs per service. Improving a process measure is not the "
        "same as improving the service: both are shown, apart.",
        items,
        [WINDOW, SERVICES],
    )


def gap_versus_target() -> Json:
    kpi = Variable("kpi", "KPI", "label_values(kpi_target_objective, kpi)")
    window = Variable("window", "Window", 'label_values(kpi_target_objective{kpi="$kpi"}, window)')
    # Targets may be organisation-wide (no service): "All" must match the empty value too.
    service = Variable(
        "service",
        "Service",
        'label_values(kpi_target_objective{kpi="$kpi", window="$window"}, service)',
        multi=True,
        all_value=".*",
    )
    targeted = 'kpi="$kpi", window="$window", service=~"$service"'
    objective = f"kpi_target_objective{{{targeted}}}"
    dashed_red = {
        "matcher": {"id": "byFrameRefID", "options": "B"},
        "properties": [
            {"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}},
            {"id": "color", "value": {"fixedColor": "red", "mode": "fixed"}},
            {"id": "custom.lineWidth", "value": 2},
        ],
    }
    items: list[Any] = [
        Panel(
            "timeseries",
            "$kpi against its objective",
            (
                Query(
                    f"kpi_value{{{targeted}}} and on ({_SCOPE}) {objective}",
                    f"{{{{stat}}}} {_DIMS}",
                ),
                Query(objective, f"objective {{{{op}}}} ({{{{target}}}}) {_DIMS}"),
            ),
            description="The KPI of every targeted scope, with its objective drawn dashed.",
            width=24,
            height=10,
            overrides=(dashed_red,),
        ),
        Panel(
            "timeseries",
            "Gap, in the KPI's unit",
            (Query(f"kpi_target_gap{{{targeted}}}", f"{{{{target}}}} {_DIMS}"),),
            description="How far the KPI is on the wrong side of its objective (0 when met).",
        ),
        Panel(
            "bargauge",
            "Gap relative to the objective, now",
            (
                Query(
                    f"sort_desc(kpi_target_gap_ratio{{{targeted}}})",
                    f"{{{{target}}}} {_DIMS}",
                    instant=True,
                ),
            ),
            unit="percentunit",
            options={"displayMode": "basic", "orientation": "horizontal"},
        ),
        Panel(
            "stat",
            "Scopes missing their target",
            (Query(f"count(kpi_target_gap{{{targeted}}} > 0) or vector(0)", instant=True),),
            width=6,
            height=4,
        ),
        Panel(
            "table",
            "Sample behind each targeted scope",
            (
                Query(
                    f'kpi_sample_size{{kpi="$kpi", window="$window", service=~"$service"}} '
                    f"and on (kpi, window, breakdown, service, team, channel, priority) "
                    f"{objective}",
                    instant=True,
                ),
            ),
            description="Below a target's minimum sample nothing fires, however big the gap.",
            width=18,
            height=4,
        ),
    ]
    return dashboard(
        "kpi-gap-vs-target",
        "KPI gap versus target",
        "Each targeted KPI against its objective, and the gap, per scope of the targets file.",
        items,
        [kpi, window, service],
    )


def alerts() -> Json:
    service = Variable(
        "service",
        "Service",
        "label_values(kpi_alert_state, service)",
        multi=True,
        all_value=".*",
    )
    state = 'kpi_alert_state{service=~"$service"}'
    mapping = {
        "mappings": [
            {
                "options": {
                    "1": {"color": "yellow", "text": "pending"},
                    "2": {"color": "red", "text": "firing"},
                },
                "type": "value",
            }
        ]
    }
    items: list[Any] = [
        Panel(
            "stat",
            "Firing",
            (Query(f"count({state} == 2) or vector(0)", instant=True),),
            width=6,
            height=4,
        ),
        Panel(
            "stat",
            "Pending",
            (Query(f"count({state} == 1) or vector(0)", instant=True),),
            width=6,
            height=4,
        ),
        Panel(
            "stat",
            "Firing by severity",
            (Query(f"count by (severity) ({state} == 2)", "{{severity}}", instant=True),),
            width=12,
            height=4,
        ),
        Panel(
            "table",
            "Pending and firing alerts (decided by the worker in event time)",
            (Query(state, instant=True),),
            width=24,
            defaults=mapping,
        ),
        Panel(
            "timeseries",
            "Alert states over time (1 pending, 2 firing)",
            (Query(state, f"{{{{rule}}}} {_DIMS}"),),
            defaults=mapping,
        ),
        Panel(
            "table",
            "Alerts in Prometheus, routed to Alertmanager",
            (Query('ALERTS{alertname=~"Kpi.*"}', instant=True),),
            description="The rules of deploy/prometheus/rules/kpi-alerts.yml, as Prometheus "
            "evaluates them (KPI alerts and the pipeline's own health).",
        ),
        Panel(
            "table",
            "Relative gap of every target scope, now",
            (Query('sort_desc(kpi_target_gap_ratio{service=~"$service"})', instant=True),),
            unit="percentunit",
            width=24,
        ),
    ]
    return dashboard(
        "kpi-alerts",
        "KPI alerts",
        "Target and drift alerts: what is pending, what fires, how big the gaps are.",
        items,
        [service],
    )


def drill_down() -> Json:
    kpi = Variable("kpi", "KPI", "label_values(kpi_value, kpi)")
    stat = Variable("stat", "Statistic", 'label_values(kpi_value{kpi="$kpi"}, stat)')
    service = Variable(
        "service", "Service", 'label_values(kpi_value{breakdown="service"}, service)'
    )
    dims = [
        Variable(
            dim,
            dim.capitalize(),
            f'label_values(kpi_value{{breakdown="service_{dim}", service="$service"}}, {dim})',
            multi=True,
            all_value=".+",
        )
        for dim in ("team", "channel", "priority")
    ]
    items: list[Any] = [
        Panel(
            "timeseries",
            "$kpi ($stat) of $service",
            (
                Query(
                    'kpi_value{kpi="$kpi", stat="$stat", window="$window", breakdown="service", '
                    'service="$service"}',
                    "{{service}}",
                ),
            ),
            width=16,
        ),
        Panel(
            "timeseries",
            "Open tickets of $service",
            (Query('kpi_backlog_tickets{breakdown="service", service="$service"}', "backlog"),),
            width=8,
        ),
    ]
    for dim in ("team", "channel", "priority"):
        scope = f'window="$window", breakdown="service_{dim}", service="$service", {dim}=~"${dim}"'
        items += [
            row(f"By {dim}"),
            Panel(
                "timeseries",
                f"$kpi ($stat) by {dim}",
                (Query(f'kpi_value{{kpi="$kpi", stat="$stat", {scope}}}', f"{{{{{dim}}}}}"),),
                width=12,
            ),
            Panel(
                "table",
                f"Sample size by {dim}",
                (Query(f'kpi_sample_size{{kpi="$kpi", {scope}}}', instant=True),),
                description="Small samples make noisy values: judge a scope by both.",
                width=6,
            ),
            Panel(
                "bargauge",
                f"Open tickets by {dim}",
                (
                    Query(
                        f'kpi_backlog_tickets{{breakdown="service_{dim}", service="$service", '
                        f'{dim}=~"${dim}"}}',
                        f"{{{{{dim}}}}}",
                        instant=True,
                    ),
                ),
                width=6,
                options={"displayMode": "basic", "orientation": "horizontal"},
            ),
        ]
    return dashboard(
        "kpi-drill-down",
        "KPI drill-down by team, channel and priority",
        "One KPI of one service, split by team, channel and priority.",
        items,
        [kpi, stat, WINDOW, service, *dims],
    )


def _line(title: str, expr: str, legend: str, unit: str = "short", width: int = 8) -> Panel:
    return Panel("timeseries", title, (Query(expr, legend),), unit=unit, width=width)


def pipeline_health() -> Json:
    rate = "$__rate_interval"
    per_partition = "{{topic}}/{{partition}}"
    latency = tuple(
        Query(
            f"histogram_quantile({q}, sum by (le) "
            f"(rate(kpi_event_processing_seconds_bucket[{rate}])))",
            f"p{round(q * 100)}",
        )
        for q in (0.5, 0.99)
    )
    items: list[Any] = [
        Panel("stat", "Workers up", (Query('sum(up{job="kpi-worker"})', instant=True),), width=6),
        Panel(
            "stat",
            "Workers caught up",
            (Query("sum(kpi_caught_up)", instant=True),),
            description="Workers with every record read in closed, delivered windows "
            "(kpi_caught_up): on a finite stream, when all are, the results are complete.",
            width=6,
        ),
        Panel(
            "stat",
            "Windows closed through (event time)",
            (
                Query(
                    "min by (window) (kpi_windows_closed_through_timestamp_seconds) * 1000",
                    "{{window}}",
                    instant=True,
                ),
            ),
            unit="dateTimeAsIso",
            width=12,
        ),
        row("Events in and out"),
        _line(
            "Events in per second, by input",
            "source:kpi_events_received:rate5m",
            "{{source}}",
            "ops",
        ),
        _line(
            "Records out per second, by output (kpi-windows, kpi-alerts, dead-letter topic)",
            f"sum by (output) (rate(kpi_records_produced_total[{rate}]))",
            "{{output}}",
            "ops",
        ),
        _line(
            "Duplicates per second (redelivered, not counted again)",
            f"sum by (source) (rate(kpi_events_duplicate_total[{rate}]))",
            "{{source}}",
            "ops",
        ),
        row("Rejected and late"),
        _line(
            "Rejected per second, by reason",
            "reason:kpi_events_rejected:rate5m",
            "{{reason}}",
            "ops",
        ),
        # Late: behind the partition's watermark, dead-lettered as late and not counted.
        _line(
            "Late events per second",
            'reason:kpi_events_rejected:rate5m{reason="late"}',
            "late",
            "ops",
        ),
        _line(
            "Share of input rejected",
            "job:kpi_events_rejected:ratio_rate5m",
            "{{job}}",
            "percentunit",
        ),
        row("Lag and latency"),
        _line("Consumer lag per partition", "kpi_consumer_lag_records", per_partition),
        _line("Consumer lag per input", "source:kpi_consumer_lag_records:sum", "{{source}}"),
        Panel("timeseries", "Processing time per record", latency, unit="s", width=8),
        row("State held"),
        *(
            _line(f"{title} per partition", metric, per_partition, width=6)
            for title, metric in (
                ("Keys in state", "kpi_state_keys"),
                ("Tickets tracked", "kpi_tickets_tracked"),
                ("Pane aggregates", "kpi_state_panes"),
                ("Pending events (reorder buffer)", "kpi_pending_events"),
            )
        ),
        _line(
            "Watermark per partition (event time)",
            "kpi_watermark_timestamp_seconds * 1000",
            per_partition,
            "dateTimeAsIso",
            24,
        ),
    ]
    return dashboard(
        "kpi-pipeline-health",
        "KPI pipeline health",
        "The worker itself: events in and out, rejections, lag, latency and the state it holds.",
        items,
        [],
        time_from="now-1h",
    )


def all_boards() -> dict[str, Json]:
    """File name -> dashboard JSON."""
    return {
        "kpi-overview.json": overview(),
        "kpi-gap-vs-target.json": gap_versus_target(),
        "kpi-alerts.json": alerts(),
        "kpi-drill-down.json": drill_down(),
        "kpi-pipeline-health.json": pipeline_health(),
        "kpi-improvements.json": improvements(),
        "kpi-error-budgets.json": error_budgets(),
        "kpi-bottlenecks.json": bottlenecks(),
    }
