"""The improvements register as the evaluation reads it: what changed, where, when, and which
KPIs should move (expected) or must not get worse (guards)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pipeline.core.kpis import KpiClass
from pipeline.core.scopes import BREAKDOWNS, Scope

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_GUARDS",
    "DEFAULT_MIN_SAMPLE",
    "DEFAULT_MIN_WINDOWS",
    "DEFAULT_PERIOD_SECONDS",
    "DEFAULT_WINDOW",
    "Direction",
    "Improvement",
    "KpiCheck",
    "Register",
    "Role",
]

DEFAULT_PERIOD_SECONDS = 28 * 86400.0
DEFAULT_WINDOW = "24h"
DEFAULT_CONFIDENCE = 0.95
DEFAULT_MIN_SAMPLE = 30  # rate KPIs: observations per period
DEFAULT_MIN_WINDOWS = 7  # other KPIs: windows with a value per period

# Guards used when an improvement names none: the other class of KPI than the expected ones.
# Counts are left out (neither direction is better); time KPIs are judged on their median.
DEFAULT_GUARDS: dict[KpiClass, tuple[tuple[str, str], ...]] = {
    KpiClass.SERVICE: (
        ("sla_compliance", "value"),
        ("csat", "value"),
        ("nps", "value"),
        ("cost_per_interaction", "value"),
        ("self_service_rate", "value"),
    ),
    KpiClass.PROCESS: (
        ("fcr_rate", "value"),
        ("reopen_rate", "value"),
        ("escalation_rate", "value"),
        ("first_response_time", "p50"),
        ("resolution_time", "p50"),
    ),
}


class Direction(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"


class Role(StrEnum):
    EXPECTED = "expected"  # the improvement should move it in its direction
    GUARD = "guard"  # must not get worse


@dataclass(frozen=True, slots=True)
class KpiCheck:
    """One KPI statistic to compare before and after."""

    kpi: str
    stat: str
    kpi_class: str  # service or process
    direction: Direction  # the better direction
    role: Role
    min_effect: float = 0.0  # smallest change worth having, in the KPI's unit (expected only)

    @property
    def label(self) -> str:
        return self.kpi if self.stat == "value" else f"{self.kpi}:{self.stat}"


@dataclass(frozen=True, slots=True)
class Improvement:
    id: str
    title: str
    owner: str
    scope: Scope  # one scope: a breakdown with its values (no wildcards)
    implemented: float  # epoch seconds
    checks: tuple[KpiCheck, ...]
    settling_seconds: float = 0.0
    before_seconds: float = DEFAULT_PERIOD_SECONDS
    after_seconds: float = DEFAULT_PERIOD_SECONDS
    window: str = DEFAULT_WINDOW
    confidence: float = DEFAULT_CONFIDENCE
    min_sample: int = DEFAULT_MIN_SAMPLE
    min_windows: int = DEFAULT_MIN_WINDOWS
    line: int | None = None

    @property
    def before(self) -> tuple[float, float]:
        return self.implemented - self.before_seconds, self.implemented

    @property
    def after(self) -> tuple[float, float]:
        start = self.implemented + self.settling_seconds
        return start, start + self.after_seconds

    @property
    def span(self) -> tuple[float, float]:
        """From the start of the before period to the end of the after period."""
        return self.before[0], self.after[1]

    @property
    def expected(self) -> tuple[KpiCheck, ...]:
        return tuple(c for c in self.checks if c.role is Role.EXPECTED)

    @property
    def guards(self) -> tuple[KpiCheck, ...]:
        return tuple(c for c in self.checks if c.role is Role.GUARD)

    def scope_text(self) -> str:
        dims = BREAKDOWNS[self.scope.breakdown]
        return ", ".join(f"{d}={getattr(self.scope, d)}" for d in dims) if dims else "all"


@dataclass(frozen=True)
class Register:
    version: str
    improvements: tuple[Improvement, ...] = ()
    source: str = "<string>"
    by_id: dict[str, Improvement] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {i.id: i for i in self.improvements})
