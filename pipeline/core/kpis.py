"""The KPI catalogue, version 1 (SPEC section 4): every KPI's definition in one place.

A definition names the accumulators it owns (integer counters, and for quantile KPIs one
sketch), says how one observation updates them (``observe``, called once per observation on
the cell the observation counts in) and how accumulators become values with their sample size
(``compute``, vectorised over every scope being computed at once).

Accumulator names embed the KPI's name and version (``fcr_rate.v1.num``): bumping a version
gives the KPI fresh columns, so state computed by the old formula never mixes with the new one.

Every accumulator is an integer, so adding a pane to a window and subtracting it later is exact
and a window's value does not depend on the order in which panes were merged:

- durations are summed in whole microseconds (``total_us``);
- costs are summed in fixed point with 2^-40 resolution (about 1e-12 of a currency unit), split
  into a high and a low integer column so that sums never overflow 64 bits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

from pipeline.core.observations import STATUS_VISITS, Observation, ObsKind
from pipeline.core.sketch import MIN_POSITIVE, key_of
from pipeline.core.sla import SlaPolicy

__all__ = [
    "CATALOGUE_VERSION",
    "COST_SCALE",
    "DEFAULT_CHANNEL_HOURLY_RATES",
    "DEFAULT_SLA_SECONDS",
    "QUANTILE_STATS",
    "Better",
    "Columns",
    "KpiClass",
    "KpiConfig",
    "KpiDefinition",
    "catalogue",
    "listeners",
]

CATALOGUE_VERSION = 1
QUANTILE_STATS = ("mean", "p50", "p90")
_QUANTILES = (0.5, 0.9)
DEFAULT_SLA_SECONDS = {"P1": 4 * 3600, "P2": 8 * 3600, "P3": 24 * 3600, "P4": 72 * 3600}
DEFAULT_CHANNEL_HOURLY_RATES = {
    "phone": 40.0,
    "email": 30.0,
    "chat": 30.0,
    "web": 30.0,
    "self_service": 0.0,
    "social": 30.0,
}
COST_SCALE = 2.0**40  # fixed-point resolution of summed costs
_LOW_BITS = 30
_LOW_MASK = (1 << _LOW_BITS) - 1

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


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
    # An SLA policy file's content (pipeline.sla); when given it replaces ``sla_seconds``.
    sla_policy: SlaPolicy | None = None

    def policy(self) -> SlaPolicy:
        """The SLA policy in force: the file's, else 24/7, no pauses, ``sla_seconds``."""
        if self.sla_policy is not None:
            return self.sla_policy
        return SlaPolicy(resolution=dict(self.sla_seconds))


class Columns(Protocol):
    """The accumulators of the scopes being computed, as the compute functions read them."""

    def counter(self, column: int) -> Ints: ...

    def quantiles(self, sketch: int, qs: tuple[float, ...]) -> Floats: ...


# observe(observation, counters row of the cell, the cell's sketch samples, this KPI's slots)
Observe = Callable[[Observation, list[int], list[tuple[int, int]], tuple[int, ...]], None]
# compute(accumulators, this KPI's slots) -> (stat -> values with NaN for none, sample sizes)
Compute = Callable[[Columns, tuple[int, ...]], tuple[dict[str, Floats], Ints]]


@dataclass(frozen=True)
class KpiDefinition:
    name: str
    version: int
    kpi_class: KpiClass
    better: Better
    unit: str
    anchor: str
    listens_to: frozenset[ObsKind]
    counters: tuple[str, ...]  # accumulator names local to the KPI
    observe_fn: Observe
    compute_fn: Compute
    stats: tuple[str, ...] = ("value",)
    # A quantile KPI owns one sketch; its slot follows the counter columns in ``slots``.
    sketch: bool = False

    @property
    def prefix(self) -> str:
        return f"{self.name}.v{self.version}."

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of its counter columns, version included."""
        return tuple(self.prefix + c for c in self.counters)

    @property
    def sketch_name(self) -> str | None:
        return self.prefix + "sketch" if self.sketch else None


# --- building blocks ---------------------------------------------------------------------------
# Slots: the KPI's counter columns in the order of ``counters``, then its sketch slot.


def _count_observe(
    obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
) -> None:
    row[c[0]] += 1


def _count(cols: Columns, c: tuple[int, ...]) -> tuple[dict[str, Floats], Ints]:
    n = cols.counter(c[0])
    return {"value": n.astype(np.float64)}, n


def _ratio(cols: Columns, c: tuple[int, ...], scale: float = 1.0) -> tuple[dict[str, Floats], Ints]:
    num, den = cols.counter(c[0]), cols.counter(c[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(den > 0, scale * num / den, np.nan)
    return {"value": value}, den


def _sample_observe(
    obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
) -> None:
    """A duration sample: counted, summed in microseconds, and put in the sketch."""
    value = obs.value
    if value < 0:
        raise ValueError(f"sketch values must be >= 0, got {value}")
    row[c[0]] += 1
    row[c[1]] += round(value * 1e6)
    if value > MIN_POSITIVE:
        s.append((c[3], key_of(value)))
    else:
        row[c[2]] += 1


def _sla_sample_observe(
    obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
) -> None:
    """A duration on the SLA clock, like ``_sample_observe``."""
    value = obs.sla_value
    if value < 0:
        raise ValueError(f"sketch values must be >= 0, got {value}")
    row[c[0]] += 1
    row[c[1]] += round(value * 1e6)
    if value > MIN_POSITIVE:
        s.append((c[3], key_of(value)))
    else:
        row[c[2]] += 1


def _quantiles(cols: Columns, c: tuple[int, ...]) -> tuple[dict[str, Floats], Ints]:
    n = cols.counter(c[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, cols.counter(c[1]) / (n * 1e6), np.nan)
    q = cols.quantiles(c[3], _QUANTILES)
    return {"mean": mean, "p50": q[:, 0], "p90": q[:, 1]}, n


def _fixed(amount: float) -> tuple[int, int]:
    """An amount in fixed point, as (high, low) integers."""
    v = int(amount * COST_SCALE)
    return v >> _LOW_BITS, v & _LOW_MASK


def _fixed_sum(high: Ints, low: Ints) -> Floats:
    # Both sums are exact integers below 2^53, so the value is the fixed-point sum rounded once.
    return (
        high.astype(np.float64) * (2.0**_LOW_BITS / COST_SCALE)
        + low.astype(np.float64) / COST_SCALE
    )


def catalogue(config: KpiConfig | None = None) -> tuple[KpiDefinition, ...]:  # noqa: C901, PLR0915 (the catalogue: every KPI definition in one place, by design)
    """All windowed KPIs of catalogue version 1, with the configured SLA policy and cost rates.
    (Backlog is a level at the watermark, not a windowed KPI: see ``lifecycle``.)"""
    cfg = config or KpiConfig()
    policy = cfg.policy()
    resolution_limit = policy.resolution_limit
    first_response_limit = policy.first_response_limit
    rates = dict(cfg.channel_hourly_rates)

    def fcr_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        if obs.first_resolution:
            row[c[1]] += 1
            if obs.fcr:
                row[c[0]] += 1

    # Enum members read once, not per observation (a descriptor call each on Python 3.11).
    reopened, first_escalated = ObsKind.REOPENED, ObsKind.FIRST_ESCALATED

    def reopen_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        row[c[0] if obs.kind is reopened else c[1]] += 1

    def escalation_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        row[c[0] if obs.kind is first_escalated else c[1]] += 1

    def sla_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        row[c[1]] += 1
        limit = resolution_limit(obs.dims.service, obs.dims.priority)
        if limit is not None and obs.sla_value <= limit:
            row[c[0]] += 1

    def first_response_sla_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        # Counted only where the policy sets a first-response limit for the ticket.
        limit = first_response_limit(obs.dims.service, obs.dims.priority)
        if limit is not None:
            row[c[1]] += 1
            if obs.sla_value <= limit:
                row[c[0]] += 1

    def paused_share_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        row[c[0]] += round(obs.paused * 1e6)
        row[c[1]] += round(obs.business * 1e6)
        row[c[2]] += 1

    def paused_share_compute(cols: Columns, c: tuple[int, ...]) -> tuple[dict[str, Floats], Ints]:
        num, den = cols.counter(c[0]), cols.counter(c[1])
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den > 0, num / den, np.nan)
        return {"value": value}, cols.counter(c[2])

    def handoffs_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        row[c[0]] += obs.handoffs
        row[c[1]] += 1

    def csat_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        row[c[1]] += 1
        if obs.value >= 4:
            row[c[0]] += 1

    def csat_mean_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        row[c[1]] += 1
        row[c[0]] += int(obs.value)

    def nps_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        row[c[1]] += 1
        if obs.value >= 9:
            row[c[0]] += 1
        elif obs.value <= 6:
            row[c[0]] -= 1

    def nps_compute(cols: Columns, c: tuple[int, ...]) -> tuple[dict[str, Floats], Ints]:
        return _ratio(cols, c, scale=100.0)

    def cost_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        cost = obs.cost
        if cost is None and obs.handle_seconds is not None:
            rate = rates.get(obs.dims.channel or "")
            if rate is not None:
                cost = obs.handle_seconds / 3600 * rate
        if cost is not None:
            high, low = _fixed(cost)
            row[c[0]] += high
            row[c[1]] += low
            row[c[2]] += 1

    def cost_compute(cols: Columns, c: tuple[int, ...]) -> tuple[dict[str, Floats], Ints]:
        den = cols.counter(c[2])
        total = _fixed_sum(cols.counter(c[0]), cols.counter(c[1]))
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(den > 0, total / den, np.nan)
        return {"value": value}, den

    def self_service_observe(
        obs: Observation, row: list[int], s: list[tuple[int, int]], c: tuple[int, ...]
    ) -> None:
        row[c[1]] += 1
        if obs.dims.channel == "self_service":
            row[c[0]] += 1

    k, P, S = KpiDefinition, KpiClass.PROCESS, KpiClass.SERVICE
    obs, up, down, neither = ObsKind, Better.HIGHER, Better.LOWER, Better.NEITHER
    ratio = ("num", "den")
    sketch = ("n", "total_us", "zeros")
    return (
        k("tickets_created", 1, P, neither, "tickets", "created",
          frozenset({obs.CREATED}), ("n",), _count_observe, _count),
        k("tickets_resolved", 1, P, neither, "tickets", "resolved",
          frozenset({obs.RESOLVED}), ("n",), _count_observe, _count),
        k("first_response_time", 1, P, down, "seconds", "first agent_reply",
          frozenset({obs.FIRST_REPLY}), sketch, _sample_observe, _quantiles,
          QUANTILE_STATS, sketch=True),
        k("resolution_time", 1, P, down, "seconds", "resolved",
          frozenset({obs.RESOLVED}), sketch, _sample_observe, _quantiles,
          QUANTILE_STATS, sketch=True),
        k("fcr_rate", 1, P, up, "ratio", "resolved",
          frozenset({obs.RESOLVED}), ratio, fcr_observe, _ratio),
        k("reopen_rate", 1, P, down, "ratio", "reopened / resolved",
          frozenset({obs.REOPENED, obs.RESOLVED}), ratio, reopen_observe, _ratio),
        k("escalation_rate", 1, P, down, "ratio", "first escalated / created",
          frozenset({obs.FIRST_ESCALATED, obs.CREATED}), ratio, escalation_observe, _ratio),
        k("sla_compliance", 2, S, up, "ratio", "resolved",
          frozenset({obs.RESOLVED}), ratio, sla_observe, _ratio),
        k("first_response_sla_compliance", 1, S, up, "ratio", "first agent_reply",
          frozenset({obs.FIRST_REPLY}), ratio, first_response_sla_observe, _ratio),
        k("csat", 1, S, up, "ratio", "csat survey",
          frozenset({obs.CSAT}), ratio, csat_observe, _ratio),
        k("csat_mean", 1, S, up, "score", "csat survey",
          frozenset({obs.CSAT}), ratio, csat_mean_observe, _ratio),
        k("nps", 1, S, up, "score", "nps survey",
          frozenset({obs.NPS}), ratio, nps_observe, nps_compute),
        k("cost_per_interaction", 1, S, down, "currency", "agent_reply",
          frozenset({obs.INTERACTION}), ("num_high", "num_low", "den"), cost_observe,
          cost_compute),
        k("self_service_rate", 1, S, up, "ratio", "resolved",
          frozenset({obs.RESOLVED}), ratio, self_service_observe, _ratio),
        k("sla_resolution_time", 1, P, down, "seconds", "resolved",
          frozenset({obs.RESOLVED}), sketch, _sla_sample_observe, _quantiles,
          QUANTILE_STATS, sketch=True),
        k("sla_paused_share", 1, P, neither, "ratio", "resolved",
          frozenset({obs.RESOLVED}), ("paused_us", "business_us", "n"), paused_share_observe,
          paused_share_compute),
        k("handoffs_per_resolved", 1, P, down, "handoffs", "resolved",
          frozenset({obs.RESOLVED}), ("num", "den"), handoffs_observe, _ratio),
        *(
            k(f"time_in_status_{status}", 1, P, down, "seconds", f"leaving {status} or resolved",
              frozenset({kind}), sketch, _sample_observe, _quantiles, QUANTILE_STATS, sketch=True)
            for status, kind in STATUS_VISITS.items()
        ),
    )  # fmt: skip


def listeners(kpis: tuple[KpiDefinition, ...]) -> dict[ObsKind, tuple[KpiDefinition, ...]]:
    """Per observation kind, the KPIs that consume it (computed once, used per event)."""
    return {kind: tuple(k for k in kpis if kind in k.listens_to) for kind in ObsKind}
