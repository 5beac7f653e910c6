"""Read a targets file into the internal model (``pipeline.alerts.model.TargetSet``).

Three passes, each collecting every problem rather than stopping at the first: YAML with the line
of every key and item, the document's shape (``spec``), then what only the KPI catalogue and the
settings can tell (KPI names, stats, windows, breakdowns, units). Errors raise one
``TargetsError`` listing them all as ``file:line: field: message``; likely mistakes (``85`` for a
ratio, a hold shorter than the window's step) come back as ``TargetWarning``s.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.alerts.model import (
    Benchmark,
    DriftCheck,
    ErrorBudget,
    Forecast,
    Objective,
    ScopeMatch,
    Severity,
    Target,
    TargetSet,
)
from pipeline.config import Settings, TimeSettings
from pipeline.core.durations import format_duration, parse_duration
from pipeline.core.kpis import Better, KpiDefinition, catalogue
from pipeline.core.scopes import BREAKDOWNS
from pipeline.schemas.events import Channel, Priority
from pipeline.targets.document import (
    DocPath,
    TargetIssue,
    TargetsError,
    TargetWarning,
    compose,
    field_name,
    pydantic_message,
    shape_checked,
    suggest,
)
from pipeline.targets.references import check_benchmark, check_budget, check_forecast
from pipeline.targets.spec import (
    VERSION,
    Amount,
    BenchmarkSpec,
    BudgetSpec,
    DefaultsSpec,
    DriftSpec,
    ForecastSpec,
    ObjectiveSpec,
    ScopeSpec,
    TargetsDocument,
    TargetSpec,
    parse_amount,
    parse_objective_text,
)

__all__ = [
    "TargetIssue",
    "TargetWarning",
    "TargetsError",
    "configured_windows",
    "load_targets",
    "parse_targets",
]


# Steps of the default windows: used for the hold check when the caller names windows only.
_DEFAULT_STEPS = {w.name: parse_duration(w.step) for w in TimeSettings().windows}
_ENUMS: dict[str, tuple[str, ...]] = {
    "channel": tuple(c.value for c in Channel),
    "priority": tuple(p.value for p in Priority),
}
# The catalogue states units, not ranges; these KPIs have a range of their own.
_RANGES = {"nps": (-100.0, 100.0), "csat_mean": (1.0, 5.0)}
_UNIT_NAMES = {"ratio": "a ratio (0..1)", "score": "a score", "seconds": "seconds"}


def configured_windows(settings: Settings) -> dict[str, float]:
    """Window name -> step in seconds, as ``load_targets(..., windows=...)`` takes it."""
    return {w.name: parse_duration(w.step) for w in settings.time.windows}


def load_targets(
    path: str | Path,
    *,
    windows: Collection[str] | Mapping[str, float] | None = None,
    breakdowns: Iterable[str] | None = None,
) -> tuple[TargetSet, list[TargetWarning]]:
    """Read and check a targets file (UTF-8, with or without BOM, any line endings).

    ``windows``: the configured window names, or name -> step in seconds; targets on other
    windows are errors. Without steps, the default windows' steps are used for the hold check.
    ``breakdowns``: the configured breakdowns; a scope needing another one is an error.
    """
    source = str(path)
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TargetsError(
            [TargetIssue(source, None, "(file)", f"not UTF-8 text: {exc}")]
        ) from None
    return parse_targets(text, source, windows=windows, breakdowns=breakdowns)


def parse_targets(
    text: str,
    source: str = "<string>",
    *,
    windows: Collection[str] | Mapping[str, float] | None = None,
    breakdowns: Iterable[str] | None = None,
) -> tuple[TargetSet, list[TargetWarning]]:
    """Like ``load_targets``, from text; ``source`` names it in messages."""
    # Normalise here too, so text read by other means behaves like a file read by load_targets.
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    data, lines, problems = compose(text, source)
    checker = _Checker(source, lines, windows, breakdowns)
    checker.errors.extend(problems)
    target_set = checker.run(data)
    if checker.errors:
        raise TargetsError(sorted(checker.errors, key=lambda i: i.line or 0))
    return target_set, sorted(checker.warnings, key=lambda i: i.line or 0)


def _fmt(value: float) -> str:
    return f"{value:g}"


# --- checks --------------------------------------------------------------------------------------


class _Checker:
    """Turns checked data into the internal model, collecting errors and warnings."""

    def __init__(
        self,
        source: str,
        lines: dict[DocPath, int],
        windows: Collection[str] | Mapping[str, float] | None,
        breakdowns: Iterable[str] | None,
    ) -> None:
        self.source, self.lines = source, lines
        self.windows = None if windows is None else set(windows)
        self.steps = dict(windows) if isinstance(windows, Mapping) else _DEFAULT_STEPS
        self.breakdowns = None if breakdowns is None else set(breakdowns)
        self.kpis = {d.name: d for d in catalogue()}
        self.errors: list[TargetIssue] = []
        self.warnings: list[TargetWarning] = []
        self.ids: dict[str, int | None] = {}

    # reporting

    def line(self, path: DocPath) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def error(self, path: DocPath, message: str) -> None:
        self.errors.append(TargetIssue(self.source, self.line(path), field_name(path), message))

    def warn(self, path: DocPath, message: str) -> None:
        self.warnings.append(TargetWarning(self.source, self.line(path), field_name(path), message))

    # the document

    def run(self, data: Any) -> TargetSet:
        if not isinstance(data, dict):
            self.error((), f"must be a mapping starting with 'version: {VERSION}'")
            return TargetSet(VERSION, source=self.source)
        data, bad = shape_checked(data, TargetsDocument, self.error, pydantic_message)
        defaults = DefaultsSpec()
        if ("defaults",) not in bad and data.get("defaults") is not None:
            defaults = DefaultsSpec.model_validate(data["defaults"])
            self.check_defaults(defaults)
        # Items with shape errors are left out; the others are checked further, so one broken
        # target does not hide the problems of the next.
        targets: list[Target | None] = []
        drift: list[DriftCheck | None] = []
        for i, item in enumerate(_items(data, "targets")):
            if ("targets", i) not in bad:
                target = self.target(("targets", i), TargetSpec.model_validate(item), defaults)
                targets.append(target)
            else:
                self.partial(("targets", i), item, bad)
        for i, item in enumerate(_items(data, "drift")):
            if ("drift", i) not in bad:
                drift.append(self.drift(("drift", i), DriftSpec.model_validate(item), defaults))
            else:
                self.partial(("drift", i), item, bad)
        budgets, benchmarks = self.references(data, bad)
        forecasts = self.forecasts(data, bad, [t for t in targets if t is not None])
        quiet = not data.get("targets") and not data.get("drift") and not budgets
        if quiet and not self.errors:
            self.warn((), "no targets and no drift checks: nothing will ever alert")
        return TargetSet(
            VERSION,
            tuple(t for t in targets if t is not None),
            tuple(d for d in drift if d is not None),
            source=self.source,
            budgets=budgets,
            benchmarks=benchmarks,
            forecasts=forecasts,
        )

    def forecasts(
        self, data: dict[Any, Any], bad: set[DocPath], targets: list[Target]
    ) -> tuple[Forecast, ...]:
        by_id = {t.id: t for t in targets}
        found: list[Forecast] = []
        for i, item in enumerate(_items(data, "forecasts")):
            if ("forecasts", i) not in bad:
                spec = ForecastSpec.model_validate(item)
                forecast = check_forecast(self, ("forecasts", i), spec, by_id)
                found += [forecast] if forecast is not None else []
        return tuple(found)

    def references(
        self, data: dict[Any, Any], bad: set[DocPath]
    ) -> tuple[tuple[ErrorBudget, ...], tuple[Benchmark, ...]]:
        """Error budgets and benchmarks (see ``pipeline.targets.references``)."""
        budgets: list[ErrorBudget] = []
        benchmarks: list[Benchmark] = []
        for i, item in enumerate(_items(data, "budgets")):
            if ("budgets", i) not in bad:
                budget = check_budget(self, ("budgets", i), BudgetSpec.model_validate(item))
                budgets += [budget] if budget is not None else []
        for i, item in enumerate(_items(data, "benchmarks")):
            if ("benchmarks", i) not in bad:
                spec = BenchmarkSpec.model_validate(item)
                benchmark = check_benchmark(self, ("benchmarks", i), spec)
                benchmarks += [benchmark] if benchmark is not None else []
        return tuple(budgets), tuple(benchmarks)

    def partial(self, here: DocPath, item: Any, bad: set[DocPath]) -> None:
        """The catalogue checks of the well-formed fields of an item that has shape errors."""
        if not isinstance(item, dict):
            return
        kpi = None
        if (*here, "kpi") not in bad:
            kpi = self.kpi((*here, "kpi"), item["kpi"])
        if kpi is not None and (*here, "stat") not in bad:
            self.stat(here, kpi, item.get("stat"))
        if (*here, "window") not in bad:
            self.window((*here, "window"), item["window"])
        if (*here, "scope") not in bad:
            scope = item.get("scope", "all")
            self.scope(
                (*here, "scope"), ScopeSpec.model_validate(scope) if scope != "all" else scope
            )

    def check_defaults(self, defaults: DefaultsSpec) -> None:
        here = ("defaults",)
        if defaults.min_sample is not None:
            self.check_min_sample((*here, "min_sample"), defaults.min_sample)
        critical = (defaults.severity or {}).get("critical")
        if critical is not None and parse_amount(critical).number == 0:
            self.warn((*here, "severity", "critical"), _CRITICAL_ZERO)

    # targets

    def target(self, here: DocPath, spec: TargetSpec, defaults: DefaultsSpec) -> Target | None:
        kpi = self.kpi((*here, "kpi"), spec.kpi)
        stat = self.stat(here, kpi, spec.stat)
        window = self.window((*here, "window"), spec.window)
        scope = self.scope((*here, "scope"), spec.scope)
        objective = self.objective((*here, "objective"), kpi, spec.objective) if kpi else None
        if spec.min_sample is not None:
            self.check_min_sample((*here, "min_sample"), spec.min_sample)
        hold = self.hold(here, spec, defaults, window)
        if spec.confidence is not None and kpi is not None and kpi.unit != "ratio":
            self.warn(
                (*here, "confidence"),
                f"confidence only applies to rate KPIs (ratios); it is ignored for {kpi.name}",
            )
        if kpi is None or stat is None or window is None or scope is None or objective is None:
            return None
        margin = self.clear_margin(here, kpi, objective, spec, defaults)
        severities = self.severities(here, kpi, objective, spec, defaults)
        if margin is None or severities is None:
            return None
        target_id = self.claim_id(here, spec.id or _derived_id(kpi.name, stat, window, scope))
        if target_id is None:
            return None
        optional: dict[str, Any] = {}
        if (min_sample := _first(spec.min_sample, defaults.min_sample)) is not None:
            optional["min_sample"] = min_sample
        if hold is not None:
            optional["hold_seconds"] = hold
        if (confidence := _first(spec.confidence, defaults.confidence)) is not None:
            optional["confidence"] = confidence
        if severities:
            optional["severities"] = severities
        return Target(
            id=target_id,
            kpi=kpi.name,
            stat=stat,
            window=window,
            scope=scope,
            objective=objective,
            clear_margin=margin,
            line=self.line(here),
            **optional,
        )

    def kpi(self, here: DocPath, name: str) -> KpiDefinition | None:
        if name == "backlog":
            self.error(
                here,
                "backlog cannot be targeted in targets/v1: it is the number of open tickets at "
                "the watermark, not a value per window, so there is no window to judge; alert on "
                "the kpi_backlog_tickets gauge in Prometheus instead",
            )
            return None
        if name not in self.kpis:
            hint = suggest(name, self.kpis) or f" (KPIs: {', '.join(self.kpis)})"
            self.error(here, f"unknown KPI {name!r}{hint}")
            return None
        return self.kpis[name]

    def stat(self, here: DocPath, kpi: KpiDefinition | None, stat: str | None) -> str | None:
        if kpi is None:
            return None
        stats = ", ".join(kpi.stats)
        if stat is None:
            if kpi.stats == ("value",):
                return "value"
            self.error((*here, "stat"), f"{kpi.name} needs a stat: one of {stats}")
            return None
        if stat not in kpi.stats:
            self.error(
                (*here, "stat"),
                f"{kpi.name} has no stat {stat!r} (stats: {stats}){suggest(stat, kpi.stats)}",
            )
            return None
        return stat

    def window(self, here: DocPath, window: str) -> str | None:
        if self.windows is not None and window not in self.windows:
            known = ", ".join(sorted(self.windows, key=_duration_or_inf)) or "none"
            self.error(
                here,
                f"window {window!r} is not configured (windows: {known})"
                f"{suggest(window, self.windows)}",
            )
            return None
        return window

    def scope(self, here: DocPath, spec: ScopeSpec | str) -> ScopeMatch | None:
        values = spec.values() if isinstance(spec, ScopeSpec) else {}
        ok = True
        for dim, value in values.items():
            allowed = _ENUMS.get(dim)
            if allowed is not None and value != "*" and value not in allowed:
                self.error(
                    (*here, dim),
                    f"{value!r} is not a {dim} ({', '.join(allowed)}, or '*' for each)"
                    f"{suggest(value, allowed)}",
                )
                ok = False
        breakdown = next((b for b, d in BREAKDOWNS.items() if set(d) == set(values)), None)
        if breakdown is None:
            combos = "; ".join(
                "{" + ", ".join(d) + "}" if d else "all" for d in BREAKDOWNS.values()
            )
            self.error(
                here,
                f"no breakdown splits by {', '.join(values)} (scopes: {combos})",
            )
            return None
        if self.breakdowns is not None and breakdown not in self.breakdowns:
            self.error(
                here,
                f"breakdown {breakdown} is not computed (breakdowns: "
                f"{', '.join(sorted(self.breakdowns))}), so this scope has no values",
            )
            return None
        return ScopeMatch(breakdown, **values) if ok else None

    def objective(
        self, here: DocPath, kpi: KpiDefinition, spec: ObjectiveSpec | str
    ) -> Objective | None:
        op: str
        if isinstance(spec, ObjectiveSpec):
            op, amount, here = spec.op, spec.amount(), (*here, "value")
        else:
            op, amount = parse_objective_text(spec)
        written = f"'{op} {_fmt(amount.number)}{amount.unit or ''}'"
        value = self.in_unit(here, kpi, amount, written)
        if value is None:
            return None
        low, high = _range(kpi)
        if kpi.unit == "ratio" and 1 < value <= 100:
            self.warn(here, f"{written}: ratios are 0..1; did you mean {_fmt(value / 100)}?")
        elif not low <= value <= high:
            self.error(here, f"{written} is outside the range of {kpi.name} ({_span(low, high)})")
            return None
        elif kpi.name == "nps" and 0 < abs(value) <= 1:
            self.warn(here, f"{written}: NPS is -100..100; did you mean {_fmt(value * 100)}?")
        elif kpi.unit == "seconds" and amount.unit is None and value < 60:
            self.warn(
                here,
                f"{written} is {_fmt(value)} seconds; did you mean minutes "
                f"('{op} {_fmt(value)}m')? Write a unit to be explicit",
            )
        wrong = {Better.HIGHER: "<=", Better.LOWER: ">="}.get(kpi.better)
        if op == wrong:
            self.warn(
                here,
                f"{kpi.name} is better {kpi.better.value}, so {written} alerts when it is good; "
                f"did you mean '{'>=' if op == '<=' else '<='}'?",
            )
        return Objective(op, value)

    def in_unit(self, here: DocPath, kpi: KpiDefinition, amount: Amount, what: str) -> float | None:
        if amount.is_duration:
            if kpi.unit != "seconds":
                unit = _UNIT_NAMES.get(kpi.unit, kpi.unit)
                self.error(here, f"{what} is a duration, but {kpi.name} is {unit}")
                return None
            return amount.seconds()
        return amount.number

    def gap(
        self, here: DocPath, kpi: KpiDefinition, objective: Objective, raw: float | str, what: str
    ) -> float | None:
        amount = parse_amount(raw)
        if amount.is_relative:
            # Rounded to 12 digits so that 10% of 0.7 reads 0.07, not 0.06999999999999999.
            return float(f"{amount.number * abs(objective.value) / 100:.12g}")
        return self.in_unit(here, kpi, amount, f"{what} {raw!r}")

    def check_min_sample(self, here: DocPath, value: int) -> None:
        if value < 10:
            self.warn(
                here,
                f"min_sample {value} is very small: a handful of tickets is enough to alert, "
                "so expect noise (30 or more is usual)",
            )

    def hold(
        self, here: DocPath, spec: TargetSpec, defaults: DefaultsSpec, window: str | None
    ) -> float | None:
        raw = _first(spec.hold, defaults.hold)
        seconds = _seconds(raw) if raw is not None else _model_default("hold_seconds")
        step = self.steps.get(window) if window else None
        if step is not None and 0 < seconds < step:
            origin = "" if spec.hold is not None else " (from defaults)" if raw else " (default)"
            # A breach is only seen when a window closes, so the hold is judged at the next
            # close: anything between 0 and one step means one step.
            every = format_duration(step)
            self.warn(
                (*here, "hold"),
                f"hold {format_duration(seconds)}{origin} is shorter than the step of window "
                f"{window} ({every}): windows close once per step, so it acts as a hold of "
                f"{every}; write {every}, or 0 to fire on the first breached window",
            )
        return None if raw is None else seconds

    def clear_margin(
        self,
        here: DocPath,
        kpi: KpiDefinition,
        objective: Objective,
        spec: TargetSpec,
        defaults: DefaultsSpec,
    ) -> float | None:
        raw = _first(spec.clear_margin, defaults.clear_margin)
        if raw is None:
            return 0.0
        where = (*here, "clear_margin")
        margin = self.gap(where, kpi, objective, raw, "clear_margin")
        if margin is None:
            return None
        low, high = _range(kpi)
        room = high - objective.value if objective.op == ">=" else objective.value - low
        # A tolerance, so that 0.2 above 0.8 counts as reaching 1 despite binary fractions.
        if margin > 0 and room >= 0 and margin - room > 1e-9 * max(1.0, abs(room)):
            end = "top" if objective.op == ">=" else "bottom"
            self.warn(
                where,
                f"clear_margin {_fmt(margin)} is more than the distance from the objective "
                f"{_fmt(objective.value)} to the {end} of {kpi.name}'s range ({_fmt(room)}): "
                "an alert could never clear",
            )
        return margin

    def severities(
        self,
        here: DocPath,
        kpi: KpiDefinition,
        objective: Objective,
        spec: TargetSpec,
        defaults: DefaultsSpec,
    ) -> tuple[Severity, ...] | None:
        """The merged severities; () for the model's default; None after an error."""
        merged: dict[str, tuple[float | str | None, DocPath]] = {}
        for name, inherited in (defaults.severity or {}).items():
            merged[name] = (inherited, ("defaults", "severity", name))
        for name, own in (spec.severity or {}).items():
            merged[name] = (own, (*here, "severity", name))
        if not merged:
            return ()
        result, ok = [], True
        for name, (raw, where) in merged.items():
            if raw is None:
                continue  # removed by the target
            min_gap = self.gap(where, kpi, objective, raw, f"severity {name}")
            if min_gap is None:
                ok = False
                continue
            if name == "critical" and min_gap == 0 and where[0] != "defaults":
                self.warn(where, _CRITICAL_ZERO)
            result.append(Severity(name, min_gap))
        if not ok:
            return None
        if not result:
            self.error((*here, "severity"), "every severity was removed; keep at least one")
            return None
        result.sort(key=lambda s: s.min_gap)
        for lower, upper in itertools.pairwise(result):
            if lower.min_gap == upper.min_gap:
                self.error(
                    (*here, "severity"),
                    f"severities {lower.name} and {upper.name} both start at gap "
                    f"{_fmt(lower.min_gap)}; which one applies would be arbitrary",
                )
                return None
        return tuple(result)

    def claim_id(self, here: DocPath, rule_id: str) -> str | None:
        if rule_id in self.ids:
            first = self.ids[rule_id]
            self.error(
                (*here, "id") if (*here, "id") in self.lines else here,
                f"duplicate id {rule_id!r} (first on line {first}); ids name alert episodes and "
                "must be unique, so give one of them an id",
            )
            return None
        self.ids[rule_id] = self.line(here)
        return rule_id

    # drift checks

    def drift(self, here: DocPath, spec: DriftSpec, defaults: DefaultsSpec) -> DriftCheck | None:
        kpi = self.kpi((*here, "kpi"), spec.kpi)
        stat = self.stat(here, kpi, spec.stat)
        window = self.window((*here, "window"), spec.window)
        scope = self.scope((*here, "scope"), spec.scope)
        if spec.min_sample is not None:
            self.check_min_sample((*here, "min_sample"), spec.min_sample)
        if kpi is None or stat is None or window is None or scope is None:
            return None
        check_id = self.claim_id(
            here, spec.id or "drift:" + _derived_id(kpi.name, stat, window, scope)
        )
        if check_id is None:
            return None
        given = {
            "smoothing": spec.smoothing,
            "width": spec.width,
            "warmup": spec.warmup,
            "min_sample": _first(spec.min_sample, defaults.min_sample),
            "hold_windows": spec.hold_windows,
            "severity": spec.severity,
        }
        optional = {name: value for name, value in given.items() if value is not None}
        return DriftCheck(
            id=check_id,
            kpi=kpi.name,
            stat=stat,
            window=window,
            scope=scope,
            line=self.line(here),
            **optional,
        )


_CRITICAL_ZERO = (
    "critical starts at gap 0, so every breach is critical; give warning 0 and critical a "
    "larger gap"
)


def _items(data: dict[Any, Any], key: str) -> list[Any]:
    items = data.get(key)
    return items if isinstance(items, list) else []


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _seconds(raw: float | str) -> float:
    amount = parse_amount(raw, relative=False)
    return amount.seconds() if amount.is_duration else amount.number


def _model_default(name: str) -> Any:
    return Target.__dataclass_fields__[name].default


def _range(kpi: KpiDefinition) -> tuple[float, float]:
    if kpi.name in _RANGES:
        return _RANGES[kpi.name]
    return (0.0, 1.0) if kpi.unit == "ratio" else (0.0, math.inf)


def _span(low: float, high: float) -> str:
    return f"{_fmt(low)}..{_fmt(high)}" if math.isfinite(high) else f">= {_fmt(low)}"


def _duration_or_inf(name: str) -> tuple[float, str]:
    try:
        return parse_duration(name), name
    except ValueError:
        return math.inf, name


def _derived_id(kpi: str, stat: str, window: str, scope: ScopeMatch) -> str:
    """``resolution_time:p90@24h[service=*,priority=P1]``; explicit ids cannot contain '@'."""
    values = ",".join(f"{d}={getattr(scope, d)}" for d in BREAKDOWNS[scope.breakdown])
    return f"{kpi}{':' + stat if stat != 'value' else ''}@{window}" + (
        f"[{values}]" if values else ""
    )
