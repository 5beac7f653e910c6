"""The improvements section of a replay report: per improvement, a table of verdicts in
``summary.md``, a before/after plot (window values, each period's level, and the band where the
after level lies by the effect's confidence interval), and every verdict in
``improvements.csv``.

Only the windows the register needs are kept (see ``pipeline.improvements.keeper``).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

from pipeline.core.kpis import catalogue
from pipeline.core.results import WindowResult, iso
from pipeline.improvements import (
    OVERALL_TEXT,
    Evaluation,
    Register,
    WindowValue,
    window_series,
)
from pipeline.improvements.format import effect_text
from pipeline.improvements.keeper import WindowKeeper
from pipeline.replay.charts import BLACK, GREY, PALETTE, Chart, Panel

__all__ = ["IMPROVEMENT_COLUMNS", "ImprovementsSection"]

IMPROVEMENT_COLUMNS = [
    "improvement",
    "scope",
    "implemented",
    "kpi",
    "stat",
    "kpi_class",
    "role",
    "direction",
    "method",
    "before",
    "after",
    "effect",
    "ci_low",
    "ci_high",
    "confidence",
    "before_n",
    "after_n",
    "after_windows",
    "after_windows_total",
    "verdict",
    "overall",
    "note",
]
_UNITS = {d.name: d.unit for d in catalogue()}


class ImprovementsSection:
    def __init__(self, register: Register) -> None:
        self.register = register
        self.keeper = WindowKeeper(register)

    @property
    def watched(self) -> frozenset[tuple[str, str, str]]:
        """The (kpi, stat, window) triples the register evaluates: other results are ignored."""
        return self.keeper.watched

    def add(self, results: Iterable[WindowResult]) -> None:
        self.keeper.add(results)

    def write(self, folder: Path) -> tuple[list[Evaluation], list[str]]:
        """Evaluate, write ``improvements.csv`` and the plots; the summary's lines."""
        evaluations = self.keeper.evaluate()
        rows = self.keeper.rows
        plots = folder / "plots"
        plots.mkdir(parents=True, exist_ok=True)
        with (folder / "improvements.csv").open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(IMPROVEMENT_COLUMNS)
            for e in evaluations:
                out.writerows(_csv_rows(e))
        lines = [
            "",
            f"## Improvements ({len(evaluations)})",
            "",
            f"From `{self.register.source}`; every verdict in "
            "[improvements.csv](improvements.csv). Before and after periods of equal length; "
            "rates from their exact numerators and denominators (Newcombe interval), other "
            "KPIs from one value per window (Welch interval). See docs/improvements.md.",
        ]
        for e in evaluations:
            plot = _plot(e, rows, plots / f"improvement-{e.improvement.id}.svg")
            lines += _section(e, plot.relative_to(folder).as_posix() if plot else None)
        return evaluations, lines


def _csv_rows(e: Evaluation) -> Iterable[list[object]]:
    i = e.improvement
    for v in e.kpis:
        c = v.comparison
        yield [
            i.id,
            i.scope_text(),
            iso(i.implemented),
            v.check.kpi,
            v.check.stat,
            v.check.kpi_class,
            v.check.role.value,
            v.check.direction.value,
            v.method,
            "" if c is None else repr(c.before),
            "" if c is None else repr(c.after),
            "" if c is None else repr(c.effect),
            "" if c is None else repr(c.low),
            "" if c is None else repr(c.high),
            f"{v.confidence:.6g}",
            v.before_n,
            v.after_n,
            v.after_windows,
            v.after_windows_total,
            v.verdict.value,
            e.overall.value,
            v.note,
        ]


def _section(e: Evaluation, plot: str | None) -> list[str]:
    i = e.improvement
    b0, b1 = i.before
    a0, a1 = i.after
    lines = [
        "",
        f"### {i.id}: {OVERALL_TEXT[e.overall]}",
        "",
        f"{i.title} (owner {i.owner}; scope {i.scope_text()}; implemented "
        f"{iso(i.implemented)}). Before {iso(b0)} to {iso(b1)}, after {iso(a0)} to "
        f"{iso(a1)}, {i.window} windows, {i.confidence:.0%} intervals (guards: "
        f"{i.confidence:.0%} shared between them).",
        "",
        "| KPI | class | role | better | before | after | effect [interval] | n before / after "
        "| verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in e.kpis:
        before, after, effect = effect_text(v)
        verdict = v.verdict.value.replace("_", " ") + (f" ({v.note})" if v.note else "")
        lines.append(
            f"| {v.check.label} | {v.check.kpi_class} | {v.check.role.value} | "
            f"{v.check.direction.value} | {before} | {after} | {effect} | "
            f"{v.before_n} / {v.after_n} | {verdict} |"
        )
    if plot:
        lines += ["", f"![{i.id}]({plot})"]
    return lines


def _plot(e: Evaluation, rows: list[WindowValue], path: Path) -> Path | None:
    """One panel per expected KPI and guard that has values."""
    i = e.improvement
    panels = [(v, window_series(i, v.check, rows)) for v in e.kpis]
    panels = [(v, s) for v, s in panels if any(value is not None for _, _, value, _ in s)]
    if not panels:
        return None
    drawn = []
    for v, series in panels:
        scale = _scale(v.check.kpi, [value for _, _, value, _ in series if value is not None])
        panel = Panel(
            f"{v.check.label} ({v.check.role.value}, {scale[1]}): "
            f"{v.verdict.value.replace('_', ' ')}"
        )
        if i.settling_seconds:
            panel.span(i.implemented, i.after[0], GREY, 0.15)
        panel.points(
            [(s + t) / 2 for s, t, _, _ in series],
            [math.nan if x is None else x / scale[0] for _, _, x, _ in series],
            f"{i.window} windows",
            GREY,
        )
        c = v.comparison
        if c is not None:
            blue, green = PALETTE[0], PALETTE[2]
            panel.rule(c.before / scale[0], "before", blue, None, between=i.before, width=1.5)
            panel.rule(c.after / scale[0], "after", green, None, between=i.after, width=1.5)
            low, high = (c.before + c.low) / scale[0], (c.before + c.high) / scale[0]
            panel.band(*i.after, low, high, green, 0.2, f"{v.confidence:.1%} interval")
        panel.vertical(i.implemented, BLACK)
        drawn.append(panel)
    columns = 2 if len(drawn) > 1 else 1
    size = (480.0, 224.0) if columns == 2 else (560.0, 224.0)
    Chart(f"{i.id}: {OVERALL_TEXT[e.overall]}", drawn, columns, size).save(path)
    return path


def _scale(kpi: str, values: list[float]) -> tuple[float, str]:
    unit = _UNITS.get(kpi, "")
    if unit != "seconds":
        return 1.0, unit
    largest = max(values, default=0.0)
    for seconds, name in ((86400.0, "days"), (3600.0, "hours"), (60.0, "minutes")):
        if largest >= 3 * seconds:
            return seconds, name
    return 1.0, "seconds"
