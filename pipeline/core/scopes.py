"""Breakdowns: the organisation-wide rollup, per service, and service x team/channel/priority.

A scope is one breakdown with its dimension values; it is encoded as a short string for table keys
and record keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.core.observations import Dims

__all__ = ["BREAKDOWNS", "DIMENSIONS", "Scope", "scopes_of", "validate_breakdowns"]

# breakdown name -> the dimensions it splits by (besides nothing, for "all")
BREAKDOWNS: dict[str, tuple[str, ...]] = {
    "all": (),
    "service": ("service",),
    "service_team": ("service", "team"),
    "service_channel": ("service", "channel"),
    "service_priority": ("service", "priority"),
}
DIMENSIONS = ("service", "team", "channel", "priority")
_SEP = "\x1f"


@dataclass(frozen=True, slots=True)
class Scope:
    breakdown: str
    service: str | None = None
    team: str | None = None
    channel: str | None = None
    priority: str | None = None

    def encode(self) -> str:
        values = [getattr(self, d) or "" for d in BREAKDOWNS[self.breakdown]]
        return _SEP.join([self.breakdown, *values])

    @classmethod
    def decode(cls, text: str) -> Scope:
        breakdown, *values = text.split(_SEP)
        return cls(breakdown, **dict(zip(BREAKDOWNS[breakdown], values, strict=True)))

    def labels(self) -> dict[str, str]:
        """Every dimension as a label; those the breakdown does not split by are empty."""
        # Asked for every KPI row of every scrape: built once per scope, copied on the way out.
        cached = _LABELS.get(self)
        if cached is None:
            cached = {
                "breakdown": self.breakdown,
                **{d: getattr(self, d) or "" for d in DIMENSIONS},
            }
            if len(_LABELS) < _LABELS_MAX:
                _LABELS[self] = cached
        return dict(cached)


# Scopes are few (breakdowns x dimension values); bounded all the same.
_LABELS_MAX = 100_000
_LABELS: dict[Scope, dict[str, str]] = {}


def validate_breakdowns(names: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(names)
    unknown = [n for n in chosen if n not in BREAKDOWNS]
    if unknown:
        raise ValueError(f"unknown breakdowns {unknown}; known: {sorted(BREAKDOWNS)}")
    return chosen


def scopes_of(dims: Dims, breakdowns: Iterable[str]) -> list[Scope]:
    """The scopes an observation with these dimensions counts in. A breakdown whose dimension is
    unknown for this observation (a survey without a team) is skipped, not guessed."""
    names = tuple(breakdowns)
    # Asked for every observation (and backlog move): computed once per dimension values.
    cached = _SCOPES.get((dims, names))
    if cached is None:
        cached = []
        for name in names:
            values = {d: getattr(dims, d) for d in BREAKDOWNS[name]}
            if all(v is not None for v in values.values()):
                cached.append(Scope(name, **values))
        if len(_SCOPES) < _LABELS_MAX:
            _SCOPES[(dims, names)] = cached
    return list(cached)


_SCOPES: dict[tuple[Dims, tuple[str, ...]], list[Scope]] = {}
