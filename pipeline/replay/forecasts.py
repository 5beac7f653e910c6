"""How the forecasts of a replay did: ``forecasts.csv`` and a section of ``summary.md``.

A forecast *warned* when its episode fired (pending only is not a warning anyone saw). Per
forecast rule and scope, each warning is paired with the breach that followed: the first episode
of the forecast's target in the same scope that fired and began (went pending) between the
warning and ``horizon`` after the forecast episode ended (a forecast resolves as its target goes
to the wrong side, so the breach begins about when it ends). The lead time is from the warning
to the breach alert firing. A warning without such a breach is a false warning; one whose horizon
reaches past the end of the replay is undecided. Breaches of the target that no warning came
before are counted too: the ones the forecast missed.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pipeline.alerts.model import AlertKind, Forecast
from pipeline.core.results import iso
from pipeline.core.scopes import DIMENSIONS, Scope
from pipeline.replay.episodes import Episode

__all__ = [
    "FORECAST_COLUMNS",
    "ForecastRow",
    "Outcome",
    "forecast_lines",
    "pair_forecasts",
    "write_forecasts",
]

FORECAST_COLUMNS = [
    "forecast",
    "target",
    "breakdown",
    *DIMENSIONS,
    "outcome",
    "warned_at",
    "forecast_episode_id",
    "breach_at",
    "breach_episode_id",
    "lead_hours",
]


class Outcome(StrEnum):
    BREACH = "breach"  # a breach of the target followed within the horizon
    FALSE = "false_warning"  # none did
    UNDECIDED = "undecided"  # the replay ended before the horizon ran out
    MISSED = "missed_breach"  # a breach no warning came before


@dataclass(frozen=True)
class ForecastRow:
    forecast: str
    target: str
    scope: Scope
    outcome: Outcome
    warning: Episode | None  # the forecast episode (None for a missed breach)
    breach: Episode | None  # the target episode that fired (None for a false warning)

    @property
    def lead_seconds(self) -> float | None:
        if self.warning is None or self.breach is None:
            return None
        assert self.warning.firing_at is not None and self.breach.firing_at is not None
        return self.breach.firing_at - self.warning.firing_at


def pair_forecasts(
    forecasts: Sequence[Forecast], episodes: Iterable[Episode], end: float
) -> list[ForecastRow]:
    """Every forecast warning with its outcome, and every breach no warning came before, per
    forecast and scope in time order. ``end``: the end of the replayed event time."""
    fired = sorted(
        (e for e in episodes if e.firing_at is not None), key=lambda e: (e.firing_at, e.episode_id)
    )
    rows: list[ForecastRow] = []
    for f in forecasts:
        warnings = [e for e in fired if e.kind is AlertKind.FORECAST and e.rule == f.id]
        breaches = [e for e in fired if e.kind is AlertKind.TARGET and e.rule == f.target.id]
        for scope in sorted({e.scope for e in warnings + breaches}, key=Scope.encode):
            rows += _pair_scope(
                f,
                scope,
                [w for w in warnings if w.scope == scope],
                [b for b in breaches if b.scope == scope],
                end,
            )
    return rows


def _pair_scope(
    f: Forecast, scope: Scope, warnings: list[Episode], breaches: list[Episode], end: float
) -> list[ForecastRow]:
    rows: list[ForecastRow] = []
    warned: set[str] = set()
    for w in warnings:
        assert w.firing_at is not None
        until = (w.resolved_at if w.resolved_at is not None else end) + f.horizon_seconds
        breach = next((b for b in breaches if w.firing_at <= b.pending_at <= until), None)
        if breach is not None:
            warned.add(breach.episode_id)
            outcome = Outcome.BREACH
        else:
            outcome = Outcome.UNDECIDED if w.resolved_at is None or until > end else Outcome.FALSE
        rows.append(ForecastRow(f.id, f.target.id, scope, outcome, w, breach))
    rows += [
        ForecastRow(f.id, f.target.id, scope, Outcome.MISSED, None, b)
        for b in breaches
        if b.episode_id not in warned
    ]
    return sorted(rows, key=_row_time)


def _row_time(row: ForecastRow) -> float:
    episode = row.warning or row.breach
    assert episode is not None and episode.firing_at is not None
    return episode.firing_at


def write_forecasts(path: Path, rows: Sequence[ForecastRow]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(FORECAST_COLUMNS)
        for row in rows:
            labels = row.scope.labels()
            w, b, lead = row.warning, row.breach, row.lead_seconds
            out.writerow(
                [
                    row.forecast,
                    row.target,
                    labels["breakdown"],
                    *(labels[d] for d in DIMENSIONS),
                    row.outcome.value,
                    iso(w.firing_at) if w is not None and w.firing_at is not None else "",
                    w.episode_id if w is not None else "",
                    iso(b.firing_at) if b is not None and b.firing_at is not None else "",
                    b.episode_id if b is not None else "",
                    "" if lead is None else f"{lead / 3600:.2f}",
                ]
            )


def forecast_lines(forecasts: Sequence[Forecast], rows: Sequence[ForecastRow]) -> list[str]:
    """The summary's section: per forecast and scope, its warnings and how they turned out."""
    if not forecasts:
        return []
    lines = [
        "",
        "## Forecasts against the breaches that followed",
        "",
        "A warning is a forecast episode that fired; it is followed by a breach when its target "
        "fired in the same scope, beginning within the forecast's horizon of the warning's end "
        "(lead: from the warning to the breach alert). Every pairing: "
        "[forecasts.csv](forecasts.csv).",
        "",
        "| forecast | scope | warnings | followed by a breach | false | undecided "
        "| breaches missed | lead time (h): median | min | max |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[ForecastRow]] = {}
    for row in rows:
        groups.setdefault((row.forecast, row.scope.encode()), []).append(row)
    for (forecast, _), group in groups.items():
        lines.append(_group_line(forecast, _scope_text(group[0].scope), group))
    lines.append(_group_line("all", "", list(rows)))
    if not rows:
        lines += ["", "No forecast warned and no forecast's target fired."]
    return lines


def _group_line(forecast: str, scope: str, rows: Sequence[ForecastRow]) -> str:
    count = {o: sum(r.outcome is o for r in rows) for o in Outcome}
    leads = [r.lead_seconds / 3600 for r in rows if r.lead_seconds is not None]
    warnings = count[Outcome.BREACH] + count[Outcome.FALSE] + count[Outcome.UNDECIDED]
    spread = (
        f"{statistics.median(leads):.1f} | {min(leads):.1f} | {max(leads):.1f}"
        if leads
        else "- | - | -"
    )
    return (
        f"| {forecast} | {scope} | {warnings} | {count[Outcome.BREACH]} | {count[Outcome.FALSE]} "
        f"| {count[Outcome.UNDECIDED]} | {count[Outcome.MISSED]} | {spread} |"
    )


def _scope_text(scope: Scope) -> str:
    labels = scope.labels()
    parts = [f"{d}={labels[d]}" for d in DIMENSIONS if labels[d]]
    return ", ".join(parts) or labels["breakdown"]
