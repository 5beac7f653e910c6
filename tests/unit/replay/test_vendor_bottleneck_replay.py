"""End to end in one process: a simulated desk whose network service waits on vendors misses a
resolution-time target, and the replay summary names the vendor wait as what contributes most."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.alerts.engine import AlertEngine
from pipeline.alerts.model import Objective, ScopeMatch, TargetSet
from pipeline.core.context import CoreContext
from pipeline.core.windows import WindowSpec
from pipeline.replay.report import ReportWriter
from pipeline.replay.summary import ReplayFacts
from pipeline.simulate import SimConfig
from tests.unit.alerts import target
from tests.unit.replay import engine_frames

WEEK = 7 * 86400
# One tumbling week, aligned as windows are (to the epoch).
START = datetime.fromtimestamp(datetime(2026, 3, 2, tzinfo=UTC).timestamp() // WEEK * WEEK, UTC)
P90 = target(
    id="resolution-p90",
    kpi="resolution_time",
    stat="p90",
    window="1w",
    scope=ScopeMatch("service", service="*"),
    objective=Objective("<=", 75 * 3600.0),
    min_sample=300,
)


def summary(folder: Path) -> str:
    ctx = CoreContext(windows=(WindowSpec("1w", WEEK, WEEK),), breakdowns=("all", "service"))
    # A desk running for a week already: the week's resolutions are the steady state, not
    # only the quick ones of tickets created in it.
    config = SimConfig(
        seed=8, start=START, duration=timedelta(days=8), tickets_per_hour=15,
        warm_start=timedelta(days=7), statuses=True,
    )  # fmt: skip
    frames = engine_frames(ctx, config)
    targets = TargetSet("targets/v1", (P90,))
    alerts = AlertEngine(targets)
    writer = ReportWriter(folder, ctx.kpis, targets, "1w", bottleneck_window="1w")
    targeted = [r for f in frames for r in f.results(alerts.watched)]
    writer.add_frames(frames, alerts.observe(targeted), targeted)
    facts = ReplayFacts(0.0, 1.0, 1, Counter(), Counter(), 1, writer.rows, 1.0, "t")
    return writer.close(facts).read_text(encoding="utf-8")


def test_the_vendor_wait_of_network_is_named_for_its_missed_resolution_target(
    tmp_path: Path,
) -> None:
    text = summary(tmp_path)
    section = text.split("## Which status contributes most to missed resolution and SLA targets")
    assert len(section) == 2, text
    items = re.findall(r"^- `resolution-p90`: .*$", section[1], re.MULTILINE)
    # network misses (the other services meet the target) and its vendor wait is why.
    assert len(items) == 1, section[1]
    first = re.match(
        r"- `resolution-p90`: resolution_time p90 on service=(\w+): (.+) against <= 3.1 d "
        r"\(gap ([\d.]+) h\); (\w+) takes ([\d.]+) h per resolved ticket \((\d+)%\), "
        r"([\d.]+) h more than across the desk — the largest contributor\.$",
        items[0],
    )
    assert first is not None, items[0]
    service, _, gap, status, per_ticket, share, excess = first.groups()
    assert (service, status) == ("network", "awaiting_vendor"), items[0]
    assert float(gap) > 0
    assert float(per_ticket) > float(excess) > 2 and 10 <= int(share) <= 40
