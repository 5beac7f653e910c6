"""Boards drawn from the shipped targets file (deploy/targets.yaml): a panel per error budget,
and the benchmark reference lines on the KPI panels. The budget series are recording rules
generated from the same file (``pipeline.targets.rules``); the benchmark series come from the
worker (``kpi_benchmark``), which reads it too."""

from __future__ import annotations

from functools import cache
from typing import Any

from pipeline.alerts.model import TargetSet
from pipeline.dashboards.grafana import Panel, Query, dashboard, row
from pipeline.targets.rules import BURNS, TARGETS_FILE, burn_threshold

__all__ = ["BENCHMARK_STYLE", "benchmark_queries", "error_budgets", "shipped_targets"]

Json = dict[str, Any]

# A reference line: grey and dashed, apart from the measured series.
BENCHMARK_STYLE: Json = {
    "matcher": {"id": "byRegexp", "options": "^benchmark"},
    "properties": [
        {"id": "custom.lineStyle", "value": {"dash": [4, 6], "fill": "dash"}},
        {"id": "color", "value": {"fixedColor": "text", "mode": "fixed"}},
        {"id": "custom.lineWidth", "value": 1},
    ],
}


@cache
def shipped_targets() -> TargetSet:
    from pipeline.targets.load import load_targets

    targets, _ = load_targets(TARGETS_FILE)
    return targets


def benchmark_queries(kpi: str) -> tuple[Query, ...]:
    """The reference line of each shipped benchmark of ``kpi`` (none: no query)."""
    stats = sorted({b.stat for b in shipped_targets().benchmarks if b.kpi == kpi})
    return tuple(
        Query(
            f'kpi_benchmark{{kpi="{kpi}", stat="{stat}"}}',
            "benchmark {{source}} {{year}} ({{peer_group}})",
        )
        for stat in stats
    )


def _budget_panels(budget_id: str, period: str, thresholds: list[float]) -> list[Panel]:
    own = f'budget="{budget_id}"'
    left = Panel(
        "stat",
        f"{budget_id}: budget left over {period}",
        (Query(f"budget:kpi_error_budget_remaining:period{{{own}}}", "{{service}}"),),
        description="Share of the period's error budget not yet spent (1 = untouched, 0 = "
        "spent, below 0 = overspent), from the newest closed windows of the budget's KPI.",
        unit="percentunit",
        width=6,
        defaults={
            "thresholds": {
                "mode": "absolute",
                "steps": [
                    {"color": "red", "value": None},
                    {"color": "orange", "value": 0.25},
                    {"color": "green", "value": 0.5},
                ],
            }
        },
        options={"reduceOptions": {"calcs": ["lastNotNull"]}, "textMode": "value_and_name"},
    )
    fast, slow, ticket = thresholds
    burns = Panel(
        "timeseries",
        f"{budget_id}: burn rate (x the allowed pace)",
        tuple(
            Query(f"budget:kpi_burn_rate:{r}{{{own}}}", f"{r} {{{{service}}}}")
            for r in ("1h", "6h", "3d")
        ),
        description=f"Bad outcomes over the last 1h, 6h and 3d divided by the share the "
        f"objective allows. Alerts: fast above {fast:g} (1h and 5m), slow above {slow:g} (6h "
        f"and 30m), ticket above {ticket:g} (3d and 6h).",
        width=18,
        defaults={
            "custom": {"thresholdsStyle": {"mode": "dashed"}},
            "thresholds": {
                "mode": "absolute",
                "steps": [
                    {"color": "green", "value": None},
                    {"color": "orange", "value": ticket},
                    {"color": "red", "value": slow},
                ],
            },
        },
    )
    return [left, burns]


def error_budgets() -> Json:
    items: list[Any] = []
    for budget in shipped_targets().budgets:
        objective = f"{budget.objective.op} {budget.objective.value:g}"
        items.append(row(f"{budget.id}: {budget.kpi} {objective} over {budget.period}"))
        thresholds = [burn_threshold(budget, burn) for burn in BURNS]
        items += _budget_panels(budget.id, budget.period, thresholds)
    return dashboard(
        "kpi-error-budgets",
        "KPI error budgets",
        "Per error budget of the targets file: the budget left over its period and the burn "
        "rates the multi-window alerts watch (docs/alerts.md#kpierrorbudgetburn).",
        items,
        [],
        time_from="now-7d",
    )
