"""The report's SVG charts: well-formed, axes that fit the data, lines that break at gaps."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import pytest

from pipeline.replay.charts import Chart, Panel, _time_ticks, _value_ticks, _x_range

SVG = "{http://www.w3.org/2000/svg}"
DAY = 86_400.0


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def parsed(chart: Chart, tmp_path: Path) -> ElementTree.Element:
    path = tmp_path / "chart.svg"
    chart.save(path)
    return ElementTree.parse(path).getroot()


def test_one_point_in_time_gets_a_day_around_it() -> None:
    t = at(2026, 1, 5, 12)
    low, high = _x_range([(t, t)])
    assert (low, high) == (t - DAY / 2, t + DAY / 2)
    ticks, corner = _time_ticks(low, high)
    assert 2 <= len(ticks) <= 7 and all(low <= x <= high for x, _ in ticks)
    assert corner == "2026-01-05"  # hours on the axis, the day in its corner


def test_a_range_keeps_its_own_limits_with_a_small_margin() -> None:
    first, last = at(2026, 1, 5), at(2026, 1, 25)
    low, high = _x_range([(first, last)])
    assert low < first and high > last and (high - low) < 21 * DAY


@pytest.mark.parametrize(
    ("start", "end", "labels"),
    [
        ((2026, 1, 5, 9), (2026, 1, 5, 15), [f"{h:02d}:00" for h in range(9, 16)]),
        ((2026, 1, 5), (2026, 1, 25), ["Jan 05", "Jan 12", "Jan 19"]),  # weeks start on Mondays
        ((2016, 2, 29), (2017, 2, 23), ["Mar 2016", "May", "Jul", "Sep", "Nov", "Jan 2017"]),
    ],
)
def test_time_ticks_fall_on_round_times_with_short_labels(
    start: tuple[int, ...], end: tuple[int, ...], labels: list[str]
) -> None:
    ticks, _ = _time_ticks(at(*start), at(*end))
    assert [label for _, label in ticks] == labels


def test_value_ticks_are_round_and_cover_the_range() -> None:
    assert _value_ticks(0.0, 1.0) == [
        (0.0, "0"),
        (0.2, "0.2"),
        (0.4, "0.4"),
        (0.6000000000000001, "0.6"),
        (0.8, "0.8"),
        (1.0, "1.0"),
    ]
    values = [v for v, _ in _value_ticks(-13.0, 1234.0)]
    assert values == [0.0, 250.0, 500.0, 750.0, 1000.0]
    assert [label for _, label in _value_ticks(2000.0, 9000.0)] == [
        "2,000", "4,000", "6,000", "8,000"
    ]  # fmt: skip


def test_a_line_breaks_at_nan_and_a_point_alone_is_marked(tmp_path: Path) -> None:
    panel = Panel("service email")
    xs = [at(2026, 1, 5, h) for h in range(6)]
    panel.line(xs, [1.0, 2.0, math.nan, 3.0, math.nan, 4.0], "value", markers=False)
    svg = parsed(Chart("fcr_rate", [panel]), tmp_path)
    (segment,) = svg.iter(f"{SVG}polyline")  # the first two windows; 3.0 and 4.0 stand alone
    assert len(segment.get("points", "").split()) == 2
    assert len(list(svg.iter(f"{SVG}circle"))) == 2


def test_panels_legends_and_shading_are_drawn(tmp_path: Path) -> None:
    org, email = Panel("organisation"), Panel("service <email> & co")
    t0 = at(2026, 1, 5)
    for panel in (org, email):
        panel.line([t0, t0 + 3600, t0 + 7200], [0.5, 0.7, 0.6], "value")
    email.rule(0.7, "target fcr (value >= 0.7)")
    email.span(t0 + 3600, t0 + 7200, "#ff0000", 0.25)
    email.band(t0, t0 + 3600, 0.55, 0.65, "#2ca02c", 0.2, "95.0% interval")
    svg = parsed(
        Chart("fcr_rate (value measure, ratio), 1h", [org, email], shared_x=True), tmp_path
    )
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts[0] == "fcr_rate (value measure, ratio), 1h"
    assert {"organisation", "service <email> & co", "target fcr (value >= 0.7)"} <= set(texts)
    assert "95.0% interval" in texts and texts.count("value") == 2
    assert len(list(svg.iter(f"{SVG}clipPath"))) == 2
    assert any(r.get("fill") == "#ff0000" for r in svg.iter(f"{SVG}rect"))
    assert float(svg.get("width", "0")) == 960  # two panels side by side


def test_an_empty_panel_still_draws() -> None:
    assert Chart("nothing", [Panel("organisation")]).svg().startswith("<svg")
