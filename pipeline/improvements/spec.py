"""The improvements register, ``version: improvements/v1``, as pydantic models of the YAML
document. Like the targets file, these check the shape only (keys, types, the syntax of times
and durations); ``load`` checks what needs the KPI catalogue and the other improvements."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from pipeline.core.durations import parse_duration
from pipeline.improvements.model import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_SAMPLE,
    DEFAULT_MIN_WINDOWS,
    DEFAULT_WINDOW,
)
from pipeline.targets.spec import KPI_NAMES, ScopeSpec, Stat, parse_amount

__all__ = [
    "VERSION",
    "CheckSpec",
    "ExpectSpec",
    "ImprovementSpec",
    "ImprovementsDocument",
    "PeriodDefaults",
    "improvements_json_schema",
]

VERSION = "improvements/v1"
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_TEXT, _MAPPING = "text-form", "mapping-form"


def _check_duration(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"{value!r} has no unit; write a duration such as '7d' or '4w'")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration (examples: 7d, 28d, 4w)")
    parse_duration(value)
    if value.strip().replace(".", "", 1).isdigit():
        raise ValueError(f"{value!r} has no unit; write a duration such as '7d' or '4w'")
    return value


def _check_time(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()!r} has no UTC offset; add 'Z' or '+01:00'")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time such as '2026-03-02T09:00:00Z'")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time such as '2026-03-02T09:00:00Z'") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset; add 'Z' or '+01:00'")
    return value


def _check_effect(value: object) -> object:
    amount = parse_amount(value, relative=False)
    if amount.number <= 0:
        raise ValueError(f"{value!r}: the smallest effect worth having must be above 0")
    return value


Duration = Annotated[str, BeforeValidator(_check_duration)]
Time = Annotated[str | datetime, BeforeValidator(_check_time)]
Effect = Annotated[float | str, BeforeValidator(_check_effect)]
Id = Annotated[str, Field(pattern=_ID_PATTERN, max_length=100)]
KpiName = Annotated[str, Field(min_length=1, json_schema_extra={"enum": list(KPI_NAMES)})]
Text = Annotated[str, Field(min_length=1, max_length=500)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PeriodDefaults(_Spec):
    """How every improvement is evaluated unless it says otherwise."""

    before: Duration | None = Field(default=None, description="Length of the before period.")
    after: Duration | None = Field(
        default=None, description="Length of the after period (default: the before length)."
    )
    window: Annotated[str, Field(min_length=1)] | None = Field(
        default=None,
        description=f"The KPI window whose non-overlapping windows are compared. Default "
        f"{DEFAULT_WINDOW}.",
    )
    confidence: Annotated[float, Field(gt=0.5, lt=1)] | None = Field(
        default=None, description=f"Of the intervals. Default {DEFAULT_CONFIDENCE}."
    )
    min_sample: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="Rate KPIs: fewer observations in a period means too little data. "
        f"Default {DEFAULT_MIN_SAMPLE}.",
    )
    min_windows: Annotated[int, Field(ge=2)] | None = Field(
        default=None,
        description="Other KPIs: fewer windows with a value in a period means too little "
        f"data. Default {DEFAULT_MIN_WINDOWS}.",
    )


class ExpectSpec(_Spec):
    """A KPI the improvement should move, and which way."""

    kpi: KpiName
    stat: Stat | None = Field(default=None, description="mean|p50|p90 for time KPIs.")
    direction: Literal["higher", "lower"]
    min_effect: Effect | None = Field(
        default=None,
        description="Smallest change worth having, in the KPI's unit (a duration for time "
        "KPIs): a smaller change, however certain, is not called improved.",
    )


class CheckSpec(_Spec):
    """A guard: a KPI that must not get worse (its better direction is the catalogue's)."""

    kpi: KpiName
    stat: Stat | None = None


def _form(value: Any) -> str:
    return _MAPPING if isinstance(value, dict | BaseModel) else _TEXT


ScopeField = Annotated[
    Annotated[Literal["all"], Tag(_TEXT)] | Annotated[ScopeSpec, Tag(_MAPPING)],
    Discriminator(_form),
]


class ImprovementSpec(PeriodDefaults):
    """One change to the service or the desk, and what it should do to the KPIs."""

    id: Id
    title: Text
    owner: Text
    scope: ScopeField = "all"
    implemented: Time = Field(description="When the change went live (RFC 3339 with offset).")
    settling: Duration | None = Field(
        default=None, description="Left out after the implementation time (people adapt)."
    )
    expect: Annotated[list[ExpectSpec], Field(min_length=1)]
    guards: list[CheckSpec] | None = Field(
        default=None,
        description="KPIs that must not get worse. Default: the service-value KPIs when the "
        "expected ones are process KPIs, and the other way round. [] for none.",
    )


class ImprovementsDocument(_Spec):
    """An improvements register. Top-level keys starting with ``x-`` are ignored."""

    version: Literal["improvements/v1"]
    defaults: PeriodDefaults | None = None
    improvements: list[ImprovementSpec] | None = None


def improvements_json_schema() -> dict[str, Any]:
    """JSON Schema of the register (exported as ``schemas/improvements.v1.schema.json``)."""
    schema = ImprovementsDocument.model_json_schema()
    schema["title"] = "Improvements register, version improvements/v1"
    schema["patternProperties"] = {"^x-": {}}
    return schema
