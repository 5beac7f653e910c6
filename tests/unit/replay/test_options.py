"""Replay options: times, window selection, the plotted window."""

from __future__ import annotations

import click
import pytest

from pipeline.alerts.model import TargetSet
from pipeline.config import TimeSettings, WindowSetting
from pipeline.core.context import CoreContext
from pipeline.core.windows import WindowSpec
from pipeline.replay.cli import parse_time, select_windows
from pipeline.replay.run import default_plot_window
from tests.unit.alerts import target

CONFIGURED = TimeSettings().windows  # 1h every 5m, 24h every 1h


def test_times_without_an_offset_are_utc() -> None:
    assert parse_time("2016-03-01") == 1456790400.0
    assert parse_time("2016-03-01T02:00:00+02:00") == 1456790400.0
    assert parse_time("2016-03-01T00:00:00Z") == 1456790400.0
    with pytest.raises(click.BadParameter, match="not a date"):
        parse_time("March 1st")


def test_windows_are_picked_by_name_or_defined() -> None:
    assert select_windows(CONFIGURED, ()) == CONFIGURED
    assert select_windows(CONFIGURED, ("24h",)) == [CONFIGURED[1]]
    assert select_windows(CONFIGURED, ("24h,7d=7d/1d", "30d=30d")) == [
        CONFIGURED[1],
        WindowSetting(name="7d", size="7d", step="1d"),
        WindowSetting(name="30d", size="30d", step="30d"),  # tumbling
    ]
    with pytest.raises(click.BadParameter, match="no configured window '2h'"):
        select_windows(CONFIGURED, ("2h",))
    with pytest.raises(click.BadParameter, match="window 'x=soon'"):
        select_windows(CONFIGURED, ("x=soon",))


def test_plot_window_follows_the_targets_else_the_longest() -> None:
    ctx = CoreContext(windows=(WindowSpec("1h", 3600, 300), WindowSpec("24h", 86400, 3600)))
    assert default_plot_window(ctx, None) == "24h"
    targets = TargetSet(
        "targets/v1",
        (target(id="a", window="1h"), target(id="b", window="1h"), target(id="c", window="24h")),
    )
    assert default_plot_window(ctx, targets) == "1h"
