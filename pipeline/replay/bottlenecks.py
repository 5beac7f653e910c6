"""Where resolution time goes, per service: the replay's time-in-status KPIs summed over the
range (mean x visits, per window of one tumbling window spec, so no time counts twice) and
ranked, for the summary's bottleneck board."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from pipeline.core.results import WindowResult

__all__ = ["PREFIX", "Bottlenecks"]

PREFIX = "time_in_status_"
ALL = "(all services)"


class Bottlenecks:
    def __init__(self, window: str | None) -> None:
        self.window = window  # a tumbling window spec's name; None: no board
        # service -> status -> [visit seconds, visits]
        self.totals: dict[str, dict[str, list[float]]] = defaultdict(
            lambda: defaultdict(lambda: [0.0, 0.0])
        )

    def watched(self, kpis: Iterable[str]) -> frozenset[tuple[str, str, str]]:
        """The (kpi, stat, window) triples ``add`` reads, of these KPI names."""
        if self.window is None:
            return frozenset()
        return frozenset((k, "mean", self.window) for k in kpis if k.startswith(PREFIX))

    def add(self, results: Iterable[WindowResult]) -> None:
        if self.window is None:
            return
        for r in results:
            if (
                r.stat != "mean"
                or r.window != self.window
                or r.value is None
                or not r.kpi.startswith(PREFIX)
            ):
                continue
            if r.scope.breakdown == "all":
                service = ALL
            elif r.scope.breakdown == "service" and r.scope.service is not None:
                service = r.scope.service
            else:
                continue
            total = self.totals[service][r.kpi.removeprefix(PREFIX)]
            total[0] += r.value * r.sample_size
            total[1] += r.sample_size

    def lines(self, services: int = 10) -> list[str]:
        """The board as markdown lines (none when the range had no status moves)."""
        if not self.totals:
            return []
        ranked = sorted(
            (s for s in self.totals if s != ALL),
            key=lambda s: -sum(t[0] for t in self.totals[s].values()),
        )
        rows = [ALL, *ranked[:services]] if ALL in self.totals else ranked[:services]
        out = [
            f"## Where resolution time goes ({self.window} windows summed over the range)",
            "",
            "Time in each status (status visits that ended in the range: when the ticket left "
            "the status or was resolved), per service, largest first; the services with the "
            f"most status time (top {services}).",
            "",
            "| service | status time | visits | statuses by share of the time (mean visit) |",
            "|---|---|---|---|",
        ]
        for service in rows:
            statuses = self.totals[service]
            total = sum(t[0] for t in statuses.values())
            visits = int(sum(t[1] for t in statuses.values()))
            shares = sorted(statuses.items(), key=lambda item: -item[1][0])
            text = ", ".join(
                f"{status} {100 * seconds / total:.0f}% ({_hours(seconds / n)})"
                for status, (seconds, n) in shares
                if n
            )
            out.append(f"| {service} | {_hours(total)} | {visits:,} | {text} |")
        out.append("")
        return out


def _hours(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:,.1f} d"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"
