"""Replay options: times, window selection, the plotted window."""

from __future__ import annotations

import asyncio
from typing import Any

import click
import pytest

from pipeline.alerts.model import TargetSet
from pipeline.config import TimeSettings, WindowSetting
from pipeline.core.context import CoreContext
from pipeline.core.windows import WindowSpec
from pipeline.replay.cli import missing_topic_message, parse_time, select_windows
from pipeline.replay.reader import MissingTopicError, plan_ranges
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


class _Consumer:
    """Metadata of a broker that holds only the topics an import with a prefix wrote."""

    def __init__(self, topics: dict[str, int]) -> None:
        self._topics = topics
        self._client = self

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        count = self._topics.get(topic)
        return set(range(count)) if count else None

    async def force_metadata_update(self) -> None:
        return None

    async def topics(self) -> set[str]:
        return set(self._topics)


def test_a_missing_topic_names_the_option_and_the_look_alikes() -> None:
    consumer = _Consumer({"uci-tickets": 2, "uci-surveys": 2, "demo-tickets": 1, "kpi-windows": 4})
    base = {"tickets": "tickets", "surveys": "surveys"}
    with pytest.raises(MissingTopicError) as caught:
        asyncio.run(plan_ranges(consumer, base, 0, 1, base))  # type: ignore[arg-type]
    assert caught.value.similar == ["demo-tickets", "uci-tickets"]
    message = missing_topic_message(caught.value, "")
    assert "'tickets' does not exist" in message
    assert "--topic-prefix 'demo-'" in message and "--topic-prefix 'uci-'" in message


def test_the_prefix_picks_the_imported_topics() -> None:
    consumer = _Consumer({"uci-tickets": 2, "uci-surveys": 1})
    base = {"tickets": "tickets", "surveys": "surveys"}
    prefixed = {source: f"uci-{name}" for source, name in base.items()}

    async def end_offsets(tps: list[Any]) -> dict[Any, int]:
        return {tp: 0 for tp in tps}

    async def offsets_for_times(query: dict[Any, int]) -> dict[Any, None]:
        return dict.fromkeys(query)

    consumer.end_offsets = end_offsets  # type: ignore[attr-defined]
    consumer.offsets_for_times = offsets_for_times  # type: ignore[attr-defined]
    ranges = asyncio.run(plan_ranges(consumer, prefixed, 0, 1, base))  # type: ignore[arg-type]
    assert sorted((r.topic, r.partition) for r in ranges) == [
        ("uci-surveys", 0),
        ("uci-tickets", 0),
        ("uci-tickets", 1),
    ]


def test_no_look_alike_says_what_to_do() -> None:
    message = missing_topic_message(MissingTopicError("x-tickets", "tickets", []), "x-")
    assert "nor any topic ending in 'tickets'" in message and "--topic-prefix" in message
