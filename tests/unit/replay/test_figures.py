"""The report's date axes."""

from __future__ import annotations

import warnings
from datetime import datetime

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from pipeline.replay.figures import date_axis, figure


def drawn(points: list[datetime]) -> tuple[float, float]:
    fig = figure(4, 3)
    ax = fig.subplots()
    if points:
        ax.plot(points, [1.0] * len(points))
    date_axis(ax, labelsize=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "unable to pick an interval" included
        FigureCanvasAgg(fig).draw()
    low, high = ax.get_xlim()
    return low, high


def test_one_point_in_time_gets_a_day_around_it_and_no_warning() -> None:
    low, high = drawn([datetime(2026, 1, 5, 12)])
    assert high - low == pytest.approx(1.0)  # days


def test_a_range_keeps_its_own_limits() -> None:
    low, high = drawn([datetime(2026, 1, 5), datetime(2026, 1, 25)])
    assert 20 <= high - low < 23  # the data's 20 days and matplotlib's margins


def test_an_empty_panel_is_left_alone() -> None:
    drawn([])
