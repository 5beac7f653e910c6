"""Prometheus rules for the error budgets of a targets file: generated into
``deploy/prometheus/rules/kpi-budgets.yml`` and checked for drift (``kpi-pipeline rules
generate|check``).

What a budget measures: the worker exports each rate KPI of its newest closed window
(``kpi_value``) with its denominator (``kpi_sample_size``). Bad outcomes in that window are
``(1 - value) x size`` for a ``>=`` objective (``value x size`` for ``<=``). The error ratio
over a range R is the sum of bad outcomes over the samples of R divided by the sum of sizes:
every scrape of the newest window counts once, so windows weigh by their sample size and by how
long they were the newest (the 1h window advances every 5 min, so each outcome counts alike).
A sample covers the window's length of event time before it, so R reads about R + window.

Burn rate over R = error ratio / budget (the share the objective allows). Alerts follow the
multi-window, multi-burn-rate pattern of Google's SRE workbook: a long range that proves the
burn is big enough to matter and a short one that proves it is still going on (so the alert
resets soon after it stops):

- fast burn, page: 1h and 5m above the rate that spends 2 % of the budget in 1h
  (14.4 for a 30-day period);
- slow burn, page: 6h and 30m above the rate that spends 5 % in 6h (6 for 30 days);
- ticket: 3d and 6h above the rate that spends 10 % in 3 days (1 for 30 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.alerts.model import ErrorBudget, TargetSet
from pipeline.core.scopes import BREAKDOWNS

__all__ = [
    "BURNS",
    "RULES_FILE",
    "Burn",
    "budget_rules",
    "burn_threshold",
    "check",
    "generate",
    "render",
]

REPO = Path(__file__).resolve().parents[2]
TARGETS_FILE = REPO / "deploy" / "targets.yaml"
RULES_FILE = REPO / "deploy" / "prometheus" / "rules" / "kpi-budgets.yml"

BAD = "budget:kpi_bad_outcomes:newest_window"
ALL = "budget:kpi_outcomes:newest_window"


@dataclass(frozen=True)
class Burn:
    name: str  # the alert's `burn` label
    long: str  # Prometheus ranges
    short: str
    long_hours: float
    spent: float  # share of the budget spent over the long range at the threshold
    severity: str


BURNS = (
    Burn("fast", "1h", "5m", 1, 0.02, "critical"),
    Burn("slow", "6h", "30m", 6, 0.05, "critical"),
    Burn("ticket", "3d", "6h", 72, 0.10, "warning"),
)
RANGES = ("5m", "30m", "1h", "6h", "3d")

_HEADER = """\
# GENERATED FILE: DO NOT EDIT. Made by `kpi-pipeline rules generate` from the budgets of
# {source}; `kpi-pipeline rules check` (make check-generated) fails when it drifts.
# Error budgets and multi-window, multi-burn-rate alerts (how they are computed: the docstring
# of pipeline/targets/rules.py, and docs/alerts.md#kpierrorbudgetburn).
# Unit tests: promtool test rules deploy/prometheus/tests/kpi-budgets.test.yml
"""


def burn_threshold(budget: ErrorBudget, burn: Burn) -> float:
    """The burn rate that spends ``burn.spent`` of the budget over the long range."""
    return round(burn.spent * budget.period_seconds / 3600 / burn.long_hours, 6)


def _selector(budget: ErrorBudget, stat: bool) -> str:
    scope = budget.scope
    labels = {"kpi": budget.kpi}
    if stat:
        labels["stat"] = "value"
    labels |= {"window": budget.window, "breakdown": scope.breakdown}
    for dim in BREAKDOWNS[scope.breakdown]:
        value = getattr(scope, dim)
        if value is not None and value != "*":
            labels[dim] = value
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _ratio(budget: ErrorBudget, window: str) -> str:
    own = f'{{budget="{budget.id}"}}'
    return f"sum_over_time({BAD}{own}[{window}])\n/ (sum_over_time({ALL}{own}[{window}]) > 0)"


def budget_rules(budget: ErrorBudget) -> dict[str, object]:
    """The rule group of one budget."""
    own = {"budget": budget.id}
    sel = f'{{budget="{budget.id}"}}'
    value = f"kpi_value{_selector(budget, True)}"
    size = f"kpi_sample_size{_selector(budget, False)}"
    bad = f"(1 - {value})" if budget.objective.op == ">=" else value
    allowed = f"{budget.allowed:.12g}"
    rules: list[dict[str, object]] = [
        {"record": BAD, "expr": f"{bad}\n* ignoring(stat) {size}", "labels": own},
        {"record": ALL, "expr": size, "labels": own},
    ]
    for window in RANGES:
        rules.append(
            {
                "record": f"budget:kpi_error_ratio:{window}",
                "expr": _ratio(budget, window),
                "labels": own,
            }
        )
        rules.append(
            {
                "record": f"budget:kpi_burn_rate:{window}",
                "expr": f"budget:kpi_error_ratio:{window}{sel} / {allowed}",
                "labels": own,
            }
        )
    rules.append(
        {
            "record": "budget:kpi_error_ratio:period",
            "expr": _ratio(budget, budget.period),
            "labels": own,
        }
    )
    rules.append(
        {
            "record": "budget:kpi_error_budget_remaining:period",
            "expr": f"1 - budget:kpi_error_ratio:period{sel} / {allowed}",
            "labels": own,
        }
    )
    objective = f"{budget.objective.op} {budget.objective.value:g}"
    for burn in BURNS:
        threshold = burn_threshold(budget, burn)
        rules.append(
            {
                "alert": "KpiErrorBudgetBurn",
                "expr": (
                    f"budget:kpi_burn_rate:{burn.long}{sel} > {threshold:g}\n"
                    f"and budget:kpi_burn_rate:{burn.short}{sel} > {threshold:g}"
                ),
                "for": "0m",
                "labels": {
                    **own,
                    "severity": burn.severity,
                    "burn": burn.name,
                    "long_window": burn.long,
                    "short_window": burn.short,
                },
                "annotations": {
                    "summary": (
                        f"{budget.kpi} ({objective} over {budget.period}) burns its error "
                        f"budget {budget.id} {threshold:g}x too fast"
                        "{{ with $labels.service }} for service={{ . }}{{ end }}"
                    ),
                    "description": (
                        f"Over the last {burn.long} and {burn.short} the {budget.window} "
                        f"windows of {budget.kpi} ran through the budget (the "
                        f"{budget.allowed:.4g} share of bad outcomes {objective} allows) more "
                        f"than {threshold:g} times as fast as the period allows: "
                        f"{burn.spent:.0%} of the {budget.period} budget in {burn.long}. Burn "
                        'rate now {{ $value | printf "%.3g" }}.'
                    ),
                    "runbook_url": "docs/alerts.md#kpierrorbudgetburn",
                },
            }
        )
    return {"name": f"kpi-budget-{budget.id}", "rules": rules}


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions as literal blocks, keys in the order written, no aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def render(targets: TargetSet, source: str = "deploy/targets.yaml") -> str:
    """The rule file's text for the budgets of ``targets``."""
    groups = [budget_rules(b) for b in targets.budgets]
    body = yaml.dump(
        {"groups": groups}, Dumper=_Dumper, sort_keys=False, width=1000, allow_unicode=True
    )
    return _HEADER.format(source=source) + "\n" + body


def _shipped() -> TargetSet:
    from pipeline.targets.load import load_targets

    targets, _ = load_targets(TARGETS_FILE)
    return targets


def generate(path: Path = RULES_FILE) -> Path:
    path.write_text(render(_shipped()), encoding="utf-8")
    return path


def check(path: Path = RULES_FILE) -> bool:
    """True when the rule file is what the shipped targets file generates."""
    return path.exists() and path.read_text(encoding="utf-8") == render(_shipped())
