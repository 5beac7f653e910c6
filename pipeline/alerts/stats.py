"""Small pure pieces shared by the alert engine and the drift detector: the Wilson interval that
makes a rate breach credible, scope matching, severities, episode ids, and the status row that
the Prometheus collector exports for every rule and concrete scope.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import NormalDist

from pipeline.alerts.model import AlertKind, AlertState, Objective, ScopeMatch, Severity
from pipeline.core.scopes import BREAKDOWNS, DIMENSIONS, Scope

__all__ = [
    "AlertStatus",
    "ScopeFilter",
    "episode_id",
    "relative_gap",
    "severity_for",
    "two_sided_z",
    "wilson_interval",
]

WILDCARD = "*"


@lru_cache(maxsize=32)
def two_sided_z(confidence: float) -> float:
    """The normal quantile z with P(-z < Z < z) = confidence (1.959964 for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion with ``successes`` out of ``n``, two-sided at
    ``confidence``. Unlike the normal (Wald) interval it stays inside [0, 1] and does not collapse
    to a point at 0% or 100%, which matters for the small samples of a quiet scope. ``successes``
    may be fractional (a rate times its denominator); it is clamped to [0, n]. With no sample at
    all nothing is known: (0, 1)."""
    if n <= 0:
        return (0.0, 1.0)
    z = two_sided_z(confidence)
    p = min(max(successes / n, 0.0), 1.0)
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def relative_gap(gap: float | None, reference: float | None) -> float | None:
    """``gap`` relative to ``|reference|``; None when either is unknown or the reference is 0
    (a relative distance to zero has no meaning)."""
    if gap is None or reference is None or reference == 0.0:
        return None
    return gap / abs(reference)


def severity_for(severities: tuple[Severity, ...], gap: float) -> str | None:
    """The highest severity whose ``min_gap`` the gap reaches. ``severities`` must be sorted by
    ``min_gap``. A credible breach with a gap below every threshold still gets the lowest
    severity: it is a breach of the objective, and an alert without a severity cannot be routed."""
    if not severities:
        return None
    chosen = severities[0].name
    for severity in severities:
        if severity.min_gap <= gap:
            chosen = severity.name
        else:
            break
    return chosen


def episode_id(kind: AlertKind, rule_id: str, scope_key: str, started_at: float) -> str:
    """Stable id of one alert episode: the same on every replay and restart, since it depends
    only on the rule, the concrete scope and the event time the episode began."""
    text = "\x1e".join([kind.value, rule_id, scope_key, repr(float(started_at))])
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


class ScopeFilter:
    """Whether a concrete scope belongs to a ``ScopeMatch``: same breakdown, and each dimension
    of the breakdown equal to the match's value, or any value for ``"*"`` (or for None: a
    dimension the rule leaves open, such as every team of a service)."""

    __slots__ = ("breakdown", "required")

    def __init__(self, match: ScopeMatch, rule: str) -> None:
        if match.breakdown not in BREAKDOWNS:
            raise ValueError(
                f"{rule}: unknown breakdown {match.breakdown!r}; known: {sorted(BREAKDOWNS)}"
            )
        split = BREAKDOWNS[match.breakdown]
        for dim in DIMENSIONS:
            value = getattr(match, dim)
            # A value on a dimension the breakdown does not split by could never match: refuse
            # it rather than silently watching nothing.
            if dim not in split and value is not None:
                raise ValueError(
                    f"{rule}: scope sets {dim}={value!r} but breakdown {match.breakdown!r} "
                    f"does not split by {dim}"
                )
        self.breakdown = match.breakdown
        self.required: tuple[tuple[str, str], ...] = tuple(
            (dim, value)
            for dim in split
            if (value := getattr(match, dim)) is not None and value != WILDCARD
        )

    def __call__(self, scope: Scope) -> bool:
        if scope.breakdown != self.breakdown:
            return False
        return all(getattr(scope, dim) == value for dim, value in self.required)


@dataclass(frozen=True, slots=True)
class AlertStatus:
    """The current state of one rule in one concrete scope: one row of Prometheus series.

    For targets, ``value`` is the KPI's value in the newest window, ``gap`` its distance to the
    objective (0 when met). For drift checks, ``value`` is the newest usable window's value,
    ``ewma`` the chart statistic, ``baseline`` and ``lower``/``upper`` the centre line and control
    limits, and ``gap`` how far the EWMA lies outside the limits (0 inside). ``severity`` is set
    while pending (the severity it would fire with) and firing."""

    kind: AlertKind
    rule_id: str
    kpi: str
    stat: str
    window: str
    scope: Scope
    state: AlertState
    severity: str | None
    value: float | None
    objective: Objective | None
    gap: float | None
    gap_relative: float | None
    sample_size: int
    window_end: float | None  # event time of the newest window that updated this row
    started_at: float | None = None  # of the open episode
    episode_id: str | None = None
    baseline: float | None = None
    lower: float | None = None
    upper: float | None = None
    ewma: float | None = None
    labels: dict[str, str] = field(default_factory=dict)  # scope.labels()
    # Forecasts: seconds of event time until the target is expected to be breached (None: no
    # breach within the horizon).
    breach_in: float | None = None
