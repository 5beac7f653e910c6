"""The "Improvements" board: the running before/after evaluation of the improvements register
(pipeline/improvements), with each implementation time as an annotation."""

from __future__ import annotations

from typing import Any

from pipeline.dashboards.grafana import Annotation, Panel, Query, Variable, dashboard, row

__all__ = ["improvements"]

Json = dict[str, Any]

_SCOPE = "window, breakdown, service, team, channel, priority"
_ON = f"kpi, stat, {_SCOPE}"


def _verdict_mapping(colours: dict[str, str]) -> Json:
    return {
        "mappings": [
            {
                "options": {
                    name: {"color": colour, "text": name.replace("_", " ")}
                    for name, colour in colours.items()
                },
                "type": "value",
            }
        ]
    }


def improvements() -> Json:
    improvement = Variable(
        "improvement",
        "Improvement",
        "label_values(kpi_improvement_verdict, improvement)",
        multi=True,
        all_value=".+",
    )
    chosen = 'improvement=~"$improvement"'
    items: list[Any] = [
        Panel(
            "table",
            "Overall verdict",
            (Query(f"kpi_improvement_verdict{{{chosen}}} == 1", instant=True),),
            description="service improved; process improved, service value did not; no "
            "effect; side effects (a KPI got worse); too little data (the after period is "
            "still running, or the sample is too small). See docs/improvements.md.",
            width=12,
        ),
        Panel(
            "bargauge",
            "After period so far",
            (
                Query(
                    f"kpi_improvement_after_seconds{{{chosen}}} / "
                    f"kpi_improvement_after_period_seconds{{{chosen}}}",
                    "{{improvement}}",
                    instant=True,
                ),
            ),
            description="Share of the after period covered by closed windows. Verdicts are "
            "given once it is complete.",
            unit="percentunit",
            width=12,
            defaults={"min": 0, "max": 1},
        ),
        Panel(
            "table",
            "Verdict per KPI",
            (Query(f"kpi_improvement_kpi_verdict{{{chosen}}} == 1", instant=True),),
            description="Expected KPIs should move in their direction; guards must not get "
            "worse. Rates compare exact numerators and denominators (Newcombe interval), other "
            "KPIs one value per window (Welch interval).",
            width=24,
            defaults=_verdict_mapping(
                {
                    "improved": "green",
                    "worse": "red",
                    "no_evidence": "text",
                    "too_little_data": "yellow",
                }
            ),
        ),
        row("Effects: after minus before, with the confidence interval"),
        Panel(
            "timeseries",
            "Effect and interval, as the evaluation runs",
            (
                Query(
                    f"kpi_improvement_effect{{{chosen}}}",
                    "{{improvement}} {{kpi}} {{stat}} effect",
                ),
                Query(
                    f"kpi_improvement_effect_lower{{{chosen}}}",
                    "{{improvement}} {{kpi}} {{stat}} lower",
                ),
                Query(
                    f"kpi_improvement_effect_upper{{{chosen}}}",
                    "{{improvement}} {{kpi}} {{stat}} upper",
                ),
            ),
            description="In each KPI's unit; an interval wholly on one side of 0 is evidence "
            "of a change.",
            width=24,
        ),
        row("The KPIs of each improvement's scope"),
        Panel(
            "timeseries",
            "Rates (0..1)",
            (
                Query(
                    f'kpi_value{{stat="value"}} and on({_ON}) kpi_improvement_kpi_verdict'
                    f'{{{chosen}, kpi=~".*_rate|sla_compliance|csat"}} == 1',
                    "{{kpi}} {{service}}{{team}}{{channel}}{{priority}}",
                ),
            ),
            description="Implementation times are annotations.",
            unit="percentunit",
        ),
        Panel(
            "timeseries",
            "Times",
            (
                Query(
                    f"kpi_value and on({_ON}) "
                    f'kpi_improvement_kpi_verdict{{{chosen}, kpi=~".*_time"}} == 1',
                    "{{kpi}} {{stat}} {{service}}{{team}}{{channel}}{{priority}}",
                ),
            ),
            unit="s",
        ),
    ]
    return dashboard(
        "kpi-improvements",
        "Improvements",
        "Did the change work? Before/after evaluation of the improvements register, per KPI "
        "and overall, service value and process apart.",
        items,
        [improvement],
        time_from="now-90d",
        annotations=(
            Annotation(
                "Improvements",
                f"kpi_improvement_implemented_timestamp_seconds{{{chosen}}}",
                "{{improvement}}",
                "{{breakdown}} {{service}}{{team}}{{channel}}{{priority}}",
            ),
        ),
    )
