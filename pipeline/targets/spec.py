"""The targets file, ``version: targets/v1``, as pydantic models of the YAML document.

These models check the *shape* of the document: which keys exist, their types, and the syntax of
objectives, durations and gaps. They keep values as written (``"<= 8h"``, ``"10%"``) because
their meaning depends on the KPI (a duration only makes sense for a time KPI); ``load`` turns
them into the internal model of ``pipeline.alerts.model`` once the KPI is known.

Every model forbids unknown keys, so a typo (``min_samples``) fails instead of silently using a
default. Fields accept exactly one YAML type (``strict``): ``true`` is not a number and ``12`` is
not a team name. The same models give the JSON Schema for editors (``targets_json_schema``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from pipeline.alerts.model import DriftCheck, Target
from pipeline.core.durations import parse_duration
from pipeline.core.kpis import catalogue
from pipeline.core.scopes import DIMENSIONS
from pipeline.schemas.events import Channel, Priority

__all__ = [
    "VERSION",
    "Amount",
    "BenchmarkSpec",
    "BudgetSpec",
    "DefaultsSpec",
    "DriftSpec",
    "ForecastSpec",
    "ObjectiveSpec",
    "ScopeSpec",
    "TargetSpec",
    "TargetsDocument",
    "parse_amount",
    "parse_objective_text",
    "targets_json_schema",
]

VERSION = "targets/v1"

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_AMOUNT = re.compile(rf"^\s*({_NUMBER})\s*(ms|s|m|h|d|w|%)?\s*$")
_OBJECTIVE = re.compile(r"^\s*(>=|<=)\s*(\S.*?)\s*$")
_OBJECTIVE_PATTERN = rf"^\s*(>=|<=)\s*{_NUMBER}\s*(ms|s|m|h|d|w)?\s*$"
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_SEVERITY_PATTERN = r"^[a-z][a-z0-9_]*$"
# Tags of the text-or-mapping unions; they appear in pydantic error locations and are skipped
# when mapping those back to the document, so they must not look like document keys.
_TEXT, _MAPPING = "text-form", "mapping-form"

# Offered to editors through the JSON Schema; the loader checks names itself, with better
# messages (did you mean, why backlog is not a target) than an enum error.
KPI_NAMES = tuple(d.name for d in catalogue())


@dataclass(frozen=True, slots=True)
class Amount:
    """A number as written: in the KPI's unit (``unit`` None), a duration (``ms``..``w``), or a
    percentage of the objective (``%``)."""

    number: float
    unit: str | None = None

    @property
    def is_duration(self) -> bool:
        return self.unit is not None and self.unit != "%"

    @property
    def is_relative(self) -> bool:
        return self.unit == "%"

    def seconds(self) -> float:
        return self.number * parse_duration(f"1{self.unit or 's'}")


def parse_amount(value: object, *, relative: bool = True, negative: bool = False) -> Amount:
    """``0.03``, ``"10m"`` or ``"10%"`` as an Amount; ValueError naming the value otherwise."""
    expected = (
        "a number, a duration such as '10m' or a percentage such as '10%'"
        if relative
        else "a number or a duration such as '10m'"
    )
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not {expected}")
    if isinstance(value, str):
        match = _AMOUNT.match(value)
        if match is None or (match.group(2) == "%" and not relative):
            raise ValueError(f"{value!r} is not {expected}")
        amount = Amount(float(match.group(1)), match.group(2))
    else:
        amount = Amount(float(value))
    if not math.isfinite(amount.number):
        raise ValueError(f"{value!r} is not a finite number")
    if amount.number < 0 and (not negative or amount.is_duration):
        raise ValueError(f"{value!r} is negative; it must be 0 or more")
    return amount


def parse_objective_text(text: str) -> tuple[str, Amount]:
    """``">= 0.85"`` or ``"<= 8h"`` as (op, amount); ValueError with the expected forms."""
    match = _OBJECTIVE.match(text)
    problem = f"{text!r} is not an objective (expected '>= 0.85' or '<= 8h')"
    if match is None:
        if re.match(r"^\s*(>|<|=>|=<|==|=)", text):
            problem += "; the operator must be '>=' or '<='"
        raise ValueError(problem)
    try:
        return match.group(1), parse_amount(match.group(2), relative=False, negative=True)
    except ValueError:
        raise ValueError(problem) from None


def _check_objective_text(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an objective (expected '>= 0.85' or '<= 8h')")
    parse_objective_text(value)
    return value


def _check_amount(value: object) -> object:
    parse_amount(value)
    return value


def _check_value(value: object) -> object:
    parse_amount(value, relative=False, negative=True)
    return value


def _check_duration(value: object) -> object:
    amount = parse_amount(value, relative=False)
    if isinstance(value, str) and amount.unit is None:
        raise ValueError(f"{value!r} has no unit; write a duration such as '30m', '1h' or '90s'")
    return value


def _check_default_gap(value: object) -> object:
    amount = parse_amount(value)
    if amount.number != 0 and not amount.is_relative:
        # Defaults apply to KPIs of every unit: 0.1 would be 10 points of a ratio but 0.1 s of a
        # resolution time. A share of each target's objective means the same thing everywhere.
        raise ValueError(
            f"{value!r}: in defaults a gap must be 0 or relative to each target's objective "
            "(e.g. '10%'), since defaults apply to KPIs of different units"
        )
    return value


Quantity = Annotated[float | str, BeforeValidator(_check_amount)]
Duration = Annotated[float | str, BeforeValidator(_check_duration)]
DefaultGap = Annotated[float | str, BeforeValidator(_check_default_gap)]
KpiName = Annotated[str, Field(min_length=1, json_schema_extra={"enum": list(KPI_NAMES)})]
Stat = Annotated[str, Field(json_schema_extra={"enum": ["value", "mean", "p50", "p90"]})]
Id = Annotated[str, Field(pattern=_ID_PATTERN, max_length=100)]
SeverityName = Annotated[str, Field(pattern=_SEVERITY_PATTERN, max_length=40)]
Confidence = Annotated[float, Field(gt=0, lt=1)]


def _default(cls: type[Any], name: str) -> Any:
    """A field default of the internal model, so descriptions never disagree with it."""
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ObjectiveSpec(_Spec):
    """The long form of an objective: ``{op: ">=", value: 0.85}``."""

    op: Literal[">=", "<="]
    value: Annotated[float | str, BeforeValidator(_check_value)] = Field(
        description="In the KPI's unit; a duration such as '8h' for time KPIs."
    )

    def amount(self) -> Amount:
        return parse_amount(self.value, relative=False, negative=True)


class ScopeSpec(_Spec):
    """Dimension values; the breakdown follows from which dimensions are given. ``"*"`` means
    each value separately (one alert per service, say)."""

    service: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    team: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    channel: (
        Annotated[str, Field(json_schema_extra={"enum": [*(c.value for c in Channel), "*"]})] | None
    ) = None
    priority: (
        Annotated[str, Field(json_schema_extra={"enum": [*(p.value for p in Priority), "*"]})]
        | None
    ) = None

    def values(self) -> dict[str, str]:
        """The dimensions given, in the catalogue's order."""
        return {d: v for d in DIMENSIONS if (v := getattr(self, d)) is not None}


def _form(value: Any) -> str:
    return _MAPPING if isinstance(value, dict | BaseModel) else _TEXT


ObjectiveField = Annotated[
    Annotated[Annotated[str, BeforeValidator(_check_objective_text)], Tag(_TEXT)]
    | Annotated[ObjectiveSpec, Tag(_MAPPING)],
    Discriminator(_form),
]
ScopeField = Annotated[
    Annotated[Literal["all"], Tag(_TEXT)] | Annotated[ScopeSpec, Tag(_MAPPING)],
    Discriminator(_form),
]


class DefaultsSpec(_Spec):
    """Knobs applied to every target that does not set them (min_sample: drift checks too)."""

    min_sample: Annotated[int, Field(ge=0)] | None = Field(
        default=None,
        description="Fewer observations than this in a window: nothing fires. "
        f"Built-in default {_default(Target, 'min_sample')}.",
    )
    hold: Duration | None = Field(
        default=None,
        description="Event time a breach must last before the alert fires (pending until "
        f"then). Built-in default {_default(Target, 'hold_seconds'):g} s.",
    )
    confidence: Confidence | None = Field(
        default=None,
        description="Rate KPIs only: a breach counts when the Wilson interval at this level "
        f"lies wholly on the wrong side. Built-in default {_default(Target, 'confidence')}.",
    )
    clear_margin: DefaultGap | None = Field(
        default=None, description="0 or a share of each target's objective, e.g. '2%'."
    )
    severity: dict[SeverityName, DefaultGap] | None = Field(
        default=None,
        description="Severity name -> gap from which it applies: 0 or a share of each "
        "target's objective, e.g. {warning: 0, critical: '10%'}.",
    )


class TargetSpec(_Spec):
    """One objective for one KPI statistic, in a scope and a window."""

    id: Id | None = Field(
        default=None,
        description="Stable name, part of alert episode ids. Derived from kpi, stat, window "
        "and scope when absent.",
    )
    kpi: KpiName
    stat: Stat | None = Field(
        default=None, description="'value', or mean|p50|p90 for time KPIs (required there)."
    )
    window: Annotated[str, Field(min_length=1)] = Field(
        description="A configured window name, e.g. '1h' or '24h'."
    )
    scope: ScopeField = "all"
    objective: ObjectiveField = Field(
        description="'>= 0.85', '<= 8h' or {op, value}; in the KPI's unit (ratios 0..1, "
        "seconds or durations, NPS -100..100, CSAT mean 1..5)."
    )
    min_sample: Annotated[int, Field(ge=0)] | None = None
    hold: Duration | None = None
    confidence: Confidence | None = None
    clear_margin: Quantity | None = Field(
        default=None,
        description="Hysteresis: the alert resolves only once the KPI is this far on the right "
        "side. KPI unit, a duration (time KPIs) or a share of the objective ('5%').",
    )
    severity: dict[SeverityName, Quantity | None] | None = Field(
        default=None,
        description="Merged over defaults.severity (null removes a name): name -> gap from "
        "which it applies, in the KPI's unit, a duration or a share of the objective.",
    )


class DriftSpec(_Spec):
    """An EWMA control chart of a KPI statistic against its own recent baseline."""

    id: Id | None = None
    kpi: KpiName
    stat: Stat | None = None
    window: Annotated[str, Field(min_length=1)]
    scope: ScopeField = "all"
    smoothing: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None,
        description="EWMA lambda: weight of the newest window. "
        f"Default {_default(DriftCheck, 'smoothing')}.",
    )
    width: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="L: control limits at baseline +- L sigma. "
        f"Default {_default(DriftCheck, 'width')}.",
    )
    warmup: Annotated[int, Field(ge=0)] | None = Field(
        default=None,
        description="Windows to learn the baseline before the chart can alert. "
        f"Default {_default(DriftCheck, 'warmup')}.",
    )
    min_sample: Annotated[int, Field(ge=0)] | None = None
    hold_windows: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Consecutive out-of-control windows before firing. "
        f"Default {_default(DriftCheck, 'hold_windows')}.",
    )
    severity: SeverityName | None = None


class BudgetSpec(_Spec):
    """An error budget: a rate KPI's objective over a period (e.g. sla_compliance >= 0.95 over
    28d). The share of bad outcomes it allows is the budget; Prometheus rules generated from
    it record the budget left and the burn rates, and alert on fast and slow burns."""

    id: Id = Field(description="Stable name: the `budget` label of the generated series.")
    kpi: KpiName = Field(description="A rate KPI (a ratio 0..1 with a denominator).")
    objective: ObjectiveField = Field(description="'>= 0.95' (or '<= 0.08' for lower-better).")
    period: Duration = Field(description="The budget's period, e.g. '28d' or '30d'.")
    window: Annotated[str, Field(min_length=1)] = Field(
        default="1h",
        description="The configured window the rules read (its newest closed value, weighted "
        "by its sample size); the shortest one gives the quickest alerts.",
    )
    scope: ScopeField = "all"


class BenchmarkSpec(_Spec):
    """A published value to compare a KPI with: a reference line on the boards, never an
    objective (nothing alerts on it). Source and year are required: a benchmark nobody can
    look up is not one."""

    id: Id | None = None
    kpi: KpiName
    stat: Stat | None = None
    value: Annotated[float | str, BeforeValidator(_check_value)] = Field(
        description="In the KPI's unit: a ratio 0..1, a duration such as '8h', a score."
    )
    source: Annotated[str, Field(min_length=3, max_length=300)] = Field(
        description="Who published it: organisation and report or survey."
    )
    year: Annotated[int, Field(ge=1980, le=2100)] = Field(description="Year of publication.")
    peer_group: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Whom the value describes, e.g. 'internal IT service desks, North America'."
    )
    url: Annotated[str, Field(max_length=500)] | None = None


class ForecastSpec(_Spec):
    """A forecast of a target: Holt's linear trend over the KPI's recent closed windows warns
    when the target is expected to be breached within the horizon."""

    id: Id | None = None
    target: Id = Field(description="Id of a target of this file.")
    horizon: Duration = Field(default="12h", description="How far ahead to look (event time).")
    history: Annotated[int, Field(ge=4, le=500)] = Field(
        default=24, description="Closed windows fitted (the newest ones)."
    )
    min_points: Annotated[int, Field(ge=4)] = Field(
        default=8, description="Fewer windows with enough sample: no forecast yet."
    )
    hold_windows: Annotated[int, Field(ge=1)] = Field(
        default=3, description="Windows in a row predicting a breach before the warning fires."
    )
    severity: SeverityName = "warning"


class TargetsDocument(_Spec):
    """A targets file: KPI objectives and drift checks for the alert engine, error budgets for
    the generated Prometheus rules, benchmarks for the boards. Top-level keys starting with
    ``x-`` are ignored (the loader drops them), to hold YAML anchors."""

    version: Literal["targets/v1"]
    defaults: DefaultsSpec | None = None
    targets: list[TargetSpec] | None = None
    drift: list[DriftSpec] | None = None
    budgets: list[BudgetSpec] | None = None
    benchmarks: list[BenchmarkSpec] | None = None
    forecasts: list[ForecastSpec] | None = None


def targets_json_schema() -> dict[str, Any]:
    """JSON Schema of the targets file (exported as ``schemas/targets.v1.schema.json``)."""
    schema = TargetsDocument.model_json_schema()
    schema["title"] = "KPI targets file, version targets/v1"
    schema["patternProperties"] = {"^x-": {}}  # ignored keys, a home for YAML anchors
    # Pydantic renders the objective pattern only on the model; the text form is checked by a
    # validator, so give editors the same pattern here.
    text_objective = {"type": "string", "pattern": _OBJECTIVE_PATTERN}
    target = schema["$defs"]["TargetSpec"]["properties"]["objective"]
    target["oneOf"] = [text_objective if s == {"type": "string"} else s for s in target["oneOf"]]
    return schema
