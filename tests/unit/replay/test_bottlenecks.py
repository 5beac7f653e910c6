"""The where-the-time-goes board of the replay summary."""

from __future__ import annotations

from pipeline.core.results import WindowResult
from pipeline.core.scopes import Scope
from pipeline.core.windows import WindowSpec
from pipeline.replay.bottlenecks import Bottlenecks
from pipeline.replay.run import bottleneck_window
from tests.unit.core.factories import context

HOUR = 3600.0


def result(status: str, mean: float, n: int, service: str | None, start: int = 0,
           window: str = "30d", stat: str = "mean") -> WindowResult:  # fmt: skip
    scope = Scope("all") if service is None else Scope("service", service=service)
    return WindowResult(
        window=window,
        start=start,
        end=start + 720 * 3600,
        scope=scope,
        kpi=f"time_in_status_{status}",
        kpi_version=1,
        kpi_class="process",
        unit="seconds",
        stat=stat,
        value=mean,
        sample_size=n,
    )


def test_status_time_is_summed_over_windows_and_ranked_per_service() -> None:
    board = Bottlenecks("30d")
    board.add(
        [
            result("in_progress", 2 * HOUR, 3, "network"),  # 6 h
            result("in_progress", 1 * HOUR, 3, "network", start=720 * 3600),  # 3 h
            result("awaiting_customer", 30 * HOUR, 1, "network"),  # 30 h
            result("queued", 1 * HOUR, 1, "email"),
            result("queued", 1 * HOUR, 1, None),
            result("queued", 99 * HOUR, 9, "network", window="1h"),  # another window: ignored
            result("queued", 99 * HOUR, 9, "network", stat="p90"),  # not a mean: ignored
        ]
    )
    lines = board.lines()
    assert lines[0] == "## Where resolution time goes (30d windows summed over the range)"
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| service")]
    assert rows[0].startswith("| (all services) | 60 min | 1 |")
    # network (39 h) before email (1 h); awaiting_customer first: 30 of 39 h.
    assert rows[1] == (
        "| network | 39.0 h | 7 | awaiting_customer 77% (30.0 h), in_progress 23% (90 min) |"
    )
    assert rows[2].startswith("| email | 60 min | 1 | queued 100%")


def test_no_board_without_status_moves_or_without_a_tumbling_window() -> None:
    assert Bottlenecks("30d").lines() == []
    sliding = context()  # 1h/5m and 24h/1h: both slide
    assert bottleneck_window(sliding) is None
    tumbling = context(windows=(WindowSpec("1h", 3600, 300), WindowSpec("1d", 86400, 86400)))
    assert bottleneck_window(tumbling) == "1d"
