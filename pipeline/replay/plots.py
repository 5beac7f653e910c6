"""SVG charts of each KPI over time: the organisation and the busiest services, one panel each,
against the target of that scope, with the alert episodes shaded (pending amber, firing red).

Only one window spec is plotted (the longest by default: overlapping short windows over months
are noise at this scale), and only the ``all`` and ``service`` breakdowns, kept as compact arrays,
so a long history costs a few bytes per window and scope.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from pipeline.alerts.model import AlertState, Benchmark, Target
from pipeline.alerts.stats import ScopeFilter
from pipeline.core.kpis import KpiDefinition
from pipeline.core.results import WindowResult
from pipeline.core.scopes import Scope
from pipeline.engine.frames import WindowFrame
from pipeline.replay.charts import BLACK, DOTTED, PALETTE, Chart, Panel
from pipeline.replay.episodes import Episode

__all__ = ["SeriesStore", "render_plots"]

_PLOTTED_BREAKDOWNS = ("all", "service")
_COLUMNS = 2
_PENDING, _FIRING = "#ffa500", "#ff0000"  # alert episodes: amber, red


class _Series:
    __slots__ = ("ends", "values")

    def __init__(self) -> None:
        self.ends = array("d")
        self.values = array("d")


class SeriesStore:
    """The plotted window's values per KPI, scope and statistic."""

    def __init__(self, window: str) -> None:
        self.window = window
        self.series: dict[tuple[str, Scope], dict[str, _Series]] = {}
        self.samples: Counter[tuple[str, Scope]] = Counter()
        self.with_values: set[tuple[str, Scope]] = set()  # scopes with at least one value
        self.last_end = -math.inf

    def add(self, results: Iterable[WindowResult]) -> None:
        for r in results:
            if r.window != self.window or r.scope.breakdown not in _PLOTTED_BREAKDOWNS:
                continue
            key = (r.kpi, r.scope)
            by_stat = self.series.setdefault(key, {})
            series = by_stat.get(r.stat)
            if series is None:
                series = by_stat[r.stat] = _Series()
            series.ends.append(r.end)
            if r.value is None:
                series.values.append(math.nan)
            else:
                series.values.append(r.value)
                self.with_values.add(key)
            if r.stat in ("value", "mean"):
                self.samples[key] += r.sample_size
            self.last_end = max(self.last_end, r.end)

    def add_frame(self, frame: WindowFrame) -> None:
        """``add`` for one closed window as the engine makes it (the same series)."""
        if frame.window != self.window or not frame.scopes:
            return
        layout = frame.layout
        columns = [(c, layout.kpis[k].name, k, stat) for c, (k, stat) in enumerate(layout.stats)]
        end = frame.end
        for row, scope in enumerate(frame.scopes):
            if scope.breakdown not in _PLOTTED_BREAKDOWNS:
                continue
            values, samples = frame.values[row].tolist(), frame.samples[row].tolist()
            for c, kpi, k, stat in columns:
                key = (kpi, scope)
                by_stat = self.series.setdefault(key, {})
                series = by_stat.get(stat)
                if series is None:
                    series = by_stat[stat] = _Series()
                series.ends.append(end)
                v = values[c]
                series.values.append(v)  # NaN: no value
                if v == v:  # noqa: PLR0124 (not NaN: a value; the cheapest test)
                    self.with_values.add(key)
                if stat in ("value", "mean"):
                    self.samples[key] += samples[k]
        self.last_end = max(self.last_end, end)

    def scopes(self, kpi: str, services: int) -> list[Scope]:
        """The organisation, then the services with the largest samples of this KPI."""
        seen = [s for k, s in self.with_values if k == kpi]
        org = [s for s in seen if s.breakdown == "all"]
        ranked = sorted(
            (s for s in seen if s.breakdown == "service"),
            key=lambda s: (-self.samples[(kpi, s)], s.service or ""),
        )
        return org + ranked[:services]


def render_plots(
    store: SeriesStore,
    kpis: Sequence[KpiDefinition],
    targets: Sequence[Target],
    episodes: Iterable[Episode],
    folder: Path,
    services: int = 5,
    benchmarks: Sequence[Benchmark] = (),
) -> list[Path]:
    """One SVG per KPI that has a value in the plotted window; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    shaded: dict[tuple[str, Scope], list[Episode]] = {}
    for e in episodes:
        if e.window == store.window:
            shaded.setdefault((e.kpi, e.scope), []).append(e)
    written = []
    for kpi in kpis:
        scopes = store.scopes(kpi.name, services)
        if not scopes or next(_values(store, kpi.name), None) is None:
            continue  # e.g. survey KPIs of a history without surveys: empty panels only
        scale, unit = _time_scale(store, kpi) if kpi.unit == "seconds" else (1.0, kpi.unit)
        panels = []
        for scope in scopes:
            panel = _panel(store, kpi, scope, targets, shaded.get((kpi.name, scope), []), scale)
            _benchmark_lines(panel, kpi, benchmarks, scale)
            panels.append(panel)
        title = f"{kpi.name} ({kpi.kpi_class.value} measure, {unit}), {store.window}"
        path = folder / f"{kpi.name}.svg"
        Chart(title, panels, columns=_COLUMNS, shared_x=True).save(path)
        written.append(path)
    return written


def _benchmark_lines(
    panel: Panel, kpi: KpiDefinition, benchmarks: Sequence[Benchmark], scale: float
) -> None:
    """A published benchmark of the KPI as a labelled reference line (never an objective)."""
    for b in benchmarks:
        if b.kpi == kpi.name:
            label = f"benchmark {b.value / scale:g} ({b.source}, {b.year}; {b.peer_group})"
            panel.rule(b.value / scale, label[:90], color=PALETTE[2], dash=DOTTED, width=1.2)


def _values(store: SeriesStore, kpi: str) -> Iterator[float]:
    """Every plotted value of the KPI (windows with an empty sample have none)."""
    for (k, _), by_stat in store.series.items():
        if k == kpi:
            for series in by_stat.values():
                yield from (v for v in series.values if not math.isnan(v))


def _time_scale(store: SeriesStore, kpi: KpiDefinition) -> tuple[float, str]:
    """Times in the unit that suits their size: tick labels like 2.5e7 seconds are unreadable."""
    largest = max(_values(store, kpi.name), default=0.0)
    for seconds, unit in ((86400.0, "days"), (3600.0, "hours"), (60.0, "minutes")):
        if largest >= 3 * seconds:
            return seconds, unit
    return 1.0, "seconds"


def _gapped(ends: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The series with a NaN wherever windows are missing (no event in the scope), so the line
    breaks there instead of bridging weeks without data."""
    x, y = np.asarray(ends, dtype=float), np.asarray(values, dtype=float)
    if len(x) < 2:
        return x, y
    gaps = np.diff(x)
    missing = np.flatnonzero(gaps > gaps.min()) + 1
    return np.insert(x, missing, x[missing - 1] + gaps.min()), np.insert(y, missing, np.nan)


def _panel(
    store: SeriesStore,
    kpi: KpiDefinition,
    scope: Scope,
    targets: Sequence[Target],
    episodes: list[Episode],
    scale: float = 1.0,
) -> Panel:
    panel = Panel("organisation" if scope.breakdown == "all" else f"service {scope.service}")
    for stat, series in sorted(store.series[(kpi.name, scope)].items()):
        ends, values = _gapped(series.ends, series.values)
        panel.line(ends, values / scale, stat)
    for t in targets:
        if t.kpi == kpi.name and t.window == store.window and ScopeFilter(t.scope, t.id)(scope):
            value = t.objective.value / scale
            panel.rule(value, f"target {t.id} ({t.stat} {t.objective.op} {value:g})", BLACK)
    for e in episodes:
        end = e.resolved_at if e.resolved_at is not None else store.last_end
        fired = e.firing_at if e.firing_at is not None else end
        panel.span(e.pending_at, fired, _PENDING, 0.2)
        if e.firing_at is not None or e.state is AlertState.FIRING:
            panel.span(fired, end, _FIRING, 0.25)
    return panel
