"""Error budgets and benchmarks of a targets file: checked like targets (file, line, field),
turned into ``ErrorBudget`` and ``Benchmark``. Neither reaches the alert engine: budgets become
generated Prometheus rules (``pipeline.targets.rules``), benchmarks reference lines."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pipeline.alerts.model import Benchmark, ErrorBudget, Forecast, Target
from pipeline.targets.document import DocPath
from pipeline.targets.rules import BURNS, burn_threshold
from pipeline.targets.spec import BenchmarkSpec, BudgetSpec, ForecastSpec, parse_amount

if TYPE_CHECKING:
    from pipeline.targets.load import _Checker

__all__ = ["check_benchmark", "check_budget", "check_forecast"]

# A Prometheus range: the period goes into the generated rules as written.
_PROMETHEUS_RANGE = re.compile(r"^\d+[smhdw]$")


def check_budget(checker: _Checker, here: DocPath, spec: BudgetSpec) -> ErrorBudget | None:
    kpi = checker.kpi((*here, "kpi"), spec.kpi)
    window = checker.window((*here, "window"), spec.window)
    scope = checker.scope((*here, "scope"), spec.scope)
    if kpi is not None and kpi.unit != "ratio":
        checker.error(
            (*here, "kpi"),
            f"{kpi.name} is not a rate KPI: an error budget counts bad outcomes among a "
            "denominator (rates: fcr_rate, sla_compliance, csat, reopen_rate, ...)",
        )
        kpi = None
    objective = checker.objective((*here, "objective"), kpi, spec.objective) if kpi else None
    period_text = str(spec.period).strip()
    period = parse_amount(spec.period, relative=False)
    seconds = period.seconds() if period.is_duration else period.number
    if not _PROMETHEUS_RANGE.match(period_text):
        checker.error((*here, "period"), f"{spec.period!r}: write the period as e.g. '28d'")
        return None
    if objective is not None:
        allowed = 1 - objective.value if objective.op == ">=" else objective.value
        if not 0 < allowed < 1:
            checker.error(
                (*here, "objective"),
                "an objective of 0 or 1 leaves no budget (or all of it); budgets need 0 < x < 1",
            )
            return None
    if seconds < 7 * 86400:
        checker.warn(
            (*here, "period"),
            f"a period of {period_text} is short for an error budget (usual: 28d or 30d); the "
            "burn-rate alerts look back up to 3 days",
        )
    if kpi is None or window is None or scope is None or objective is None:
        return None
    budget_id = checker.claim_id(here, spec.id)
    if budget_id is None:
        return None
    budget = ErrorBudget(
        id=budget_id,
        kpi=kpi.name,
        objective=objective,
        period_seconds=seconds,
        period=period_text,
        window=window,
        scope=scope,
        line=checker.line(here),
    )
    fastest = 1 / budget.allowed  # every outcome bad
    if all(fastest <= burn_threshold(budget, burn) for burn in BURNS):
        checker.warn(
            (*here, "objective"),
            f"the burn rate can be at most {fastest:.3g} (every outcome bad), below every "
            "burn-rate alert's threshold: none can ever fire; tighten the objective or shorten "
            "the period",
        )
    return budget


def check_benchmark(checker: _Checker, here: DocPath, spec: BenchmarkSpec) -> Benchmark | None:
    kpi = checker.kpi((*here, "kpi"), spec.kpi)
    stat = checker.stat(here, kpi, spec.stat)
    if kpi is None or stat is None:
        return None
    amount = parse_amount(spec.value, relative=False, negative=True)
    value = checker.in_unit((*here, "value"), kpi, amount, f"{spec.value!r}")
    if value is None:
        return None
    if kpi.unit == "ratio" and not 0 <= value <= 1:
        hint = f"; did you mean {value / 100:g}?" if 1 < value <= 100 else ""
        checker.error((*here, "value"), f"{value:g}: ratios are 0..1{hint}")
        return None
    default_id = f"{kpi.name}{':' + stat if stat != 'value' else ''}:{spec.source}:{spec.year}"
    benchmark_id = spec.id or re.sub(r"[^A-Za-z0-9_.:-]+", "-", default_id).strip("-")
    claimed = checker.claim_id(here, "benchmark:" + benchmark_id)
    if claimed is None:
        return None
    return Benchmark(
        id=benchmark_id,
        kpi=kpi.name,
        stat=stat,
        value=value,
        source=spec.source,
        year=spec.year,
        peer_group=spec.peer_group,
        url=spec.url,
        line=checker.line(here),
    )


def check_forecast(
    checker: _Checker, here: DocPath, spec: ForecastSpec, targets: dict[str, Target]
) -> Forecast | None:
    target = targets.get(spec.target)
    if target is None:
        known = ", ".join(sorted(targets)) or "none"
        checker.error((*here, "target"), f"no target {spec.target!r} in this file ({known})")
        return None
    horizon = parse_amount(spec.horizon, relative=False)
    seconds = horizon.seconds() if horizon.is_duration else horizon.number
    if seconds <= 0:
        checker.error((*here, "horizon"), "the horizon must be a positive duration")
        return None
    if spec.min_points > spec.history:
        checker.error((*here, "min_points"), f"more than history ({spec.history})")
        return None
    forecast_id = checker.claim_id(here, spec.id or f"forecast:{target.id}")
    if forecast_id is None:
        return None
    return Forecast(
        id=forecast_id,
        target=target,
        horizon_seconds=seconds,
        history=spec.history,
        min_points=spec.min_points,
        hold_windows=spec.hold_windows,
        severity=spec.severity,
        line=checker.line(here),
    )
