"""``summary.md``: what was replayed, the KPIs against their targets, links to the CSVs and
the plots."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.alerts.model import AlertState, Target
from pipeline.alerts.stats import ScopeFilter
from pipeline.core.results import WindowResult, iso
from pipeline.replay.episodes import Episode

__all__ = ["ReplayFacts", "TargetTally", "amount", "write_summary"]


@dataclass
class _Tally:
    windows: int = 0  # windows with enough sample to judge
    met: int = 0
    worst_value: float | None = None
    worst_gap: float = 0.0
    scopes: set[str] = field(default_factory=set)


class TargetTally:
    """Per target: how many judged windows met the objective, and the worst one."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self.targets = list(targets)
        self._filters = [ScopeFilter(t.scope, t.id) for t in self.targets]
        self._by_key: dict[tuple[str, str, str], list[int]] = {}
        for i, t in enumerate(self.targets):
            self._by_key.setdefault((t.kpi, t.stat, t.window), []).append(i)
        self.tallies = [_Tally() for _ in self.targets]

    def judged(
        self, results: Iterable[WindowResult]
    ) -> Iterator[tuple[int, WindowResult, float, float]]:
        """(target index, result, value, gap) of each window judged against a target: in its
        scope, with its minimum sample."""
        for r in results:
            for i in self._by_key.get((r.kpi, r.stat, r.window), ()):
                t = self.targets[i]
                if r.value is None or r.sample_size < t.min_sample or not self._filters[i](r.scope):
                    continue
                yield i, r, r.value, t.objective.gap(r.value)

    def add(self, results: Iterable[WindowResult]) -> None:
        for i, r, value, gap in self.judged(results):
            tally = self.tallies[i]
            tally.windows += 1
            tally.scopes.add(r.scope.encode())
            if gap == 0:
                tally.met += 1
            elif gap > tally.worst_gap:
                tally.worst_gap, tally.worst_value = gap, value


@dataclass
class ReplayFacts:
    start: float
    end: float
    records: int
    received: Counter[str]
    rejected: Counter[str]
    windows: int  # closed windows (window spec x end) inside the range
    rows: int  # rows of the tidy CSV
    elapsed: float
    targets_source: str | None


def write_summary(  # noqa: PLR0913, PLR0917 (one argument per section of the summary)
    path: Path,
    facts: ReplayFacts,
    tally: TargetTally,
    episodes: Iterable[Episode],
    plots: Sequence[Path],
    plot_window: str,
    units: Mapping[str, str] | None = None,
    sections: Sequence[str] = (),
    bottlenecks: Sequence[str] = (),
) -> None:
    """``units``: KPI name -> unit, so that times read as durations; ``sections``: lines of
    further sections (improvements), after the targets; ``bottlenecks``: the lines of the
    where-the-time-goes board, if any."""
    units = units or {}
    episode_list = list(episodes)
    fired: Counter[str] = Counter()
    pending_only: Counter[str] = Counter()
    for e in episode_list:
        if e.firing_at is not None or e.state is AlertState.FIRING:
            fired[e.rule] += 1
        else:
            pending_only[e.rule] += 1
    rate = facts.records / facts.elapsed if facts.elapsed > 0 else 0.0
    lines = [
        "# KPI replay",
        "",
        f"Event time {iso(facts.start)} to {iso(facts.end)}: {facts.records} records read "
        f"({_counts(facts.received)}) in {facts.elapsed:.1f} s ({rate:.0f} records/s).",
        f"Rejected (the live worker's dead-letter reasons): {_counts(facts.rejected) or 'none'}.",
        f"{facts.windows} closed windows inside the range; {facts.rows} rows in "
        "[kpis.csv](kpis.csv) (one per window x KPI x statistic x scope, with sample sizes).",
        "",
        "## KPIs against targets",
        "",
    ]
    if not tally.targets:
        lines.append("No targets file: no targets judged, no alerts evaluated.")
    else:
        lines += [
            f"Targets from `{facts.targets_source}`. A window is judged when it has the "
            "target's minimum sample.",
            "",
            "| target | KPI | stat | window | objective | windows judged | met | worst value "
            "| episodes fired | pending only |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for t, s in zip(tally.targets, tally.tallies, strict=True):
            met = f"{100.0 * s.met / s.windows:.0f}%" if s.windows else "-"
            unit = units.get(t.kpi, "")
            worst = amount(s.worst_value, unit) if s.worst_value is not None else "-"
            lines.append(
                f"| {t.id} | {t.kpi} | {t.stat} | {t.window} | {t.objective.op} "
                f"{amount(t.objective.value, unit)} | {s.windows} | {met} | {worst} "
                f"| {fired[t.id]} | {pending_only[t.id]} |"
            )
    lines += list(sections)
    lines += ["", *bottlenecks]
    lines += [
        f"## Alert episodes: {len(episode_list)}",
        "",
        "Every episode that would have been raised, with its pending, firing and resolved "
        "times and worst gap: [alerts.csv](alerts.csv).",
        "",
        f"## Plots ({plot_window} windows; organisation and busiest services)",
        "",
    ]
    for plot in plots:
        rel = plot.relative_to(path.parent).as_posix()
        lines += [f"### {plot.stem}", "", f"![{plot.stem}]({rel})", ""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def amount(value: float, unit: str) -> str:
    if unit != "seconds":
        return f"{value:.4g}"
    for size, name in ((86400.0, "d"), (3600.0, "h"), (60.0, "min")):
        if abs(value) >= 2 * size:
            return f"{value / size:.1f} {name}"
    return f"{value:.0f} s"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counter.items()))
