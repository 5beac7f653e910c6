"""The KPI catalogue, version 1 (SPEC section 4): every KPI's definition in one place.

A definition says which observations it listens to, how one observation updates its accumulators
(``observe``) and how accumulators become a value with its sample size (``compute``). Accumulator
names embed the KPI's name and version, so bumping a version starts fresh state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pipeline.core.aggregate import Aggregate
from pipeline.core.observations import Observation, ObsKind

__all__ = [
    "CATALOGUE_VERSION",
    "DEFAULT_CHANNEL_HOURLY_RATES",
    "DEFAULT_SLA_SECONDS",
    "Better",
    "KpiClass",
    "KpiConfig",
    "KpiDefinition",
    "KpiValue",
    "catalogue",
]

CATALOGUE_VERSION = 1
QUANTILE_STATS = ("mean", "p50", "p90")
DEFAULT_SLA_SECONDS = {"P1": 4 * 3600, "P2": 8 * 3600, "P3": 24 * 3600, "P4": 72 * 3600}
DEFAULT_CHANNEL_HOURLY_RATES = {
    "phone": 40.0,
    "email": 30.0,
    "chat": 30.0,
    "web": 30.0,
    "self_service": 0.0,
    "social": 30.0,
}


class KpiClass(StrEnum):
    SERVICE = "service"  # what the customer gets
    PROCESS = "process"  # how well the desk works


class Better(StrEnum):
    HIGHER = "higher"
    LOWER = "lower"
    NEITHER = "-"


@dataclass(frozen=True)
class KpiConfig:
    sla_seconds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SLA_SECONDS))
    channel_hourly_rates: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_CHANNEL_HOURLY_RATES)
    )


@dataclass(frozen=True, slots=True)
class KpiValue:
    stats: dict[str, float]  # empty when there is nothing to compute (zero denominator)
    sample_size: int


Observe = Callable[[Observation, Aggregate, str], None]
Compute = Callable[[Aggregate, str], KpiValue]


@dataclass(frozen=True)
class KpiDefinition:
    name: str
    version: int
    kpi_class: KpiClass
    better: Better
    unit: str
    anchor: str
    listens_to: frozenset[ObsKind]
    observe_fn: Observe
    compute_fn: Compute
    stats: tuple[str, ...] = ("value",)

    @property
    def prefix(self) -> str:
        return f"{self.name}.v{self.version}."

    def observe(self, obs: Observation, agg: Aggregate) -> None:
        self.observe_fn(obs, agg, self.prefix)

    def compute(self, agg: Aggregate) -> KpiValue:
        return self.compute_fn(agg, self.prefix)


# --- building blocks ---------------------------------------------------------------------------


def _count(agg: Aggregate, p: str) -> KpiValue:
    n = int(agg.count(p + "n"))
    return KpiValue({"value": float(n)}, n)


def _ratio(agg: Aggregate, p: str, scale: float = 1.0) -> KpiValue:
    den = int(agg.count(p + "den"))
    if den == 0:
        return KpiValue({}, 0)
    return KpiValue({"value": scale * agg.count(p + "num") / den}, den)


def _quantiles(agg: Aggregate, p: str) -> KpiValue:
    sketch = agg.sketch(p + "sketch")
    if sketch.count == 0:
        return KpiValue({}, 0)
    stats = {"mean": sketch.mean, "p50": sketch.quantile(0.5), "p90": sketch.quantile(0.9)}
    return KpiValue({k: float(v) for k, v in stats.items() if v is not None}, sketch.count)


def _tally(obs: Observation, agg: Aggregate, p: str) -> None:
    agg.add(p + "n")


def _sample_value(obs: Observation, agg: Aggregate, p: str) -> None:
    agg.sample(p + "sketch", obs.value)


def catalogue(config: KpiConfig | None = None) -> tuple[KpiDefinition, ...]:
    """All windowed KPIs of catalogue version 1, with the configured SLA policy and cost rates.
    (Backlog is a level at the watermark, not a windowed KPI: see ``lifecycle``.)"""
    cfg = config or KpiConfig()

    def fcr_observe(obs: Observation, agg: Aggregate, p: str) -> None:
        if obs.first_resolution:
            agg.add(p + "den")
            if obs.fcr:
                agg.add(p + "num")

    def reopen_observe(obs: Observation, agg: Aggregate, p: str) -> None:
        agg.add(p + ("num" if obs.kind is ObsKind.REOPENED else "den"))

    def escalation_observe(obs: Observation, agg: Aggregate, p: str) -> None:
        agg.add(p + ("num" if obs.kind is ObsKind.FIRST_ESCALATED else "den"))

    def sla_observe(obs: Observation, agg: Aggregate, p: str) -> None:
        agg.add(p + "den")
        limit = cfg.sla_seconds.get(obs.dims.priority or "")
        if limit is not None and obs.value <= limit:
            agg.add(p + "num")

    def csat_observe(obs: Observation, agg: Aggregate, p: str) -> None:
        agg.add(p + "den")
        if obs.value >= 4:
            agg.add(p + "num")

    def csat_mean_observe(obs: Observation, agg: Aggregate, p: str) -> None:
        agg.add(p + "den")
        agg.add(p + "num", obs.value)

    def nps_observe(obs: Observation, agg: Aggregate, p: str) -> None:
        agg.add(p + "den")
        if obs.value >= 9:
            agg.add(p + "num")
        elif obs.value <= 6:
            agg.add(p + "num", -1)

    def cost_observe(obs: Observation, agg: Aggregate, p: str) -> None:
        cost = obs.cost
        if cost is None and obs.handle_seconds is not None:
            rate = cfg.channel_hourly_rates.get(obs.dims.channel or "")
            if rate is not None:
                cost = obs.handle_seconds / 3600 * rate
        if cost is not None:
            agg.add(p + "den")
            agg.add(p + "num", cost)

    def self_service_observe(obs: Observation, agg: Aggregate, p: str) -> None:
        agg.add(p + "den")
        if obs.dims.channel == "self_service":
            agg.add(p + "num")

    def nps_compute(agg: Aggregate, p: str) -> KpiValue:
        return _ratio(agg, p, scale=100.0)

    k, P, S = KpiDefinition, KpiClass.PROCESS, KpiClass.SERVICE
    obs, up, down = ObsKind, Better.HIGHER, Better.LOWER
    return (
        k(
            "tickets_created",
            1,
            P,
            Better.NEITHER,
            "tickets",
            "created",
            frozenset({obs.CREATED}),
            _tally,
            _count,
        ),
        k(
            "tickets_resolved",
            1,
            P,
            Better.NEITHER,
            "tickets",
            "resolved",
            frozenset({obs.RESOLVED}),
            _tally,
            _count,
        ),
        k(
            "first_response_time",
            1,
            P,
            down,
            "seconds",
            "first agent_reply",
            frozenset({obs.FIRST_REPLY}),
            _sample_value,
            _quantiles,
            QUANTILE_STATS,
        ),
        k(
            "resolution_time",
            1,
            P,
            down,
            "seconds",
            "resolved",
            frozenset({obs.RESOLVED}),
            _sample_value,
            _quantiles,
            QUANTILE_STATS,
        ),
        k(
            "fcr_rate",
            1,
            P,
            up,
            "ratio",
            "resolved",
            frozenset({obs.RESOLVED}),
            fcr_observe,
            _ratio,
        ),
        k(
            "reopen_rate",
            1,
            P,
            down,
            "ratio",
            "reopened / resolved",
            frozenset({obs.REOPENED, obs.RESOLVED}),
            reopen_observe,
            _ratio,
        ),
        k(
            "escalation_rate",
            1,
            P,
            down,
            "ratio",
            "first escalated / created",
            frozenset({obs.FIRST_ESCALATED, obs.CREATED}),
            escalation_observe,
            _ratio,
        ),
        k(
            "sla_compliance",
            1,
            S,
            up,
            "ratio",
            "resolved",
            frozenset({obs.RESOLVED}),
            sla_observe,
            _ratio,
        ),
        k("csat", 1, S, up, "ratio", "csat survey", frozenset({obs.CSAT}), csat_observe, _ratio),
        k(
            "csat_mean",
            1,
            S,
            up,
            "score",
            "csat survey",
            frozenset({obs.CSAT}),
            csat_mean_observe,
            _ratio,
        ),
        k("nps", 1, S, up, "score", "nps survey", frozenset({obs.NPS}), nps_observe, nps_compute),
        k(
            "cost_per_interaction",
            1,
            S,
            down,
            "currency",
            "agent_reply",
            frozenset({obs.INTERACTION}),
            cost_observe,
            _ratio,
        ),
        k(
            "self_service_rate",
            1,
            S,
            up,
            "ratio",
            "resolved",
            frozenset({obs.RESOLVED}),
            self_service_observe,
            _ratio,
        ),
    )


def listeners(kpis: tuple[KpiDefinition, ...]) -> dict[ObsKind, tuple[KpiDefinition, ...]]:
    """Per observation kind, the KPIs that consume it (computed once, used per event)."""
    return {kind: tuple(k for k in kpis if kind in k.listens_to) for kind in ObsKind}
