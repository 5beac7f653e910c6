"""The replay's forecast section: each warning paired with the breach that followed, or not."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from pipeline.alerts.model import (
    AlertEvent,
    AlertKind,
    AlertState,
    Forecast,
    Objective,
    TargetSet,
)
from pipeline.core.context import CoreContext
from pipeline.core.scopes import Scope
from pipeline.core.windows import WindowSpec
from pipeline.replay.episodes import EpisodeLog
from pipeline.replay.forecasts import FORECAST_COLUMNS, Outcome, pair_forecasts
from pipeline.replay.report import ReportWriter
from pipeline.replay.summary import ReplayFacts
from tests.forecast_sim import DESK_TARGETS, DriftDesk, run_desk
from tests.unit.alerts import HOUR, T0, scope, target

FCR = target(id="fcr", objective=Objective(">=", 0.70))
OTHER = target(id="other", objective=Objective(">=", 0.60))
FORECAST = Forecast(id="forecast:fcr", target=FCR, horizon_seconds=12 * HOUR)
TARGETS = TargetSet("targets/v1", targets=(FCR, OTHER), forecasts=(FORECAST,), source="t.yaml")
END = T0 + 95 * HOUR
BILLING, NETWORK = scope("billing"), scope("network")


def episode(
    kind: AlertKind, rule: str, where: Scope, hours: tuple[float, ...], name: str
) -> list[AlertEvent]:
    """The events of one episode: pending, then firing and resolved at the hours given."""
    states = (AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED)
    start = T0 + int(hours[0] * HOUR)
    return [
        AlertEvent(
            episode_id=name,
            kind=kind,
            rule_id=rule,
            state=state,
            at=T0 + int(h * HOUR),
            started_at=start,
            kpi="fcr_rate",
            stat="value",
            window="24h",
            labels=where.labels(),
            objective=FCR.objective,
            severity="warning",
        )
        for state, h in zip(states, hours, strict=False)
    ]


def events() -> list[AlertEvent]:
    f, t = AlertKind.FORECAST, AlertKind.TARGET
    return [
        # Warned at 1h, breach from 5h, firing at 6h: 5 hours of lead.
        *episode(f, "forecast:fcr", BILLING, (0, 1, 5), "a"),
        *episode(t, "fcr", BILLING, (5, 6, 9), "x"),
        # Warned at 21h, over at 23h; the next breach begins at 40h, past 23h + 12h: a false
        # warning, and a breach nobody warned of.
        *episode(f, "forecast:fcr", BILLING, (20, 21, 23), "b"),
        *episode(t, "fcr", BILLING, (40, 41, 45), "y"),
        # Pending only: never a warning anyone saw.
        *(
            e
            for e in episode(f, "forecast:fcr", BILLING, (50, 51, 51), "c")
            if e.state is not AlertState.FIRING
        ),
        # Still firing at the end of the replay: too early to tell.
        *episode(f, "forecast:fcr", BILLING, (89, 90), "d"),
        *episode(f, "forecast:fcr", NETWORK, (9, 10, 11), "e"),
        # Another target's breach is not the forecast's business.
        *episode(t, "other", NETWORK, (12, 13, 14), "z"),
    ]


def test_each_warning_is_paired_with_the_breach_that_followed_or_called_false() -> None:
    log = EpisodeLog(TARGETS)
    log.add([], events())
    rows = pair_forecasts(TARGETS.forecasts, log.episodes.values(), END)
    got = [
        (
            r.scope.service,
            r.outcome,
            r.warning.episode_id if r.warning else None,
            r.breach.episode_id if r.breach else None,
            r.lead_seconds,
        )
        for r in rows
    ]
    assert got == [
        ("billing", Outcome.BREACH, "a", "x", 5 * HOUR),
        ("billing", Outcome.FALSE, "b", None, None),
        ("billing", Outcome.MISSED, None, "y", None),
        ("billing", Outcome.UNDECIDED, "d", None, None),
        ("network", Outcome.FALSE, "e", None, None),
    ]
    # Once the horizon of the open warning has run out, it was a false one.
    later = pair_forecasts(TARGETS.forecasts, log.episodes.values(), END + 13 * HOUR)
    assert [r.outcome for r in later][3] is Outcome.UNDECIDED  # still open: no end to count from
    log.add([], episode(AlertKind.FORECAST, "forecast:fcr", BILLING, (89, 90, 92), "d")[2:])
    closed = pair_forecasts(TARGETS.forecasts, log.episodes.values(), END + 13 * HOUR)
    assert [r.outcome for r in closed][3] is Outcome.FALSE


def test_the_report_writes_forecasts_csv_and_a_summary_section(tmp_path: Path) -> None:
    ctx = CoreContext(windows=(WindowSpec("24h", 86400, 3600),))
    writer = ReportWriter(tmp_path, ctx.kpis, TARGETS, plot_window="24h")
    writer.add([], events())
    facts = ReplayFacts(
        start=T0,
        end=END,
        records=0,
        received=Counter(),
        rejected=Counter(),
        windows=0,
        rows=0,
        elapsed=1.0,
        targets_source="t.yaml",
    )
    summary = writer.close(facts).read_text(encoding="utf-8")
    with (tmp_path / "forecasts.csv").open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == FORECAST_COLUMNS
        table = list(reader)
    assert [(r["service"], r["outcome"], r["lead_hours"]) for r in table] == [
        ("billing", "breach", "5.00"),
        ("billing", "false_warning", ""),
        ("billing", "missed_breach", ""),
        ("billing", "undecided", ""),
        ("network", "false_warning", ""),
    ]
    assert table[0]["warned_at"] == "2026-01-01T01:00:00Z"
    assert table[0]["breach_at"] == "2026-01-01T06:00:00Z"
    assert "## Forecasts against the breaches that followed" in summary
    section = summary.split("## Forecasts against")[1]
    assert "| forecast:fcr | service=billing | 3 | 1 | 1 | 1 | 1 | 5.0 | 5.0 | 5.0 |" in section
    assert "| forecast:fcr | service=network | 1 | 0 | 1 | 0 | 0 | - | - | - |" in section
    assert "| all |  | 4 | 1 | 2 | 1 | 1 | 5.0 | 5.0 | 5.0 |" in section


def test_no_section_without_forecasts(tmp_path: Path) -> None:
    ctx = CoreContext(windows=(WindowSpec("24h", 86400, 3600),))
    plain = TargetSet("targets/v1", targets=(FCR,), source="t.yaml")
    writer = ReportWriter(tmp_path, ctx.kpis, plain, plot_window="24h")
    writer.add([], events()[3:6])
    facts = ReplayFacts(T0, END, 0, Counter(), Counter(), 0, 0, 1.0, "t.yaml")
    assert "Forecasts" not in writer.close(facts).read_text(encoding="utf-8")
    assert not (tmp_path / "forecasts.csv").exists()


@pytest.mark.parametrize("end_hours", [95])
def test_a_breach_without_any_warning_is_missed(end_hours: int) -> None:
    log = EpisodeLog(TARGETS)
    log.add([], episode(AlertKind.TARGET, "fcr", BILLING, (5, 6), "x"))
    (row,) = pair_forecasts(TARGETS.forecasts, log.episodes.values(), T0 + end_hours * HOUR)
    assert row.outcome is Outcome.MISSED and row.lead_seconds is None


def test_a_drifting_desk_replayed_in_process(tmp_path: Path) -> None:
    # A desk whose FCR slides below its target (tests/forecast_sim.py), its closed windows and
    # alert events written as a replay writes them.
    run = run_desk(DriftDesk(), seed=0)
    ctx = CoreContext(windows=(WindowSpec("24h", 86400, 3600),))
    writer = ReportWriter(tmp_path, ctx.kpis, DESK_TARGETS, plot_window="24h")
    writer.add(run.results, run.events)
    first = min(r.start for r in run.results)
    facts = ReplayFacts(first, run.end, 0, Counter(), Counter(), 0, 0, 1.0, "desk.yaml")
    summary = writer.close(facts).read_text(encoding="utf-8")
    with (tmp_path / "forecasts.csv").open(newline="", encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    breaches = [r for r in table if r["breach_episode_id"]]
    assert breaches, table
    # The first breach of the history was warned of, hours before the target's alert.
    assert breaches[0]["outcome"] == "breach" and float(breaches[0]["lead_hours"]) > 1
    assert breaches[0]["warned_at"] < breaches[0]["breach_at"]
    with (tmp_path / "alerts.csv").open(newline="", encoding="utf-8") as f:
        alerts = {r["episode_id"]: r for r in csv.DictReader(f)}
    assert alerts[breaches[0]["breach_episode_id"]]["firing_at"] == breaches[0]["breach_at"]
    assert alerts[breaches[0]["forecast_episode_id"]]["kind"] == "forecast"
    assert "| forecast:fcr | all |" in summary
