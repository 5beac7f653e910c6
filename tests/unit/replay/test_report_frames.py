"""The replay's columnar report path (``add_frames``) writes exactly what the result-by-result
path (``add``) writes: the same kpis.csv bytes, plots' series, target tallies and summary."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import Objective, ScopeMatch, TargetSet
from pipeline.core.context import CoreContext
from pipeline.core.windows import WindowSpec
from pipeline.engine.frames import WindowFrame, frame_results
from pipeline.replay.report import ReportWriter
from pipeline.replay.summary import ReplayFacts
from pipeline.simulate import SimConfig
from tests.unit.alerts import target
from tests.unit.replay import engine_frames

# Service names that need CSV quoting.
SERVICES = ("email", "net,work", 'pay"roll')


def closed_frames() -> tuple[CoreContext, list[WindowFrame]]:
    ctx = CoreContext(
        windows=(WindowSpec("1h", 3600, 900), WindowSpec("6h", 6 * 3600, 3600)),
        breakdowns=("all", "service", "service_team", "service_priority"),
    )
    config = SimConfig(
        seed=3,
        start=datetime(2026, 3, 2, 6, tzinfo=UTC),
        duration=timedelta(hours=14),
        tickets_per_hour=60,
        services=SERVICES,
        invalid_fraction=0.01,
    )
    frames = engine_frames(ctx, config)
    assert len(frames) > 40
    return ctx, frames


def write(folder: Path, ctx: CoreContext, frames: list[WindowFrame], columnar: bool) -> Path:
    targets = TargetSet(
        "targets/v1",
        (
            target(id="fcr", window="1h", scope=ScopeMatch("all"), objective=Objective(">=", 0.9)),
            target(
                id="p90",
                kpi="resolution_time",
                stat="p90",
                window="6h",
                scope=ScopeMatch("service", service="*"),
                objective=Objective("<=", 3600.0),
                min_sample=3,
                hold_seconds=3600,
            ),
        ),
    )
    writer = ReportWriter(folder, ctx.kpis, targets, plot_window="6h")
    engine = AlertEngine(targets)
    for i in range(0, len(frames), 7):  # batches of frames, as windows close
        batch = frames[i : i + 7]
        targeted = [r for f in batch for r in f.results(engine.watched)]
        events = engine.observe(targeted)
        if columnar:
            writer.add_frames(batch, events, targeted)
        else:
            writer.add(list(frame_results(batch)), events)
    facts = ReplayFacts(
        start=0.0,
        end=1.0,
        records=1,
        received=Counter(),
        rejected=Counter(),
        windows=len(writer.windows),
        rows=writer.rows,
        elapsed=1.0,
        targets_source="t.yaml",
    )
    writer.close(facts)
    return folder


def test_columnar_frames_write_the_same_report(tmp_path: Path) -> None:
    ctx, frames = closed_frames()
    by_result = write(tmp_path / "results", ctx, frames, columnar=False)
    by_frame = write(tmp_path / "frames", ctx, frames, columnar=True)
    csv_bytes = (by_frame / "kpis.csv").read_bytes()
    assert csv_bytes == (by_result / "kpis.csv").read_bytes()
    assert b'"net,work"' in csv_bytes and b'"pay""roll"' in csv_bytes
    assert (by_frame / "alerts.csv").read_bytes() == (by_result / "alerts.csv").read_bytes()
    assert (by_frame / "summary.md").read_text() == (by_result / "summary.md").read_text()
    plots = sorted(p.name for p in (by_frame / "plots").iterdir())
    assert plots == sorted(p.name for p in (by_result / "plots").iterdir())
    assert len(plots) >= 8
    # Targets breach on this desk: the episodes and tallies are compared, not just headers.
    assert len((by_frame / "alerts.csv").read_text().splitlines()) > 2
