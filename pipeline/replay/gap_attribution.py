"""Which status contributes most to each missed resolution-time or SLA target, for the replay
summary (the rule: pipeline/core/bottlenecks.py).

A target's scope missed it when at least one of its judged windows (with the target's minimum
sample) was on the wrong side of the objective; the worst such window is shown. Status time and
resolutions are summed over the range's windows of one tumbling window spec, as for the
where-the-time-goes board, so no visit and no resolution counts twice."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.alerts.model import Target
from pipeline.alerts.stats import ScopeFilter
from pipeline.core.bottlenecks import ATTRIBUTED_KPIS, Contributor, largest_contributor
from pipeline.core.results import WindowResult
from pipeline.core.scopes import BREAKDOWNS, Scope
from pipeline.replay.bottlenecks import PREFIX
from pipeline.replay.summary import TargetTally, amount

__all__ = ["GapAttribution"]

_DESK = Scope("all")
_RESOLVED = "tickets_resolved"


@dataclass
class _Miss:
    value: float
    gap: float


class GapAttribution:
    def __init__(self, targets: Sequence[Target], window: str | None, scopes: int = 10) -> None:
        self.window = window  # a tumbling window spec's name; None: no section
        self.targets = [t for t in targets if t.kpi in ATTRIBUTED_KPIS] if window else []
        self.scopes = scopes  # the most missed scopes per target
        self._tally = TargetTally(self.targets)  # judges windows as the targets table does
        self._filters = [ScopeFilter(t.scope, t.id) for t in self.targets]
        self.misses: dict[tuple[int, Scope], _Miss] = {}  # worst missed window
        self.status_seconds: dict[Scope, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.resolved: dict[Scope, float] = defaultdict(float)

    def watched(self, kpis: Iterable[str]) -> frozenset[tuple[str, str, str]]:
        """The (kpi, stat, window) triples ``add`` reads, of these KPI names."""
        if not self.targets or self.window is None:
            return frozenset()
        names = [k for k in kpis if k.startswith(PREFIX)]
        return frozenset(
            [(k, "mean", self.window) for k in names] + [(_RESOLVED, "value", self.window)]
        )

    def judge(self, results: Iterable[WindowResult]) -> None:
        """The targets' own results: which scopes missed, and by how much at worst."""
        for i, r, value, gap in self._tally.judged(results):
            miss = self.misses.get((i, r.scope))
            if gap > 0 and (miss is None or gap > miss.gap):
                self.misses[(i, r.scope)] = _Miss(value, gap)

    def add(self, results: Iterable[WindowResult]) -> None:
        """Status time and resolutions of the scopes a target covers, and of the desk."""
        for r in results:
            if r.window != self.window or r.value is None:
                continue
            if r.scope != _DESK and not any(f(r.scope) for f in self._filters):
                continue
            if r.kpi == _RESOLVED and r.stat == "value":
                self.resolved[r.scope] += r.value
            elif r.kpi.startswith(PREFIX) and r.stat == "mean":
                self.status_seconds[r.scope][r.kpi.removeprefix(PREFIX)] += r.value * r.sample_size

    def per_ticket(self, scope: Scope) -> dict[str, float]:
        """Status -> seconds per resolved ticket in ``scope`` over the range."""
        resolved = self.resolved.get(scope, 0.0)
        seconds = self.status_seconds.get(scope, {})
        return {s: t / resolved for s, t in seconds.items()} if resolved else {}

    def lines(self, units: Mapping[str, str]) -> list[str]:
        """The section as markdown lines (none without a missed target of these KPIs)."""
        if not self.misses:
            return []
        out = [
            "## Which status contributes most to missed resolution and SLA targets",
            "",
            f"Per scope that missed a target on {', '.join(ATTRIBUTED_KPIS)} (its worst judged "
            "window): the status whose time per resolved ticket exceeds the whole desk's by "
            "the most, or for an organisation-wide target the status with the most time per "
            f"resolved ticket. Time per resolved ticket: the {self.window} windows summed over "
            "the range, status time over the tickets resolved in the scope. See "
            "docs/kpis.md.",
            "",
        ]
        desk = self.per_ticket(_DESK)
        for i, t in enumerate(self.targets):
            missed = sorted(
                ((scope, m) for (j, scope), m in self.misses.items() if j == i),
                key=lambda item: (-item[1].gap, item[0].encode()),
            )
            unit = units.get(t.kpi, "")
            for scope, miss in missed[: self.scopes]:
                head = (
                    f"- `{t.id}`: {t.kpi} {t.stat} on {_scope_text(scope)}: "
                    f"{amount(miss.value, unit)} against {t.objective.op} "
                    f"{amount(t.objective.value, unit)} (gap {amount(miss.gap, unit)}); "
                )
                # Without organisation-wide figures (no "all" breakdown) there is nothing to
                # compare with: the largest status, as for the desk itself.
                against = desk if scope != _DESK and desk else None
                top = largest_contributor(self.per_ticket(scope), against)
                out.append(head + _contribution(top, against is not None))
        out.append("")
        return out


def _scope_text(scope: Scope) -> str:
    if scope.breakdown == "all":
        return "the whole desk"
    labels = scope.labels()
    return ", ".join(f"{d}={labels[d]}" for d in BREAKDOWNS[scope.breakdown])


def _contribution(top: Contributor | None, compared: bool) -> str:
    if top is None:
        if compared:
            return "no status takes more time per resolved ticket here than across the desk."
        return "no status moves in this scope."
    text = (
        f"{top.status} takes {amount(top.per_ticket, 'seconds')} per resolved ticket "
        f"({100 * top.share:.0f}%)"
    )
    if top.excess is not None:
        text += f", {amount(top.excess, 'seconds')} more than across the desk"
    return text + " — the largest contributor."
